"""Why a level changed since the previous period: two results of one subject → :class:`LevelChange`.

:func:`level_change` compares the result of the previous period with this one (rated with the
same rule set, or with another version of it) and says, computed and never guessed:

* the **direction**: the level fell, rose, stayed, or cannot be compared (a period not rated);
* **criteria deltas**: every criterion's signed contribution to the total (a criterion under a
  penalty counts negatively), plus the effect of a group's floor or cap where one applied. They
  are an exact decomposition: their sum is the change of the total, to the last fraction;
* **inputs** and **intermediate values** that changed, with exact deltas for numbers (inputs
  only when both records are given);
* **causes** of the level: the total crossing below a band (``points``), a disqualifier that
  newly applies, a level condition newly failed, a demotion by the quota, an override (new, or
  one of the previous period that no longer applies), and a band that moved because the rule set
  changed (its content hash differs).

:func:`change_out` turns it into the :class:`~kpi_rules.models.LevelChangeOut` of an
explanation (in the explanation's language); :func:`province_change` finds the previous period of
a province run from the period labels (``2026-Q2`` → ``2026-Q1``, ``2026-Q1`` → ``2025-Q4``,
``2026`` → ``2025``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Literal

from kpi_rules import nodes
from kpi_rules.diagnostics import DiagnosticError
from kpi_rules.evaluator import EvaluationError, evaluate_record
from kpi_rules.i18n import catalogue, message, placeholders
from kpi_rules.models import (
    CauseOut,
    CriterionDeltaOut,
    Explanation,
    InputDeltaOut,
    LevelChangeOut,
    Number,
    Ref,
)
from kpi_rules.periods import parse_period
from kpi_rules.plan import Plan
from kpi_rules.results import CriterionResult, Result, SubjectRecord, Value
from kpi_rules.trace import FullTracer
from kpi_rules.values import format_exact, format_number, literal_value

if TYPE_CHECKING:
    from kpi_rules.engine import RuleSet
    from kpi_rules.province import ProvinceResult

__all__ = [
    "Cause",
    "CriterionDelta",
    "InputDelta",
    "LevelChange",
    "Previous",
    "change_out",
    "explain_change",
    "level_change",
    "previous_label",
    "province_change",
]

Direction = Literal["fell", "rose", "same", "not_comparable"]
CauseKind = Literal["points", "disqualifier", "condition", "quota", "override", "override_ended", "band"]


@dataclass(frozen=True, slots=True)
class Previous:
    """The previous period of the same subject: its result, the plan that rated it, its record."""

    result: Result
    plan: Plan
    record: SubjectRecord | None = None


@dataclass(frozen=True, slots=True)
class CriterionDelta:
    """One term of the exact decomposition of the total's change.

    ``kind`` is the criterion's kind, or ``cap`` for the floor/cap of a group (or the total):
    ``before``/``after`` are then ``points - raw`` of that group.
    """

    name: str
    kind: str
    label: nodes.Text | None
    cite: str | None
    #: Signed contributions to the total (0 where the criterion does not exist).
    before: Fraction
    after: Fraction

    @property
    def delta(self) -> Fraction:
        return self.after - self.before


@dataclass(frozen=True, slots=True)
class InputDelta:
    """An input (``general_iii``, ``tasks[2].completed``, ``tasks`` for the number of items) or
    a let whose value changed; ``delta`` is set when both values are numbers."""

    path: str
    label: nodes.Text | None
    before: Value
    after: Value

    @property
    def delta(self) -> Fraction | None:
        if isinstance(self.before, Fraction) and isinstance(self.after, Fraction):
            return self.after - self.before
        return None


@dataclass(frozen=True, slots=True)
class Cause:
    """One reason the level is what it is now and was not before."""

    kind: CauseKind
    #: The disqualifier, ``level.condition``, cohort rule or level concerned.
    name: str | None = None


@dataclass(frozen=True, slots=True)
class LevelChange:
    previous: Result
    current: Result
    previous_plan: Plan
    plan: Plan
    direction: Direction
    #: Nonzero terms, the largest in the direction of the change first (largest loss when fell).
    criteria: tuple[CriterionDelta, ...]
    inputs: tuple[InputDelta, ...]
    values: tuple[InputDelta, ...]
    causes: tuple[Cause, ...]

    @property
    def total_delta(self) -> Fraction | None:
        if self.previous.total is None or self.current.total is None:
            return None
        return self.current.total - self.previous.total

    @property
    def ruleset_changed(self) -> bool:
        return self.previous.provenance.content_hash != self.current.provenance.content_hash


# --------------------------------------------------------------------------- criteria


def _decl_index(plan: Plan) -> dict[str, tuple[nodes.CriteriaTree | nodes.CriteriaItem, str | None]]:
    """Criterion name → (declaration, its clause or the enclosing one)."""
    out: dict[str, tuple[nodes.CriteriaTree | nodes.CriteriaItem, str | None]] = {}

    def walk(node: nodes.CriteriaTree | nodes.CriteriaItem, inherited: str | None) -> None:
        cite = node.cite or inherited
        out[node.name] = (node, cite)
        if not isinstance(node, nodes.Criterion):
            for child in node.children:
                walk(child, cite)

    tree = plan.checked.ruleset.criteria
    if tree is not None:
        walk(tree, None)
    return out


def _terms(root: CriterionResult | None) -> dict[tuple[str, str], tuple[str, Fraction]]:
    """(name, "points"|"cap") → (kind, signed contribution to the total).

    total = Σ sign·points over leaves + Σ sign·(points - raw) over groups, where the sign is -1
    under an odd number of penalty groups: the identity the evaluator's group sums satisfy.
    """
    out: dict[tuple[str, str], tuple[str, Fraction]] = {}

    def walk(node: CriterionResult, sign: int) -> None:
        here = -sign if node.kind == "penalty" else sign
        if node.children or node.kind != "criterion":
            if node.points != node.raw:
                out[(node.name, "cap")] = ("cap", here * (node.points - node.raw))
            for child in node.children:
                walk(child, here)
        else:
            out[(node.name, "points")] = (node.kind, here * node.points)

    if root is not None:
        walk(root, 1)
    return out


def _criteria_deltas(prev: Previous, current: Result, plan: Plan, direction: Direction) -> tuple[CriterionDelta, ...]:
    before, after = _terms(prev.result.criteria), _terms(current.criteria)
    decls = {**_decl_index(prev.plan), **_decl_index(plan)}
    out = []
    for key in [*after, *(k for k in before if k not in after)]:
        kind, b = before.get(key, ("", Fraction(0)))
        kind2, a = after.get(key, (kind, Fraction(0)))
        if a == b:
            continue
        decl, cite = decls.get(key[0], (None, None))
        out.append(CriterionDelta(key[0], kind2 or kind, decl.label if decl is not None else None, cite, b, a))
    sign = -1 if direction == "fell" else 1
    out.sort(key=lambda d: sign * d.delta, reverse=True)  # stable: tree order among equals
    return tuple(out)


# --------------------------------------------------------------------------- inputs and values


def _input_decls(plan: Plan) -> dict[str, nodes.InputDecl]:
    return {d.name: d for d in plan.checked.subject.inputs}


def _input_deltas(prev: Previous, record: SubjectRecord | None, plan: Plan) -> tuple[InputDelta, ...]:
    if prev.record is None or record is None:
        return ()
    decls = {**_input_decls(prev.plan), **_input_decls(plan)}
    old, new = prev.record.inputs, record.inputs
    out: list[InputDelta] = []
    names = list(dict.fromkeys([*decls, *new, *old]))
    for name in names:
        if name not in old and name not in new:
            continue
        decl = decls.get(name)
        label = decl.label if decl is not None else None
        b, a = _read(old, name, decl), _read(new, name, decl)
        if isinstance(b, tuple) or isinstance(a, tuple):
            out.extend(_list_deltas(name, label, b if isinstance(b, tuple) else (), a if isinstance(a, tuple) else (),
                                    decl, plan))
        elif a != b:
            out.append(InputDelta(name, label, b, a))
    return tuple(out)


def _read(inputs: Mapping[str, Value], name: str, decl: nodes.InputDecl | None) -> Value:
    """An input as the evaluator reads it: a missing input with a declared default is the default."""
    if name not in inputs and decl is not None and decl.default is not None:
        return literal_value(decl.default)
    return inputs.get(name)


def _list_deltas(name: str, label: nodes.Text | None, old: tuple[Mapping[str, Value], ...],
                 new: tuple[Mapping[str, Value], ...], decl: nodes.InputDecl | None, plan: Plan) -> Iterator[InputDelta]:
    """The number of items, then item by item: matched by their first text field (the product
    code) when it names each item once on both sides, else by position; an item only on one
    side is listed as added or removed (``tasks[3]: none → DA``)."""
    if len(old) != len(new):
        yield InputDelta(name, label, Fraction(len(old)), Fraction(len(new)))
    item_decl = None
    if decl is not None and isinstance(decl.type, nodes.ListType):
        item_decl = plan.checked.records.get(decl.type.item)
    labels = {f.name: f.label for f in item_decl.inputs} if item_decl is not None else {}
    key = next((f.name for f in item_decl.inputs if isinstance(f.type, nodes.ScalarType) and f.type.name == "text"),
               None) if item_decl is not None else None
    old_keys = [item.get(key) for item in old] if key else []
    new_keys = [item.get(key) for item in new] if key else []
    pairs: list[tuple[int | None, int | None]]
    if key and len(set(old_keys)) == len(old) and len(set(new_keys)) == len(new):
        pairs = [(old_keys.index(k) if k in old_keys else None, i) for i, k in enumerate(new_keys)]
        pairs += [(j, None) for j, k in enumerate(old_keys) if k not in new_keys]
    else:
        pairs = [(i if i < len(old) else None, i if i < len(new) else None) for i in range(max(len(old), len(new)))]
    for j, i in pairs:
        if i is None or j is None:
            where = f"{name}[{i if i is not None else j}]"
            source = new[i] if i is not None else old[j if j is not None else 0]
            shown = source.get(key) if key else None
            item = shown if shown is not None else Fraction(1)
            yield InputDelta(where, label, None if j is None else item, None if i is None else item)
            continue
        a, b = new[i], old[j]
        for field in [*a, *(f for f in b if f not in a)]:
            if a.get(field) != b.get(field):
                yield InputDelta(f"{name}[{i}].{field}", labels.get(field), b.get(field), a.get(field))


def _value_deltas(prev: Previous, current: Result, plan: Plan) -> tuple[InputDelta, ...]:
    lets = {let.name: let for let in (*prev.plan.checked.ruleset.lets, *plan.checked.ruleset.lets)}
    out = []
    for name, after in current.values.items():
        if name not in prev.result.values:
            continue
        before = prev.result.values[name]
        if isinstance(before, Fraction) and isinstance(after, Fraction) and before != after:
            let = lets.get(name)
            out.append(InputDelta(name, let.label if let is not None else None, before, after))
    return tuple(out)


# --------------------------------------------------------------------------- levels and causes


def _levels(plan: Plan) -> list[nodes.Level]:
    rating = plan.checked.ruleset.rating
    return list(rating.levels) if rating is not None else []


def _band_level(levels: Sequence[nodes.Level], total: Fraction) -> str | None:
    for level in levels:
        if (level.lower is None or total >= level.lower) and (level.upper is None or total < level.upper):
            return level.name
    return None


def _rank(order: Sequence[str], name: str | None) -> int | None:
    return order.index(name) if name is not None and name in order else None


def _direction(prev: Result, current: Result, order: Sequence[str]) -> Direction:
    before, after = _rank(order, prev.level), _rank(order, current.level)
    if prev.status != "rated" or current.status != "rated" or before is None or after is None:
        return "not_comparable"
    return "fell" if after > before else "rose" if after < before else "same"


def _causes(prev: Previous, current: Result, order: Sequence[str]) -> tuple[Cause, ...]:
    old, new = prev.result.decision, current.decision
    if old is None or new is None or current.total is None or prev.result.total is None:
        return ()
    causes: list[Cause] = []
    if new.override is not None and new.override != old.override:
        causes.append(Cause("override", new.override.level))
    if old.override is not None and new.override is None:
        causes.append(Cause("override_ended", old.override.level))
    if new.cohort is not None and new.cohort.demoted and not (old.cohort is not None and old.cohort.demoted):
        causes.append(Cause("quota", new.cohort.rule))
    fired_before = {d.name for d in old.disqualifiers if d.fired}
    for dq in new.disqualifiers:
        if dq.fired and dq.name not in fired_before:
            causes.append(Cause("disqualifier", dq.name))
    met_before = {(c.level, c.name) for c in (*old.all_conditions, *old.conditions) if c.met}
    # A condition matters if its level lies between the previous level (included) and this one.
    now, then = _rank(order, new.level), _rank(order, old.level)
    seen: set[tuple[str, str]] = set()
    for cond in (*new.all_conditions, *new.conditions):
        key = (cond.level, cond.name)
        rank = _rank(order, cond.level)
        if (not cond.met and key in met_before and key not in seen and rank is not None
                and now is not None and rank < now and (then is None or rank >= then)):
            seen.add(key)
            causes.append(Cause("condition", f"{cond.level}.{cond.name}"))
    old_band = _rank(order, old.band_level)
    new_band = _rank(order, new.band_level)
    if _hash_differs(prev.result, current):
        under_old = _rank(order, _band_level(_levels(prev.plan), current.total))
        if under_old is not None and new_band is not None and under_old < new_band:
            causes.append(Cause("band", order[under_old]))  # the level the old bands gave
    if (old_band is not None and new_band is not None and new_band > old_band
            and current.total < prev.result.total):
        causes.append(Cause("points", old.band_level))
    if not causes and _direction(prev.result, current, order) == "fell":
        # Nothing above moved the level on its own: the total is what changed.
        causes.append(Cause("points", old.band_level))
    return tuple(causes)


def _hash_differs(a: Result, b: Result) -> bool:
    return a.provenance.content_hash != b.provenance.content_hash


def level_change(previous: Previous, current: Result, plan: Plan,
                 record: SubjectRecord | None = None) -> LevelChange:
    """Compare a subject's previous result with its current one (see the module docstring).

    ``plan`` rated ``current``; ``previous.plan`` rated the previous result (the same plan, or
    another version of the rule set: then bands are compared too).
    """
    order = [lv.name for lv in _levels(plan)]
    for lv in _levels(previous.plan):
        if lv.name not in order:
            order.append(lv.name)
    direction = _direction(previous.result, current, order)
    deltas = _criteria_deltas(previous, current, plan, direction)
    return LevelChange(
        previous=previous.result, current=current, previous_plan=previous.plan, plan=plan,
        direction=direction, criteria=deltas,
        inputs=_input_deltas(previous, record, plan),
        values=_value_deltas(previous, current, plan),
        causes=_causes(previous, current, order),
    )


# --------------------------------------------------------------------------- for people


@dataclass(frozen=True, slots=True)
class _Out:
    plan: Plan
    previous_plan: Plan
    lang: str

    def msg(self, key: str, **params: object) -> str:
        return message(key, self.lang, **params)

    def display(self, x: Fraction) -> str:
        shown = self.plan.checked.ruleset.display
        return format_number(x, shown.decimals, shown.mode)

    def number(self, x: Fraction) -> Number:
        return Number(exact=format_exact(x), display=self.display(x))

    def signed(self, x: Fraction) -> str:
        text = self.display(x)
        return ("+" + text) if x > 0 else text.replace("-", "−") if x < 0 else text

    def level(self, name: str | None) -> Ref | None:
        if name is None:
            return None
        for plan in (self.plan, self.previous_plan):
            for lv in _levels(plan):
                if lv.name == name:
                    return Ref(id=name, label=lv.label.get(self.lang))
        return Ref(id=name, label=name)

    def label(self, text: nodes.Text | None, fallback: str) -> str:
        return text.get(self.lang) if text is not None else fallback

    def cite(self, cite: str | None) -> str | None:
        from kpi_rules.explainer import cite_with_basis  # the explainer imports this module lazily

        return cite_with_basis(cite, self.plan.checked.ruleset.basis)

    def value(self, value: Value) -> str:
        if isinstance(value, bool):
            return self.msg("value.true" if value else "value.false")
        if isinstance(value, Fraction):
            den = value.denominator
            for p in (2, 5):
                while den % p == 0:
                    den //= p
            return format_exact(value) if den == 1 else "≈" + self.display(value)
        if isinstance(value, dt.date):
            return value.isoformat()
        if isinstance(value, tuple):
            return self.msg("value.items", count=len(value))
        if value is None:
            return self.msg("value.none")
        return str(value)


def _criterion_out(o: _Out, d: CriterionDelta) -> CriterionDeltaOut:
    label = o.label(d.label, d.name)
    key = "change.cap" if d.kind == "cap" else "change.criterion"
    text = o.msg(key, label=label, id=d.name, old=o.display(d.before), new=o.display(d.after),
                 delta=o.signed(d.delta))
    return CriterionDeltaOut(id=d.name, label=label, kind="cap" if d.kind == "cap" else "criterion",
                             before=o.number(d.before), after=o.number(d.after), delta=o.number(d.delta),
                             cite=o.cite(d.cite), text=text)


def _input_out(o: _Out, d: InputDelta) -> InputDeltaOut:
    label = o.label(d.label, d.path)
    delta = d.delta
    text = o.msg("change.input", label=label, path=d.path, old=o.value(d.before), new=o.value(d.after))
    if delta is not None:
        shown = o.value(abs(delta))
        sign = "+" if delta > 0 else "−" if delta < 0 else ""
        text += f" ({'≈' + sign + shown[1:] if shown.startswith('≈') else sign + shown})"
    return InputDeltaOut(path=d.path, label=label, before=o.value(d.before), after=o.value(d.after),
                         delta=o.number(delta) if delta is not None else None, text=text)


def _cause_out(o: _Out, change: LevelChange, cause: Cause) -> CauseOut:
    prev, cur = change.previous, change.current
    period = cur.period or "—"
    previous = prev.period or "—"
    ruleset = o.plan.checked.ruleset
    if cause.kind == "points":
        levels = {lv.name: lv for lv in (*_levels(o.previous_plan), *_levels(o.plan))}
        level = levels.get(cause.name or "")
        lower = level.lower if level is not None else None
        ref = o.level(cause.name)
        assert prev.total is not None and cur.total is not None
        return CauseOut(kind="points", id=cause.name, text=o.msg(
            "change.cause.points", old=o.display(prev.total), new=o.display(cur.total),
            delta=o.signed(cur.total - prev.total), lower=format_exact(lower) if lower is not None else "—",
            level=ref.label if ref else "—"), cite=o.cite(level.cite if level is not None else None))
    if cause.kind == "disqualifier":
        decl = next((d for d in (ruleset.rating.disqualifiers if ruleset.rating else ()) if d.name == cause.name), None)
        target = o.level(decl.target if decl is not None else None)
        return CauseOut(kind="disqualifier", id=cause.name, text=o.msg(
            "change.cause.disqualifier", label=o.label(decl.label if decl else None, cause.name or ""),
            previous=previous, level=target.label if target else "—"),
            cite=o.cite(decl.cite if decl is not None else None))
    if cause.kind == "condition":
        level_name, _, cond_name = (cause.name or "").partition(".")
        lv = next((x for x in _levels(o.plan) if x.name == level_name), None)
        cond = next((c for c in lv.conditions if c.name == cond_name), None) if lv is not None else None
        ref = o.level(level_name)
        return CauseOut(kind="condition", id=cause.name, text=o.msg(
            "change.cause.condition", label=o.label(cond.label if cond else None, cond_name),
            level=ref.label if ref else level_name, previous=previous),
            cite=o.cite((cond.cite if cond else None) or (lv.cite if lv else None)))
    decision = cur.decision
    assert decision is not None
    if cause.kind == "quota":
        c = decision.cohort
        assert c is not None
        frm, to = o.level(c.from_level), o.level(c.to_level)
        return CauseOut(kind="quota", id=c.rule, text=o.msg(
            "change.cause.quota", from_level=frm.label if frm else "", level=to.label if to else "",
            rank=c.rank, eligible=c.eligible, allowed=c.allowed), cite=o.cite(c.cite))
    if cause.kind == "override":
        ov = decision.override
        assert ov is not None
        ref = o.level(ov.level)
        return CauseOut(kind="override", id=ov.level, text=o.msg(
            "change.cause.override", level=ref.label if ref else ov.level, decided_by=ov.decided_by,
            decided_on=ov.decided_on.isoformat(), clause=ov.clause, reason=ov.reason.rstrip(" .")),
            cite=ov.clause)
    if cause.kind == "override_ended":
        ref = o.level(cause.name)
        return CauseOut(kind="override_ended", id=cause.name, text=o.msg(
            "change.cause.override_ended", level=ref.label if ref else "", previous=previous, period=period))
    # band: the rule set changed the band of the level the total would have had
    levels_old = _levels(o.previous_plan)
    assert cur.total is not None
    old_level = _band_level(levels_old, cur.total)
    old_decl = next((x for x in levels_old if x.name == old_level), None)
    new_decl = next((x for x in _levels(o.plan) if x.name == old_level), None)
    from kpi_rules.explainer import band_phrase

    ref = o.level(old_level)
    return CauseOut(kind="band", id=old_level, text=o.msg(
        "change.cause.band", old_version=prev.provenance.version, new_version=cur.provenance.version,
        level=ref.label if ref else "", total=o.display(cur.total),
        old_band=band_phrase(old_decl, o.lang) if old_decl else "—",
        new_band=band_phrase(new_decl, o.lang) if new_decl else "—"),
        cite=o.cite(new_decl.cite if new_decl is not None else None))


def change_out(change: LevelChange, lang: str = "vi") -> LevelChangeOut:
    """The change as it goes into an explanation, in ``lang``."""
    o = _Out(change.plan, change.previous_plan, lang)
    prev, cur = change.previous, change.current
    before, after = o.level(prev.level), o.level(cur.level)
    delta = change.total_delta
    params = dict(previous=prev.period or "—", period=cur.period or "—",
                  before=before.label if before else o.msg(f"status.{prev.status}"),
                  after=after.label if after else o.msg(f"status.{cur.status}"))
    key = f"change.{change.direction}"
    wanted = placeholders(catalogue(lang)[key])  # `same` names one level only
    text = o.msg(key, **{k: v for k, v in params.items() if k in wanted})
    if delta is not None and prev.total is not None and cur.total is not None:
        text += " " + o.msg("change.total", old=o.display(prev.total), new=o.display(cur.total),
                            delta=o.signed(delta))
    if change.ruleset_changed:
        text += " " + o.msg("change.ruleset", old=prev.provenance.version, old_hash=prev.provenance.content_hash,
                            new=cur.provenance.version, new_hash=cur.provenance.content_hash)
    return LevelChangeOut(
        previous_period=prev.period, period=cur.period, direction=change.direction,
        previous_level=before, level=after,
        previous_total=o.number(prev.total) if prev.total is not None else None,
        total=o.number(cur.total) if cur.total is not None else None,
        total_delta=o.number(delta) if delta is not None else None,
        causes=tuple(_cause_out(o, change, c) for c in change.causes),
        criteria=tuple(_criterion_out(o, d) for d in change.criteria),
        inputs=tuple(_input_out(o, d) for d in change.inputs),
        values=tuple(_input_out(o, d) for d in change.values),
        ruleset_changed=change.ruleset_changed,
        previous_version=prev.provenance.version,
        previous_content_hash=prev.provenance.content_hash,
        text=text,
    )


# --------------------------------------------------------------------------- provinces


def previous_label(label: str) -> str:
    """The period just before ``label``, of the same kind.

    >>> previous_label("2026-Q2"), previous_label("2026-Q1"), previous_label("2026-01"), previous_label("2026")
    ('2026-Q1', '2025-Q4', '2025-12', '2025')
    """
    period = parse_period(label)
    length = period.last - period.first + 1
    first = period.first - length
    year = period.year
    if first < 1:
        first += 12
        year -= 1
    return type(period)(year, first, first + length - 1).label


def province_change(outcome: ProvinceResult, explanation: Explanation) -> Explanation:
    """The explanation with ``change`` set when the subject has a result in the previous period
    (or year) of the same province run; unchanged otherwise."""
    subject, period = explanation.subject.id, explanation.subject.period
    if period is None:
        return explanation
    before = previous_label(period)
    source = outcome.years if (subject, period) in outcome.years else outcome.results
    prev, cur = source.get((subject, before)), source.get((subject, period))
    role = outcome.province.role_of(subject) or ""
    rules = outcome.bundle.rules_for(role)
    if prev is None or cur is None or rules is None:
        return explanation
    plan = rules.plan
    change = level_change(Previous(prev, plan, outcome.records.get((subject, before))), cur, plan,
                          outcome.records.get((subject, period)))
    return explanation.model_copy(update={"change": change_out(change, explanation.lang)})


def explain_change(rules: RuleSet, raw: Mapping[str, object] | SubjectRecord, previous_rules: RuleSet,
                   previous_raw: Mapping[str, object] | SubjectRecord, lang: str = "vi") -> Explanation:
    """Explain a record with the change since its previous period (``explain --previous``).

    Both records are checked by their rule sets (DiagnosticError for a bad one, or for a
    run-time problem); the current one is rated with a full trace.
    """
    from kpi_rules.explainer import explain

    record = rules.record(raw)
    before = previous_rules.record(previous_raw)
    try:
        result = evaluate_record(rules.plan, record, FullTracer())
        previous = evaluate_record(previous_rules.plan, before)
    except EvaluationError as error:
        raise DiagnosticError([error.diagnostic]) from None
    return explain(result, rules.plan, lang, record=record,
                   previous=Previous(previous, previous_rules.plan, before))

