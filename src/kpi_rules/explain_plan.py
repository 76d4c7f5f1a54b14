"""Explanation skeletons: an explanation as JSON, compiled once per (plan, language), filled per record.

Almost everything in an explanation is the same for every record of a rule set: the criteria
tree, labels, clauses, formulas, band phrases, the shape of the sentences. :func:`skeleton_for`
compiles it once per plan and language (cached on the plan object, like the columnar program):
every fixed part is kept as ready JSON text, every formula "with values" as text fragments split
around the names and aggregates a record's values go into, each with the text printed when no
value is known. Per record only the values are formatted (through caches keyed by the exact
value) and joined in (number texts and formula templates: :mod:`kpi_rules.explain_formulas`).

:func:`explanation_json` writes exactly the bytes ``Explanation.model_dump_json()`` gives for
:func:`kpi_rules.explainer.explain` of the same arguments; :func:`explanation_model` reads them
back into the pydantic model, so the single-record API and bulk output share one source. Parts
that are rare in bulk runs (an insufficient-data reason, periods combined, a cohort or override
decision, related subjects, the next-level advice, the change since the previous period) are
built by the explainer's own functions and their JSON spliced in.

Inputs: a :class:`~kpi_rules.results.Result` (with its trace, if any), its
:class:`~kpi_rules.plan.Plan`, the language and optionally the record. Output: JSON text (one
line) or :class:`~kpi_rules.models.Explanation`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any, cast

from pydantic import TypeAdapter

from kpi_rules import nodes
from kpi_rules.explain_formulas import CACHE_LIMIT, MISSING, Hole, Template, ValueFormats, compile_template
from kpi_rules.explain_parts import _js, cohort_json, periods_json, quota_reason, related_json
from kpi_rules.i18n import LANGUAGES, MessageError, message
from kpi_rules.models import Explanation
from kpi_rules.plan import Plan, per_plan
from kpi_rules.printer import format_expr
from kpi_rules.results import CriterionResult, LevelDecision, Provenance, Result, SubjectRecord, Value
from kpi_rules.values import format_exact

if TYPE_CHECKING:
    from kpi_rules.change import Previous
    from kpi_rules.explainer import _Ctx

__all__ = [
    "ExplanationSkeleton",
    "explanation_json",
    "explanation_lines",
    "explanation_model",
    "fill_formula",
    "skeleton_for",
]

_TOTAL = "\x00total\x00"


def _bool(flag: bool) -> str:
    return "true" if flag else "false"


# --------------------------------------------------------------------------- the skeleton


@dataclass(frozen=True, slots=True)
class _NodeSkel:
    """One node of the criteria tree with its fixed JSON."""

    name: str
    #: The name as JSON.
    id: str
    #: ``,"label":…,"points":`` (after id and kind).
    label: str
    #: ``,"formula":…,"formula_with_values":`` (after max).
    formula: str
    #: ``,"cite":…,"capped":``.
    cite: str
    template: Template | None
    #: The declared maximum and its JSON (a result usually carries this very object).
    max: Fraction
    max_json: str
    #: Groups: (operator, child name) and the formula of names.
    terms: tuple[tuple[str, str], ...]
    children: tuple[_NodeSkel, ...]


@dataclass(frozen=True, slots=True)
class _LetSkel:
    head: str  # '{"id":…,"label":…,'
    tail: str  # ',"formula":…,"formula_with_values":'
    cite: str  # ',"cite":…}'
    template: Template


@dataclass(frozen=True, slots=True)
class _CheckSkel:
    """A level condition or a disqualifier: fixed JSON around its flag and formula."""

    head: str
    tail: str
    cite: str
    template: Template | None


class ExplanationSkeleton:
    """What every explanation of one plan in one language shares, compiled once."""

    def __init__(self, plan: Plan, lang: str) -> None:
        if lang not in LANGUAGES:
            raise MessageError(f"unknown language `{lang}`; supported: {', '.join(LANGUAGES)}")
        from kpi_rules.explainer import _kinds, band_phrase, cite_with_basis

        self.plan, self.lang = plan, lang
        ruleset = plan.checked.ruleset
        self.ruleset = ruleset
        self.kinds = _kinds(ruleset)
        rating = ruleset.rating
        self.levels = {lv.name: lv for lv in rating.levels} if rating is not None else {}
        bounds = tuple(b for lv in self.levels.values() for b in (lv.lower, lv.upper) if b is not None)
        self.formats = ValueFormats(ruleset.display, bounds)
        self._templates: dict[int, tuple[nodes.Expr, Template]] = {}
        self._refs: dict[str, str] = {}
        self._params: dict[tuple[str, dt.date], Value] = {}
        self._reasons: dict[object, list[str]] = {}

        def cite(text: str | None) -> str:
            return _js(cite_with_basis(text, ruleset.basis))

        self._cite = cite
        self.band_phrase = band_phrase
        self.status_text = {s: _js(message(f"status.{s}", lang)) for s in ("rated", "insufficient_data")}
        self.lang_json = _js(lang)
        self.max_json = self.formats.number(ruleset.criteria.max) if ruleset.criteria is not None else "null"
        self.criteria = self._node(ruleset.criteria, None) if ruleset.criteria is not None else None
        order = [s.name for s in plan.steps if s.kind == "let"]
        order.extend(let.name for let in ruleset.lets if let.name not in set(order))
        lets = {let.name: let for let in ruleset.lets}
        self.let_order = tuple(order)
        self.lets: dict[str, _LetSkel] = {}
        for name, let in lets.items():
            label = let.label.get(lang) if let.label else name
            self.lets[name] = _LetSkel(
                '{"id":' + _js(name) + ',"label":' + _js(label) + ",",
                ',"formula":' + _js(format_expr(let.expr)) + ',"formula_with_values":',
                ',"cite":' + cite(let.cite) + "}",
                self.template(let.expr),
            )
        self.conditions: dict[tuple[str, str], _CheckSkel] = {}
        self.disqualifiers: dict[str, _CheckSkel] = {}
        if rating is not None:
            for lv in rating.levels:
                for c in lv.conditions:
                    self.conditions[(lv.name, c.name)] = _CheckSkel(
                        ',"id":' + _js(c.name) + ',"label":' + _js(c.label.get(lang)) + ',"met":',
                        ',"formula":' + _js(format_expr(c.expr)) + ',"formula_with_values":',
                        ',"cite":' + cite(c.cite or lv.cite) + "}", self.template(c.expr))
            for d in rating.disqualifiers:
                self.disqualifiers[d.name] = _CheckSkel(
                    '{"id":' + _js(d.name) + ',"label":' + _js(d.label.get(lang)) + ',"fired":',
                    ',"formula":' + _js(format_expr(d.when)) + ',"formula_with_values":',
                    ',"cite":' + cite(d.cite or rating.cite) + "}", self.template(d.when))
        # Fields of Explanation this module does not know (added later): their defaults.
        known = {"subject", "lang", "status", "status_text", "total", "max", "level", "criteria", "values",
                 "decision", "insufficient", "periods", "provenance", "related", "next_level", "change"}
        self.fields = tuple(Explanation.model_fields)
        self.defaults = {
            name: TypeAdapter(cast(Any, info.annotation)).dump_json(
                info.get_default(call_default_factory=True)).decode()
            for name, info in Explanation.model_fields.items() if name not in known
        }
        self._provenance: tuple[object, str] | None = None
        #: Fixed texts of the parts :mod:`kpi_rules.explain_parts` writes (filled on first use).
        self.parts_texts: dict[str, str] = {}
        #: Decision bodies (conditions to ``override``) of results with nothing in their formulas.
        self.decision_bodies: dict[object, str] = {}

    # ------------------------------------------------------------------ compiled parts

    def cite_json(self, text: str | None) -> str:
        """JSON of a cite with the rule set's legal basis (``_Ctx.cite``)."""
        return self._cite(text)

    def template(self, expr: nodes.Expr) -> Template:
        """The template of a formula (cached by node identity; the plan keeps the nodes alive)."""
        hit = self._templates.get(id(expr))
        if hit is None or hit[0] is not expr:
            hit = self._templates[id(expr)] = (expr, compile_template(expr, self.kinds))
        return hit[1]

    def ref(self, name: str) -> str:
        """JSON of the :class:`~kpi_rules.models.Ref` of a level."""
        hit = self._refs.get(name)
        if hit is None:
            level = self.levels.get(name)
            hit = self._refs[name] = ('{"id":' + _js(name) + ',"label":'
                                      + _js(level.label.get(self.lang) if level else name) + "}")
        return hit

    def param(self, name: str, day: dt.date) -> Value:
        key = (name, day)
        hit = self._params.get(key, MISSING)
        if hit is MISSING:
            version = self.plan.param_version(name, day)
            hit = self._params[key] = version.value if version is not None else MISSING
        return hit  # type: ignore[no-any-return]

    def _node(self, node: nodes.CriteriaTree | nodes.CriteriaItem, inherited: str | None) -> _NodeSkel:
        cite = node.cite or inherited
        label = ',"label":' + _js(node.label.get(self.lang)) + ',"points":'
        if isinstance(node, nodes.Criterion):
            formula = ',"formula":' + _js(format_expr(node.expr)) + ',"formula_with_values":'
            return _NodeSkel(node.name, _js(node.name), label, formula,
                             ',"cite":' + self._cite(cite) + ',"capped":', self.template(node.expr),
                             node.max, self.formats.number(node.max), (), ())
        terms = []
        for i, child in enumerate(node.children):
            minus = isinstance(child, nodes.CriteriaGroup) and child.kind == "penalty"
            terms.append((("-" if i == 0 else " - ") if minus else ("" if i == 0 else " + "), child.name))
        names = "".join(op + name for op, name in terms) if terms else None
        return _NodeSkel(node.name, _js(node.name), label, ',"formula":' + _js(names) + ',"formula_with_values":',
                         ',"cite":' + self._cite(cite) + ',"capped":', None, node.max,
                         self.formats.number(node.max), tuple(terms),
                         tuple(self._node(child, cite) for child in node.children))

    def provenance(self, result: Result) -> str:
        return self.provenance_json(result.provenance)

    def provenance_json(self, p: Provenance) -> str:
        """JSON of the provenance (the plan's own is kept)."""
        if self._provenance is not None and self._provenance[0] is p:
            return self._provenance[1]
        text = ('{"ruleset_id":' + _js(p.ruleset_id) + ',"version":' + _js(p.version) + ',"content_hash":'
                + _js(p.content_hash) + ',"title":' + _js(self.ruleset.title.get(self.lang)) + ',"basis":'
                + _js(self.ruleset.basis) + "}")
        self._provenance = (p, text)
        return text

    def reason(self, decision: LevelDecision) -> list[str] | None:
        """The reason sentence split where the total goes (None: not a common reason)."""
        reason = decision.reason
        if reason == "disqualified":
            key: object = (reason, decision.level, tuple((d.name, d.fired, d.target) for d in decision.disqualifiers))
        elif reason in ("band", "fallthrough"):
            key = (reason, decision.band_level, decision.level)
        else:
            return None
        hit = self._reasons.get(key)
        if hit is None:
            hit = self._reasons[key] = self._reason(decision).split(_TOTAL)
        return hit

    def _reason(self, decision: LevelDecision) -> str:
        lang = self.lang
        level = self._label(decision.level)
        band_level = self.levels.get(decision.band_level)
        band = self.band_phrase(band_level, lang) if band_level else decision.band_level
        if decision.reason == "band":
            return message("reason.band", lang, total=_TOTAL, band=band, level=level)
        if decision.reason == "fallthrough":
            policy = self.ruleset.rating.fallthrough if self.ruleset.rating else "highest_met"
            return message(f"reason.fallthrough_{policy}", lang, total=_TOTAL, band=band,
                           band_level=self._label(decision.band_level), level=level)
        fired = [d for d in decision.disqualifiers if d.fired]
        deciding = [d for d in fired if d.target == decision.level] or fired
        rating = self.ruleset.rating
        labels = []
        for d in deciding:
            decl = next((q for q in rating.disqualifiers if q.name == d.name), None) if rating else None
            labels.append(decl.label.get(lang) if decl else d.name)
        return message("reason.disqualified", lang, disqualifier=message("format.list_separator", lang).join(labels),
                       level=level, total=_TOTAL)

    def _label(self, name: str) -> str:
        level = self.levels.get(name)
        return level.label.get(self.lang) if level else name

    def band(self, name: str) -> str:
        """JSON of the decision's band and level cite: ``"band":{…},"level":``-free parts."""
        key = "band:" + name
        hit = self._refs.get(key)
        if hit is None:
            level = self.levels.get(name)
            rating = self.ruleset.rating
            phrase = self.band_phrase(level, self.lang) if level else name
            hit = self._refs[key] = ('{"level":' + self.ref(name) + ',"phrase":' + _js(phrase) + ',"cite":'
                                     + self._cite((level.cite if level else None) or (rating.cite if rating else None))
                                     + "}")
        return hit

    def level_cite_only(self, name: str) -> str:
        """JSON of the cite of a level alone (a condition the rule set does not declare)."""
        level = self.levels.get(name)
        return self._cite(level.cite if level else None)

    def rating_cite(self) -> str:
        rating = self.ruleset.rating
        return self._cite(rating.cite if rating else None)

    def level_cite(self, name: str) -> str:
        key = "cite:" + name
        hit = self._refs.get(key)
        if hit is None:
            level = self.levels.get(name)
            rating = self.ruleset.rating
            hit = self._refs[key] = self._cite((level.cite if level else None) or (rating.cite if rating else None))
        return hit


def _build_skeletons(plan: Plan) -> dict[str, ExplanationSkeleton]:
    return {}


_per_plan: Callable[[Plan], dict[str, ExplanationSkeleton]] = per_plan(_build_skeletons)


def skeleton_for(plan: Plan, lang: str = "vi") -> ExplanationSkeleton:
    """The skeleton of ``plan`` in ``lang``, compiled on first use and kept with the plan."""
    by_lang = _per_plan(plan)
    hit = by_lang.get(lang)
    if hit is None:
        hit = by_lang[lang] = ExplanationSkeleton(plan, lang)
    return hit


# --------------------------------------------------------------------------- filling


class _Fill:
    """One record's values, read as the explainer reads them."""

    __slots__ = ("skel", "result", "record", "trace", "points", "day", "formats", "_ctx")

    def __init__(self, skel: ExplanationSkeleton, result: Result, record: SubjectRecord | None) -> None:
        self.skel = skel
        self.result = result
        self.record = record
        self.trace: Mapping[int, Value] = result.trace or {}
        points: dict[str, Fraction] = {}
        if result.criteria is not None:
            stack = [result.criteria]
            while stack:
                r = stack.pop()
                points[r.name] = r.points
                stack.extend(r.children)
        self.points = points
        self.day = (record.on if record is not None else None) or skel.ruleset.in_force.start
        self.formats = skel.formats
        self._ctx: _Ctx | None = None

    def ctx(self) -> _Ctx:
        """The explainer's context, for the parts it builds itself."""
        if self._ctx is None:
            from kpi_rules.explainer import _context

            self._ctx = _context(self.result, self.skel.plan, self.skel.lang, self.record)
        return self._ctx

    def value(self, hole: Hole) -> object:
        """The value put into a hole, or ``MISSING`` (the hole prints its own text)."""
        kind = hole.kind
        if kind == "traced":
            return self.trace.get(hole.node_id, MISSING)
        if kind == "let":
            return self.result.values.get(hole.name, MISSING)
        if kind == "criterion":
            return self.points.get(hole.name, MISSING)
        value = self.trace.get(hole.node_id, MISSING)
        if value is not MISSING:
            return value
        if kind == "input":
            record = self.record
            return record.inputs.get(hole.name, MISSING) if record is not None else MISSING
        return self.skel.param(hole.name, self.day)

    def text(self, template: Template) -> str:
        if template.static is not None:
            return template.static
        out: list[str] = []
        plain_of = self.formats.plain
        for part in template.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            kind = part.kind
            if kind == "traced":
                value = self.trace.get(part.node_id, MISSING)
            elif kind == "let":
                value = self.result.values.get(part.name, MISSING)
            elif kind == "criterion":
                value = self.points.get(part.name, MISSING)
            else:
                value = self.value(part)
            plain = None if value is MISSING else plain_of(value)
            if plain is None:
                fallback = part.fallback
                out.append(fallback.static if fallback.static is not None else self.text(fallback))
            elif plain[2] or not part.wrap:
                out.append(plain[0])
            else:
                out.append("(" + plain[0] + ")")
        return "".join(out)

    def with_values(self, template: Template, value: Value) -> str:
        return self.text(template) + self.formats.equals(value)


def fill_formula(plan: Plan, lang: str, result: Result, record: SubjectRecord | None, expr: nodes.Expr,
                 value: Value) -> str:
    """One formula with the values of ``result`` put in, then `` = value`` (for the explainer's
    own parts: an insufficient-data reason, a cohort or override decision)."""
    skel = skeleton_for(plan, lang)
    return _Fill(skel, result, record).with_values(skel.template(expr), value)


def _node_json(f: _Fill, skel: _NodeSkel, res: CriterionResult, out: list[str]) -> None:
    formats = f.formats
    number = formats.number
    max_json = skel.max_json if res.max is skel.max else number(res.max)
    out.append(('{"id":' + (skel.id if res.name == skel.name else _js(res.name)) + ',"kind":"' + res.kind + '"'
                + skel.label + number(res.points) + ',"raw":' + number(res.raw) + ',"max":' + max_json + skel.formula))
    if skel.template is not None:
        out.append(_js(f.with_values(skel.template, res.raw)))
    elif skel.terms:
        terms = []
        for op, name in skel.terms:
            value = f.points.get(name)
            plain = formats.plain(value) if value is not None else None
            terms.append(op + (plain[0] if plain is not None else name))
        out.append(_js("".join(terms) + formats.equals(res.raw)))
    else:
        out.append("null")
    raw, points = res.raw, res.points
    capped = raw is not points and raw != points
    if not capped:
        out.append(skel.cite + 'false,"note":null,"children":[')
    else:
        out.append(skel.cite + 'true,"note":')
        shown = formats.display(raw)
        if raw < 0:
            note = message("points.floored", f.skel.lang, raw=shown)
        else:
            note = message("points.capped", f.skel.lang, max=format_exact(res.max), raw=shown)
        out.append(_js(note) + ',"children":[')
    if skel.children:
        by_name = {c.name: c for c in res.children}
        first = True
        for child in skel.children:
            child_res = by_name.get(child.name)
            if child_res is None:
                continue
            if not first:
                out.append(",")
            first = False
            _node_json(f, child, child_res, out)
    out.append("]}")


def _values_json(f: _Fill, out: list[str]) -> None:
    skel, values, formats, lang = f.skel, f.result.values, f.formats, f.skel.lang
    out.append("[")
    first = True
    for name in skel.let_order:
        value = values.get(name, MISSING)
        if value is MISSING:
            continue
        if not first:
            out.append(",")
        first = False
        let = skel.lets.get(name)
        if isinstance(value, Fraction):
            texts = formats.number_value(value)
        else:
            texts = _value_texts(value, lang)
        if let is None:  # a value the rule set does not declare (hand-built results)
            out.append('{"id":' + _js(name) + ',"label":' + _js(name) + "," + texts
                       + ',"formula":null,"formula_with_values":null,"cite":null}')
            continue
        out.append(let.head)
        out.append(texts)
        out.append(let.tail)
        out.append(_js(f.with_values(let.template, value)))
        out.append(let.cite)
    out.append("]")


def _value_texts(value: Value, lang: str) -> str:
    """``"type":…,"exact":…,"display":…`` of a value that is not a number."""
    if isinstance(value, bool):
        kind, exact, display = "bool", _bool(value), message("value.true" if value else "value.false", lang)
    elif isinstance(value, str):
        kind, exact, display = "text", value, value
    elif isinstance(value, dt.date):
        kind, exact = "date", value.isoformat()
        display = message("format.date", lang, day=f"{value.day:02d}", month=f"{value.month:02d}",
                          year=f"{value.year:04d}")
    elif isinstance(value, tuple):
        kind, exact, display = "list", str(len(value)), message("value.items", lang, count=len(value))
    else:
        kind, exact, display = "none", "", message("value.none", lang)
    return '"type":"' + kind + '","exact":' + _js(exact) + ',"display":' + _js(display)


def _decision_json(f: _Fill, decision: LevelDecision, total: Fraction | None, out: list[str]) -> None:
    skel = f.skel
    cohort = decision.cohort
    reason_text: str | None = None
    if decision.override is None:
        if decision.reason == "quota":
            if cohort is not None:
                reason_text = quota_reason(skel, decision.level, cohort, total)
                cite = skel.cite_json(cohort.cite)
        else:
            reason = skel.reason(decision)
            if reason is not None:
                reason_text = (f.formats.total_text(total) if total is not None else "?").join(reason)
                cite = skel.level_cite(decision.level)
    if reason_text is None:
        from kpi_rules.explainer import _decision

        out.append(_decision(f.ctx(), decision, total).model_dump_json())
        return
    out.append('{"band":' + skel.band(decision.band_level) + ',"level":' + skel.ref(decision.level)
               + ',"reason":"' + decision.reason + '","reason_text":')
    out.append(_js(reason_text))
    out.append(',"cite":' + cite)
    if f.record is None and not f.trace and not f.points and not f.result.values:
        # Nothing of the result goes into the formulas (a year): the conditions, disqualifiers
        # and levels passed over are the same text for every result that has the same ones.
        key = (decision.conditions, decision.disqualifiers, decision.passed_over)
        body = skel.decision_bodies.get(key)
        if body is None:
            parts: list[str] = []
            _decision_body(f, decision, parts)
            if len(skel.decision_bodies) > CACHE_LIMIT:
                skel.decision_bodies.clear()
            body = skel.decision_bodies[key] = "".join(parts)
        out.append(body)
    else:
        _decision_body(f, decision, out)
    out.append('"cohort":' + (cohort_json(skel, cohort) if cohort is not None else "null") + "}")


def _decision_body(f: _Fill, decision: LevelDecision, out: list[str]) -> None:
    """``,"conditions":[…],"disqualifiers":[…],"passed_over":[…],"override":null,`` of a decision."""
    skel = f.skel
    out.append(',"conditions":[')
    for i, cond in enumerate(decision.conditions):
        if i:
            out.append(",")
        out.append('{"level":' + skel.ref(cond.level))
        c = skel.conditions.get((cond.level, cond.name))
        if c is None or c.template is None:
            out.append(',"id":' + _js(cond.name) + ',"label":' + _js(cond.name) + ',"met":' + _bool(cond.met)
                       + ',"formula":null,"formula_with_values":null,"cite":'
                       + skel.level_cite_only(cond.level) + "}")
            continue
        out.append(c.head + _bool(cond.met) + c.tail)
        out.append(_js(f.with_values(c.template, cond.met)))
        out.append(c.cite)
    out.append('],"disqualifiers":[')
    for i, dq in enumerate(decision.disqualifiers):
        if i:
            out.append(",")
        d = skel.disqualifiers.get(dq.name)
        if d is None or d.template is None:
            out.append('{"id":' + _js(dq.name) + ',"label":' + _js(dq.name) + ',"fired":' + _bool(dq.fired)
                       + ',"target":' + skel.ref(dq.target) + ',"formula":null,"formula_with_values":null,"cite":'
                       + skel.rating_cite() + "}")
            continue
        out.append(d.head + _bool(dq.fired) + ',"target":' + skel.ref(dq.target) + d.tail)
        out.append(_js(f.with_values(d.template, dq.fired)))
        out.append(d.cite)
    out.append('],"passed_over":[' + ",".join(skel.ref(name) for name in decision.passed_over)
               + '],"override":null,')


def explanation_json(
    result: Result, plan: Plan, lang: str = "vi", *, record: SubjectRecord | None = None,
    previous: Previous | None = None, advice: bool = True,
) -> str:
    """The explanation of ``result`` as one line of JSON: the bytes (as text) that
    ``explain(result, plan, lang, record=record, previous=previous).model_dump_json()`` gives.

    ``advice=False`` leaves out the next-level advice (``next_level`` is null), which evaluates
    the record again for every input it tries and costs far more than the rest.
    """
    skel = skeleton_for(plan, lang)
    f = _Fill(skel, result, record)
    out: list[str] = ["{"]
    for i, name in enumerate(skel.fields):
        out.append(('"' if i == 0 else ',"') + name + '":')
        if name == "subject":
            out.append('{"id":' + _js(result.subject_id) + ',"name":' + _js(result.subject_name) + ',"period":'
                       + _js(result.period) + "}")
        elif name == "lang":
            out.append(skel.lang_json)
        elif name == "status":
            out.append('"' + result.status + '"')
        elif name == "status_text":
            out.append(skel.status_text[result.status])
        elif name == "total":
            out.append(f.formats.number(result.total) if result.total is not None else "null")
        elif name == "max":
            out.append(skel.max_json)
        elif name == "level":
            out.append(skel.ref(result.decision.level) if result.decision is not None else "null")
        elif name == "criteria":
            if result.criteria is not None and skel.criteria is not None:
                _node_json(f, skel.criteria, result.criteria, out)
            else:
                out.append("null")
        elif name == "values":
            _values_json(f, out)
        elif name == "decision":
            if result.decision is not None:
                _decision_json(f, result.decision, result.total, out)
            else:
                out.append("null")
        elif name == "insufficient":
            if result.insufficient is None:
                out.append("null")
            else:
                from kpi_rules.explainer import _insufficient

                _dump(_insufficient(f.ctx()), out)
        elif name == "periods":
            if result.combined is None:
                out.append("null")
            else:
                out.append(periods_json(skel, result.combined, result.total))
        elif name == "provenance":
            out.append(skel.provenance(result))
        elif name == "related":
            if record is None or not record.related:
                out.append("[]")
            else:
                out.append(related_json(skel, plan, record.related))
        elif name == "next_level":
            if record is None or not advice:
                out.append("null")
            else:
                from kpi_rules.advice import next_level_advice
                from kpi_rules.explainer import _next_level

                _dump(_next_level(f.ctx(), next_level_advice(plan, record, result)), out)
        elif name == "change":
            if previous is None:
                out.append("null")
            else:
                from kpi_rules.explainer import _change

                _dump(_change(previous, result, plan, record, lang), out)
        else:
            out.append(skel.defaults[name])
    out.append("}")
    return "".join(out)


def _dump(model: Any, out: list[str]) -> None:
    out.append("null" if model is None else model.model_dump_json())


def explanation_model(
    result: Result, plan: Plan, lang: str = "vi", *, record: SubjectRecord | None = None,
    previous: Previous | None = None, advice: bool = True,
) -> Explanation:
    """The explanation as the pydantic model, read back from :func:`explanation_json`.

    pydantic's own JSON validation is used: measured, it is faster than ``json.loads`` plus
    building the models in Python without validation (about 160 µs against 250 µs for an
    individual.kpi explanation), and it checks what it reads.
    """
    return Explanation.model_validate_json(
        explanation_json(result, plan, lang, record=record, previous=previous, advice=advice))


def explanation_lines(
    items: Iterable[tuple[Result, SubjectRecord | None]], plan: Plan, lang: str = "vi", *, advice: bool = False,
) -> Iterator[str]:
    """Explanations as JSON lines (each ends with ``\\n``), for bulk output: one per (result, record).

    The next-level advice is left out unless ``advice=True`` (it evaluates each record again
    for every input it tries).
    """
    for result, record in items:
        yield explanation_json(result, plan, lang, record=record, advice=advice) + "\n"
