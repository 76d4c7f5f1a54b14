"""Distance to the next level up: how many points are missing, and which single input could
close the gap with the smallest change, computed from the rules (never guessed).

:func:`next_level_advice` looks at a rated result and its record:

* the **next level** is the level just above the result's level (levels are highest first);
* the **points missing** are ``lower bound of its band - total`` (exact; 0 when the band is
  already reached and a level condition or a disqualifier blocks the level: ``blocked_by``
  then names them);
* each **suggestion** changes ONE input, all others unchanged, and is checked by evaluating the
  changed record again with :func:`kpi_rules.evaluator.evaluate_record`.

Which inputs are tried: every numeric input (``number``, ``percent``, ``points``) of the rated
subject declared ``increasing`` or ``decreasing`` in the rule file, and every such numeric field
of each item of a list input (e.g. ``completed``, ``failed_reviews`` and ``delays`` of each task
item). An input moves only in the direction its promise says helps, within its declared
``min``/``max``; an item's ``completed`` never goes above the item's ``assigned``.

Natural steps: a suggested value is a multiple of the input's step, ``0.25`` for ``points``
inputs and ``1`` for ``number`` (counts) and ``percent`` inputs, or the input's bound itself
when that is not on the grid. The smallest such value is found by exact bisection over that
grid (Fractions, no floats), relying on the monotonicity the rule file promises; the value found
is evaluated, so every suggestion given really reaches the next level (or a higher one). An input
that cannot reach it on its own, even at its bound, is left out. Suggestions are ranked by the
change relative to the input's range (its bounds; ``|from|``, at least one step, when unbounded).

Two inputs together (``combined``): when no single input reaches the level, or when two inputs
changed together move less (by the sum of their relative changes) than the best single change,
the smallest pairs are given too. For each pair the search walks the "staircase" of minimal
combinations (one input up a grid step, the other down as far as it still reaches), which needs
only as many evaluations as the two grids are long; each corner of it is minimal in both inputs
(one grid step less on either no longer reaches). Only inputs whose grid in the helpful
direction is bounded (at most ``MAX_GRID`` values) and whose change on its own moves the result
at all are paired; ``max_evaluations`` bounds the work (see docs/defaults.md).

A half-year or year (:func:`span_advice`): the same searches over the inputs of every period's
record, each change re-evaluating that period and combining the periods again
(:func:`kpi_rules.periods.combine_periods`); a suggestion names the period whose input to change.

Not covered (None): a result decided by an override (no input changes it), demoted by a cohort
quota (it depends on other people). Only numeric inputs are suggested: a disqualifier (a
disciplinary measure) is a fact, named in ``blocked_by``, never a suggestion.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

from kpi_rules import nodes
from kpi_rules.evaluator import EvaluationError, evaluate_record
from kpi_rules.fastpath import evaluate_fast, fast_plan_for
from kpi_rules.periods import combine_periods, parse_period
from kpi_rules.plan import Plan
from kpi_rules.results import RecordValue, Result, SubjectRecord, Value

if TYPE_CHECKING:
    from kpi_rules.models import Explanation
    from kpi_rules.province import ProvinceResult

__all__ = ["Blocker", "CombinedSuggestion", "NextLevelAdvice", "Suggestion", "next_level_advice", "span_advice",
           "step_of", "with_span_advice"]

#: The natural step of a suggested value, by input type.
STEPS: Mapping[str, Fraction] = {"points": Fraction(1, 4), "number": Fraction(1), "percent": Fraction(1)}
#: A list item field never goes above another field of the same item.
ITEM_CAPS: Mapping[str, str] = {"completed": "assigned"}
#: For an input without a bound in the helpful direction: the most doublings tried.
MAX_DOUBLINGS = 40
#: Inputs with more grid values than this in the helpful direction are not paired.
MAX_GRID = 400
#: Default bound on the evaluations spent on pairs of inputs, per advice (docs/defaults.md).
MAX_PAIR_EVALUATIONS = 1000


@dataclass(frozen=True, slots=True)
class Blocker:
    """What keeps the next level away besides points: an unmet condition or a fired disqualifier."""

    kind: Literal["condition", "disqualifier"]
    name: str
    label: nodes.Text | None


@dataclass(frozen=True, slots=True)
class Suggestion:
    """Change one input from ``from_value`` to ``to_value`` to reach ``level`` (or higher)."""

    #: ``general_iii`` or ``tasks[2].completed`` (0-based item index).
    path: str
    input: str
    label: nodes.Text
    from_value: Fraction
    to_value: Fraction
    direction: Literal["increasing", "decreasing"]
    #: |to - from| relative to the input's range (the ranking key).
    relative_change: Fraction
    #: The level the changed record gets.
    level: str
    #: For a list item: its index and the record type's label.
    item: int | None = None
    item_label: nodes.Text | None = None
    #: For a list item: its first text field (e.g. the product code), to name it.
    item_key: str | None = None
    #: For a half-year or year: the period whose record has this input.
    period: str | None = None


@dataclass(frozen=True, slots=True)
class CombinedSuggestion:
    """Change two inputs together (each one alone is not enough, or together they change less)."""

    changes: tuple[Suggestion, ...]
    #: The sum of the changes' relative changes (the ranking key).
    relative_change: Fraction
    #: The level the changed record(s) get.
    level: str


@dataclass(frozen=True, slots=True)
class NextLevelAdvice:
    level: nodes.Level
    #: Lower bound of the next level's band minus the total, at least 0 (exact).
    points_missing: Fraction
    blocked_by: tuple[Blocker, ...]
    suggestions: tuple[Suggestion, ...]
    #: Pairs of inputs changed together (smallest first); see the module docstring.
    combined: tuple[CombinedSuggestion, ...] = ()


def step_of(decl: nodes.InputDecl) -> Fraction:
    """The natural step of a numeric input (``points``: 0.25; ``number``, ``percent``: 1)."""
    name = decl.type.name if isinstance(decl.type, nodes.ScalarType) else "number"
    return STEPS.get(name, Fraction(1))


def _numeric(decl: nodes.InputDecl) -> bool:
    return isinstance(decl.type, nodes.ScalarType) and decl.type.name in STEPS and decl.monotone is not None


def next_level_advice(
    plan: Plan, record: SubjectRecord, result: Result, *, max_suggestions: int = 3, max_combined: int = 3,
    max_evaluations: int = MAX_PAIR_EVALUATIONS,
) -> NextLevelAdvice | None:
    """The next level up, the points missing to its band, what else blocks it, up to
    ``max_suggestions`` single-input changes and ``max_combined`` pairs of inputs that reach it
    (all checked by re-evaluation).

    Returns None when the result is not rated, already at the top level, decided by an
    override or a cohort quota (no input of this record alone changes those), or combined from
    periods (see :func:`span_advice`).
    """
    if result.combined is not None:
        return None
    target = _target(plan, result, allow_count=False)
    if target is None:
        return None
    probe = _Probe(plan, (record,), (result,), target[1], None)
    return _advise(plan, result, probe, target, max_suggestions, max_combined, max_evaluations)


def span_advice(
    plan: Plan, records: Sequence[SubjectRecord], result: Result, *, max_suggestions: int = 3,
    max_combined: int = 3, max_evaluations: int = MAX_PAIR_EVALUATIONS,
) -> NextLevelAdvice | None:
    """The advice for a half-year or year ``result`` (from :func:`kpi_rules.periods.combine_periods`):
    which input of which period's record to change. ``records`` are the subject's records of the
    periods of the span (those not rated count as they did: left out).

    Returns None for a result that is not combined, not rated, at the top level, decided by an
    override or demoted by a quota.
    """
    if result.combined is None or result.period is None:
        return None
    target = _target(plan, result, allow_count=True)
    if target is None:
        return None
    mine = tuple(r for r in records if r.id == result.subject_id and r.period is not None)
    results = tuple(evaluate_record(plan, r) for r in mine)
    probe = _Probe(plan, mine, results, target[1], (result.subject_id, result.period))
    return _advise(plan, result, probe, target, max_suggestions, max_combined, max_evaluations)


def _target(plan: Plan, result: Result, allow_count: bool) -> tuple[list[str], int] | None:
    """The levels in order and the index of the next level up, or None when there is no advice."""
    rating = plan.checked.ruleset.rating
    decision = result.decision
    blocked = ("override", "quota") if allow_count else ("override", "quota", "rating_count")
    if (rating is None or decision is None or result.status != "rated" or result.total is None
            or decision.reason in blocked):
        return None
    order = [lv.name for lv in rating.levels]
    if decision.level not in order or order.index(decision.level) == 0:
        return None
    return order, order.index(decision.level) - 1


def _advise(plan: Plan, result: Result, probe: _Probe, target: tuple[list[str], int], max_suggestions: int,
            max_combined: int, max_evaluations: int) -> NextLevelAdvice:
    rating = plan.checked.ruleset.rating
    assert rating is not None and result.total is not None
    order, index = target
    level = rating.levels[index]
    lower = level.lower
    missing = max(Fraction(0), lower - result.total) if lower is not None else Fraction(0)
    candidates = _candidates(plan, probe)
    singles: list[tuple[_Candidate, int, str]] = []
    for cand in candidates:
        hit = _search(probe, cand)
        if hit is not None:
            singles.append((cand, *hit))
    singles.sort(key=lambda hit: (hit[0].relative(hit[0].value(hit[1])), hit[0].path))
    found = [_suggestion(c, j, lv) for c, j, lv in singles[:max(0, max_suggestions)]
             if probe.reaches(probe.level(((c, c.value(j)),), tree_walker=True))]
    combined: tuple[CombinedSuggestion, ...] = ()
    if max_combined > 0:
        best = singles[0][0].relative(singles[0][0].value(singles[0][1])) if singles else None
        first_hit = {id(c): j for c, j, _ in singles}
        pairs = _pairs(probe, candidates, first_hit, best, max_combined, max_evaluations)
        combined = tuple(p for p, changes in pairs if probe.reaches(probe.level(changes, tree_walker=True)))
    return NextLevelAdvice(
        level=level,
        points_missing=missing,
        blocked_by=_blockers(plan, result, level, order, index),
        suggestions=tuple(found),
        combined=combined,
    )


def _blockers(plan: Plan, result: Result, level: nodes.Level, order: list[str], target: int) -> tuple[Blocker, ...]:
    decision = result.decision
    assert decision is not None and plan.checked.ruleset.rating is not None
    out: list[Blocker] = []
    seen: set[str] = set()
    conds = {c.name: c for c in level.conditions}
    for cond in (*decision.all_conditions, *decision.conditions):
        if cond.level == level.name and not cond.met and cond.name not in seen:
            seen.add(cond.name)
            decl = conds.get(cond.name)
            out.append(Blocker("condition", cond.name, decl.label if decl else None))
    dqs = {d.name: d for d in plan.checked.ruleset.rating.disqualifiers}
    for dq in decision.disqualifiers:
        if dq.fired and (dq.target not in order or order.index(dq.target) > target):
            ddecl = dqs.get(dq.name)
            out.append(Blocker("disqualifier", dq.name, ddecl.label if ddecl else None))
    return tuple(out)


class _Probe:
    """Evaluates records with some inputs changed; says whether the target level is reached.

    ``records`` are one record (a period) or the records of a span's periods (``span`` is then
    the subject and the span label, and the level is that of the periods combined again)."""

    def __init__(self, plan: Plan, records: tuple[SubjectRecord, ...], results: tuple[Result, ...], target: int,
                 span: tuple[str, str] | None) -> None:
        self.plan, self.records, self.results, self.target, self.span = plan, records, results, target, span
        rating = plan.checked.ruleset.rating
        self.order = [lv.name for lv in rating.levels] if rating is not None else []
        self.evaluations = 0
        #: The compiled fast path (the same results as evaluate_record; None: the tree-walker).
        self.fast = fast_plan_for(plan)

    def level(self, changes: Sequence[tuple[_Candidate, Fraction]], *, tree_walker: bool = False) -> str | None:
        """The level with ``changes`` applied (``tree_walker``: by evaluate_record itself)."""
        inputs: dict[int, Mapping[str, Value]] = {}
        for cand, value in changes:
            inputs[cand.record] = cand.set(inputs.get(cand.record, self.records[cand.record].inputs), value)
        results = list(self.results)
        self.evaluations += 1
        try:
            for i, changed in inputs.items():
                record = dataclasses.replace(self.records[i], inputs=MappingProxyType(dict(changed)), override=None)
                results[i] = (evaluate_record(self.plan, record) if tree_walker
                              else evaluate_fast(self.plan, record, self.fast))
        except EvaluationError:
            return None
        if self.span is None:
            only = results[0]
            return only.level if only.status == "rated" else None
        combined = combine_periods(self.plan, self.span[0], self.span[1], results)
        return combined.level if combined.status == "rated" else None

    def reaches(self, level: str | None) -> bool:
        return level is not None and level in self.order and self.order.index(level) <= self.target


@dataclass(frozen=True, slots=True)
class _Candidate:
    """One numeric input (of one period's record) that may move in its helpful direction."""

    record: int
    path: str
    decl: nodes.InputDecl
    current: Fraction
    lo: Fraction | None
    hi: Fraction | None
    set: Callable[[Mapping[str, Value], Fraction], Mapping[str, Value]]
    period: str | None = None
    item: int | None = None
    item_label: nodes.Text | None = None
    item_key: str | None = None
    input: str = ""

    @property
    def step(self) -> Fraction:
        return step_of(self.decl)

    @property
    def sign(self) -> int:
        return 1 if self.decl.monotone == "increasing" else -1

    @property
    def bound(self) -> Fraction | None:
        return self.hi if self.sign > 0 else self.lo

    def first(self) -> int:
        """The grid index of the first value beyond the current one in the helpful direction."""
        return _floor(self.current * self.sign / self.step) + 1

    def value(self, j: int) -> Fraction:
        """The ``j``-th helpful value (1-based): a grid value, or the bound itself."""
        x = self.sign * (self.first() + j - 1) * self.step
        bound = self.bound
        if bound is not None and (x - bound) * self.sign > 0:
            return bound
        return x

    def size(self) -> int | None:
        """How many helpful values there are (None when unbounded); 0 when already at the bound."""
        bound = self.bound
        if bound is None:
            return None
        if (bound - self.current) * self.sign <= 0:
            return 0
        last = _floor(bound * self.sign / self.step)
        if Fraction(last) * self.step != bound * self.sign:
            last += 1  # the last value is the bound itself
        return max(last, self.first()) - self.first() + 1

    def relative(self, value: Fraction) -> Fraction:
        lo, hi = self.lo, self.hi
        span = (hi - lo) if lo is not None and hi is not None and hi > lo else max(abs(self.current), self.step)
        return abs(value - self.current) / span


def _candidates(plan: Plan, probe: _Probe) -> list[_Candidate]:
    out: list[_Candidate] = []
    for index, record in enumerate(probe.records):
        if probe.span is not None and probe.results[index].status != "rated":
            continue  # a period left out stays left out: its inputs are not advice
        period = record.period if probe.span is not None else None
        inputs = record.inputs
        for decl in plan.checked.subject.inputs:
            current = inputs.get(decl.name)
            if _numeric(decl) and isinstance(current, Fraction):
                def setter(given: Mapping[str, Value], x: Fraction, name: str = decl.name) -> Mapping[str, Value]:
                    return {**given, name: x}
                out.append(_Candidate(index, decl.name, decl, current, decl.min, decl.max, setter, period,
                                      input=decl.name))
            elif isinstance(decl.type, nodes.ListType) and isinstance(current, tuple):
                out.extend(_item_candidates(plan, index, decl, current, period))
    return [c for c in out if c.size() != 0]


def _item_candidates(plan: Plan, index: int, decl: nodes.InputDecl, items: tuple[RecordValue, ...],
                     period: str | None) -> list[_Candidate]:
    assert isinstance(decl.type, nodes.ListType)
    item_decl = plan.checked.records.get(decl.type.item)
    if item_decl is None:
        return []
    key_field = next((f.name for f in item_decl.inputs
                      if isinstance(f.type, nodes.ScalarType) and f.type.name == "text"), None)
    out = []
    for i, item in enumerate(items):
        for field_decl in item_decl.inputs:
            value = item.get(field_decl.name)
            if not _numeric(field_decl) or not isinstance(value, Fraction):
                continue
            lo, hi = field_decl.min, field_decl.max
            cap = item.get(ITEM_CAPS.get(field_decl.name, ""))
            if isinstance(cap, Fraction):
                hi = cap if hi is None else min(hi, cap)

            def setter(given: Mapping[str, Value], x: Fraction, list_name: str = decl.name, at: int = i,
                       f: str = field_decl.name) -> Mapping[str, Value]:
                now = given[list_name]
                assert isinstance(now, tuple)
                changed = MappingProxyType({**now[at], f: x})
                return {**given, list_name: (*now[:at], changed, *now[at + 1:])}

            key = item.get(key_field) if key_field else None
            out.append(_Candidate(index, f"{decl.name}[{i}].{field_decl.name}", field_decl, value, lo, hi, setter,
                                  period, item=i, item_label=item_decl.label,
                                  item_key=key if isinstance(key, str) else None, input=decl.name))
    return out


def _suggestion(cand: _Candidate, j: int, level: str) -> Suggestion:
    value = cand.value(j)
    assert cand.decl.monotone is not None
    return Suggestion(path=cand.path, input=cand.input, label=cand.decl.label, from_value=cand.current,
                      to_value=value, direction=cand.decl.monotone, relative_change=cand.relative(value),
                      level=level, item=cand.item, item_label=cand.item_label, item_key=cand.item_key,
                      period=cand.period)


def _floor(x: Fraction) -> int:
    return x.numerator // x.denominator


def _search(probe: _Probe, cand: _Candidate) -> tuple[int, str] | None:
    """The smallest helpful change of one input (a grid value, or its bound) that reaches the
    target level: its index in the candidate's helpful values, and the level reached; None if
    even the bound does not."""
    def level(j: int) -> str | None:
        return probe.level(((cand, cand.value(j)),))

    size = cand.size()
    if size is None:
        last = 1
        for _ in range(MAX_DOUBLINGS):
            if probe.reaches(level(last)):
                break
            last = 2 * last + 1
        else:
            return None
    else:
        last = size
        if not probe.reaches(level(last)):
            return None
    low, high = 1, last  # invariant: value(high) reaches
    while low < high:
        mid = (low + high) // 2
        if probe.reaches(level(mid)):
            high = mid
        else:
            low = mid + 1
    reached = level(high)  # re-check the value given
    if not probe.reaches(reached):
        return None
    assert reached is not None
    return high, reached


def _moves(probe: _Probe, cand: _Candidate) -> bool:
    """Whether the input at its bound changes the result at all (else pairing it is pointless)."""
    size = cand.size()
    if size is None or size > MAX_GRID:
        return False
    record = probe.records[cand.record]
    changed = dataclasses.replace(record, inputs=MappingProxyType(dict(cand.set(record.inputs, cand.value(size)))),
                                  override=None)
    probe.evaluations += 1
    try:
        after = evaluate_record(probe.plan, changed)
    except EvaluationError:
        return False
    before = probe.results[cand.record]
    return (after.total, after.level, after.decision) != (before.total, before.level, before.decision)


_Change = tuple[_Candidate, Fraction]


def _pairs(probe: _Probe, candidates: Sequence[_Candidate], first_hit: Mapping[int, int], best: Fraction | None,
           limit: int, budget: int) -> list[tuple[CombinedSuggestion, tuple[_Change, _Change]]]:
    """The smallest pairs of inputs changed together (see the module docstring)."""
    start = probe.evaluations
    useful = [c for c in candidates if _moves(probe, c)]
    found: list[tuple[CombinedSuggestion, tuple[_Change, _Change]]] = []
    for a, b in _feasible_pairs(probe, useful):
        if probe.evaluations - start >= budget:
            break
        if best is not None and a.relative(a.value(1)) + b.relative(b.value(1)) >= best:
            continue  # no pair of these two can change less than the best single input
        pair = _staircase(probe, a, b, first_hit, best)
        if pair is not None:
            found.append(pair)
    found.sort(key=lambda p: (p[0].relative_change, tuple(s.path for s in p[0].changes)))
    return found[:max(0, limit)]


def _feasible_pairs(probe: _Probe, useful: Sequence[_Candidate]) -> list[tuple[_Candidate, _Candidate]]:
    """The pairs that reach the target with both inputs at their bounds, found by halving.

    Exact under the promised monotonicity: if a set of inputs, all at their bounds, does not
    reach, no pair inside it does; so whole groups of pairs are ruled out by one evaluation.
    """
    def reach(group: Sequence[_Candidate]) -> bool:
        return probe.reaches(probe.level([(c, c.value(c.size() or 1)) for c in group]))

    def cross(left: Sequence[_Candidate], right: Sequence[_Candidate]) -> list[tuple[_Candidate, _Candidate]]:
        if not left or not right or not reach([*left, *right]):
            return []
        if len(left) == 1 and len(right) == 1:
            return [(left[0], right[0])]
        if len(left) >= len(right):
            half = len(left) // 2
            return cross(left[:half], right) + cross(left[half:], right)
        half = len(right) // 2
        return cross(left, right[:half]) + cross(left, right[half:])

    def within(group: Sequence[_Candidate]) -> list[tuple[_Candidate, _Candidate]]:
        if len(group) < 2 or not reach(group):
            return []
        if len(group) == 2:
            return [(group[0], group[1])]
        half = len(group) // 2
        return within(group[:half]) + within(group[half:]) + cross(group[:half], group[half:])

    return within(list(useful))


def _staircase(probe: _Probe, a: _Candidate, b: _Candidate, first_hit: Mapping[int, int],
               best: Fraction | None) -> tuple[CombinedSuggestion, tuple[_Change, _Change]] | None:
    """The cheapest corner of the staircase of minimal (a, b) combinations that reach the target.

    j is the smallest index of b that reaches with a at index k; it never grows as k grows.
    A corner (k, j), where j just went down, is minimal in both: (k, j-1) and (k-1, j) do not
    reach. k stops below a's own smallest single change (a alone reaches there)."""
    size_a, size_b = a.size(), b.size()
    assert size_a is not None and size_b is not None
    k_end = min(size_a, first_hit.get(id(a), size_a + 1) - 1)
    j = min(first_hit.get(id(b), size_b + 1), size_b + 1)
    chosen: tuple[Fraction, int, int, str] | None = None
    for k in range(1, k_end + 1):
        cost_a = a.relative(a.value(k))
        if best is not None and cost_a + b.relative(b.value(1)) >= best:
            break
        moved: str | None = None
        while j - 1 >= 1:
            reached = probe.level(((a, a.value(k)), (b, b.value(j - 1))))
            if not probe.reaches(reached):
                break
            j, moved = j - 1, reached
        if moved is not None:
            cost = cost_a + b.relative(b.value(j))
            if chosen is None or cost < chosen[0]:
                chosen = (cost, k, j, moved)
        if j == 1:
            break  # b cannot go lower; a larger k only costs more
    if chosen is None:
        return None
    cost, k, j, level = chosen
    if best is not None and cost >= best:
        return None
    pair = CombinedSuggestion(changes=(_suggestion(a, k, level), _suggestion(b, j, level)),
                              relative_change=cost, level=level)
    return pair, ((a, a.value(k)), (b, b.value(j)))


def with_span_advice(outcome: ProvinceResult, explanation: Explanation) -> Explanation:
    """A province's half-year or year explanation with ``next_level`` set from the records of its
    periods (:func:`span_advice`); any other explanation unchanged. Used by ``kpi-rules explain
    BUNDLE PROVINCE --period 2026`` (one subject: the search re-evaluates its periods often)."""
    from kpi_rules.explainer import explain  # the explainer imports this module

    subject, span = explanation.subject.id, explanation.subject.period
    result = outcome.years.get((subject, span)) if span is not None else None
    rules = outcome.bundle.rules_for(outcome.province.role_of(subject) or "")
    if result is None or rules is None or explanation.next_level is not None or span is None:
        return explanation
    whole = parse_period(span)
    records = tuple(record for (who, period), record in sorted(outcome.records.items())
                    if who == subject and whole.contains(parse_period(period)))
    advised = explain(result, rules.plan, explanation.lang, period_records=records)
    return explanation.model_copy(update={"next_level": advised.next_level})
