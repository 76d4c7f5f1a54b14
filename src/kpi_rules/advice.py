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

Not covered (None): a result decided by an override (no input changes it), demoted by a cohort
quota (it depends on other people), or combined from periods (advise on each period's record).
Only numeric inputs are suggested: a disqualifier (a disciplinary measure) is a fact, named in
``blocked_by``, never a suggestion.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType
from typing import Literal

from kpi_rules import nodes
from kpi_rules.evaluator import EvaluationError, evaluate_record
from kpi_rules.plan import Plan
from kpi_rules.results import RecordValue, Result, SubjectRecord, Value

__all__ = ["Blocker", "NextLevelAdvice", "Suggestion", "next_level_advice", "step_of"]

#: The natural step of a suggested value, by input type.
STEPS: Mapping[str, Fraction] = {"points": Fraction(1, 4), "number": Fraction(1), "percent": Fraction(1)}
#: A list item field never goes above another field of the same item.
ITEM_CAPS: Mapping[str, str] = {"completed": "assigned"}
#: For an input without a bound in the helpful direction: the most doublings tried.
MAX_DOUBLINGS = 40


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


@dataclass(frozen=True, slots=True)
class NextLevelAdvice:
    level: nodes.Level
    #: Lower bound of the next level's band minus the total, at least 0 (exact).
    points_missing: Fraction
    blocked_by: tuple[Blocker, ...]
    suggestions: tuple[Suggestion, ...]


def step_of(decl: nodes.InputDecl) -> Fraction:
    """The natural step of a numeric input (``points``: 0.25; ``number``, ``percent``: 1)."""
    name = decl.type.name if isinstance(decl.type, nodes.ScalarType) else "number"
    return STEPS.get(name, Fraction(1))


def _numeric(decl: nodes.InputDecl) -> bool:
    return isinstance(decl.type, nodes.ScalarType) and decl.type.name in STEPS and decl.monotone is not None


def next_level_advice(
    plan: Plan, record: SubjectRecord, result: Result, *, max_suggestions: int = 3
) -> NextLevelAdvice | None:
    """The next level up, the points missing to its band, what else blocks it, and up to
    ``max_suggestions`` single-input changes that reach it (checked by re-evaluation).

    Returns None when the result is not rated, already at the top level, decided by an
    override or a cohort quota (no input of this record alone changes those), or combined from
    periods.
    """
    rating = plan.checked.ruleset.rating
    decision = result.decision
    if (rating is None or decision is None or result.status != "rated" or result.total is None
            or decision.reason in ("override", "quota", "rating_count") or result.combined is not None):
        return None
    order = [lv.name for lv in rating.levels]
    if decision.level not in order:
        return None
    current = order.index(decision.level)
    if current == 0:
        return None
    target = current - 1
    level = rating.levels[target]
    lower = level.lower
    missing = max(Fraction(0), lower - result.total) if lower is not None else Fraction(0)
    return NextLevelAdvice(
        level=level,
        points_missing=missing,
        blocked_by=_blockers(plan, result, level, order, target),
        suggestions=_suggestions(plan, record, order, target, max_suggestions),
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
    """Evaluates a record with one input changed; says whether it reaches the target level."""

    def __init__(self, plan: Plan, record: SubjectRecord, order: list[str], target: int) -> None:
        self.plan, self.record, self.order, self.target = plan, record, order, target

    def level(self, inputs: Mapping[str, Value]) -> str | None:
        changed = dataclasses.replace(self.record, inputs=MappingProxyType(dict(inputs)), override=None)
        try:
            result = evaluate_record(self.plan, changed)
        except EvaluationError:
            return None
        return result.level if result.status == "rated" else None

    def reaches(self, level: str | None) -> bool:
        return level is not None and level in self.order and self.order.index(level) <= self.target


def _suggestions(plan: Plan, record: SubjectRecord, order: list[str], target: int,
                 limit: int) -> tuple[Suggestion, ...]:
    probe = _Probe(plan, record, order, target)
    found: list[Suggestion] = []
    inputs = dict(record.inputs)
    for decl in plan.checked.subject.inputs:
        current = inputs.get(decl.name)
        if _numeric(decl) and isinstance(current, Fraction):
            def build(x: Fraction, name: str = decl.name) -> Mapping[str, Value]:
                return {**inputs, name: x}
            hit = _search(probe, build, current, decl, decl.min, decl.max)
            if hit is not None:
                found.append(_make(decl.name, decl, current, hit, decl.min, decl.max))
        elif isinstance(decl.type, nodes.ListType) and isinstance(current, tuple):
            item_decl = plan.checked.records.get(decl.type.item)
            if item_decl is None:
                continue
            key_field = next((f.name for f in item_decl.inputs
                              if isinstance(f.type, nodes.ScalarType) and f.type.name == "text"), None)
            for index, item in enumerate(current):
                for field_decl in item_decl.inputs:
                    value = item.get(field_decl.name)
                    if not _numeric(field_decl) or not isinstance(value, Fraction):
                        continue
                    lo, hi = field_decl.min, field_decl.max
                    cap = item.get(ITEM_CAPS.get(field_decl.name, ""))
                    if isinstance(cap, Fraction):
                        hi = cap if hi is None else min(hi, cap)

                    def build_item(x: Fraction, list_name: str = decl.name, items: tuple[RecordValue, ...] = current,
                                   i: int = index, f: str = field_decl.name) -> Mapping[str, Value]:
                        changed = MappingProxyType({**items[i], f: x})
                        return {**inputs, list_name: (*items[:i], changed, *items[i + 1:])}

                    hit = _search(probe, build_item, value, field_decl, lo, hi)
                    if hit is not None:
                        key = item.get(key_field) if key_field else None
                        found.append(dataclasses.replace(
                            _make(f"{decl.name}[{index}].{field_decl.name}", field_decl, value, hit, lo, hi),
                            input=decl.name, item=index, item_label=item_decl.label,
                            item_key=key if isinstance(key, str) else None))
    found.sort(key=lambda s: (s.relative_change, s.path))
    return tuple(found[:max(0, limit)])


def _make(path: str, decl: nodes.InputDecl, current: Fraction, hit: tuple[Fraction, str],
          lo: Fraction | None, hi: Fraction | None) -> Suggestion:
    value, level = hit
    change = abs(value - current)
    span = (hi - lo) if lo is not None and hi is not None and hi > lo else max(abs(current), step_of(decl))
    assert decl.monotone is not None
    return Suggestion(path=path, input=decl.name, label=decl.label, from_value=current, to_value=value,
                      direction=decl.monotone, relative_change=change / span, level=level)


def _floor(x: Fraction) -> int:
    return x.numerator // x.denominator


def _search(probe: _Probe, build: Callable[[Fraction], Mapping[str, Value]], current: Fraction, decl: nodes.InputDecl,
            lo: Fraction | None, hi: Fraction | None) -> tuple[Fraction, str] | None:
    """The smallest helpful change of one input (a grid value, or its bound) that reaches the
    target level, with the level reached; None if even the bound does not."""
    step = step_of(decl)
    up = decl.monotone == "increasing"
    sign = 1 if up else -1
    bound = hi if up else lo
    if bound is not None and (bound - current) * sign <= 0:
        return None  # already at the bound: nothing to change in the helpful direction
    # Grid points beyond the current value in the helpful direction: g(k) = sign * k * step.
    first = _floor(current * sign / step) + 1

    def value(k: int) -> Fraction:
        x = sign * k * step
        if bound is not None and (x - bound) * sign > 0:
            return bound
        return x

    if bound is not None:
        # The last index whose value is still on the grid inside the bound, then the bound.
        last = _floor(bound * sign / step)
        if Fraction(last) * step != bound * sign:
            last += 1  # value(last) is the bound itself
        last = max(last, first)
    else:
        last = first
        for _ in range(MAX_DOUBLINGS):
            if probe.reaches(probe.level(build(value(last)))):
                break
            last = first + 2 * (last - first + 1)
        else:
            return None
    top = probe.level(build(value(last)))
    if not probe.reaches(top):
        return None
    low, high = first, last  # invariant: value(high) reaches; everything below `low` is unknown
    while low < high:
        mid = (low + high) // 2
        if probe.reaches(probe.level(build(value(mid)))):
            high = mid
        else:
            low = mid + 1
    found = value(high)
    level = probe.level(build(found))  # re-check the value given
    if not probe.reaches(level):
        return None
    assert level is not None
    return found, level
