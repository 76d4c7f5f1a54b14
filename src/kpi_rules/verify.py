"""Verification of a rule file: static proofs and property checks → :class:`VerifyReport`.

``verify_file(path)`` loads a rule file and checks, in order:

``loads``          the file parses, checks and compiles (nothing else runs otherwise)
``bands``          every total from 0 to the maximum has exactly one level (a static proof with
                   exact fractions, not sampling), and every disqualifier names a level
``in-range``       the total stays within ``[0, max]`` and every criterion and group within its own
``evaluates``      no valid record makes evaluation fail (a missing table key, a division by zero)
``monotone``       raising an input declared ``increasing`` never lowers the level or the total
                   (``decreasing``: never raises them)
``disqualifiers``  a disqualifier always wins: the level is the harshest target of the
                   disqualifiers that fired, and never better than the score alone would give
``order``          results depend neither on the order of records nor on the order of list items
``twin``           the text and YAML forms load to equal rule sets and give equal results
``boundaries``     generated cases just below, at and above every band edge (see
                   :mod:`kpi_rules.ruletests`)
``within-max``     (a warning) no criterion's formula exceeds its maximum and is silently capped

Sampled properties draw records with :mod:`kpi_rules.testing` and let hypothesis shrink every
counterexample; runs are derandomized (or seeded) and never write a hypothesis database.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal, TypeVar

from hypothesis import HealthCheck, find, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample, Unsatisfiable

from kpi_rules import nodes
from kpi_rules.compiler import compile_ruleset
from kpi_rules.diagnostics import DiagnosticError
from kpi_rules.engine import RuleSet
from kpi_rules.evaluator import EvaluationError, evaluate_record
from kpi_rules.loader import compile_source, parse_source, read_source, resolve_ruleset
from kpi_rules.parser import parse_ruleset
from kpi_rules.plan import Plan
from kpi_rules.printer import format_ruleset
from kpi_rules.render import explanation_text
from kpi_rules.results import CriterionResult, Result
from kpi_rules.source import SourceFile
from kpi_rules.testing import input_values, json_value, records
from kpi_rules.validator import check_ruleset
from kpi_rules.values import format_exact
from kpi_rules.yaml_form import dump_yaml_ruleset, load_yaml_ruleset

__all__ = ["Counterexample", "PropertyResult", "Status", "VerifyReport", "band_coverage", "verify_file"]

Status = Literal["proved", "passed", "failed", "warning", "skipped"]
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Counterexample:
    """A shrunk example that breaks a property: raw records (JSON data), what it shows, and
    the explanation of each record's rating."""

    records: tuple[dict[str, Any], ...]
    shows: str
    explanations: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PropertyResult:
    name: str
    status: Status
    detail: str
    examples: int = 0
    counterexample: Counterexample | None = None


@dataclass(frozen=True, slots=True)
class VerifyReport:
    path: str
    properties: tuple[PropertyResult, ...]
    ruleset_id: str | None = None
    version: str | None = None

    @property
    def ok(self) -> bool:
        return all(p.status != "failed" for p in self.properties)

    @property
    def failed(self) -> tuple[PropertyResult, ...]:
        return tuple(p for p in self.properties if p.status == "failed")

    def render(self) -> str:
        """The report as plain text: one line per property, then each counterexample."""
        head = f"verify {self.path}"
        if self.ruleset_id:
            head += f" ({self.ruleset_id} {self.version})"
        lines = [head]
        for p in self.properties:
            mark = {"failed": "FAILED"}.get(p.status, p.status)
            lines.append(f"  {mark:<8} {p.name}: {p.detail}")
            example = p.counterexample
            if example is not None:
                shows = "" if example.shows == p.detail else f" {example.shows}"
                count = len(example.records)
                lines.append(f"    counterexample (shrunk{', before and after' if count == 2 else ''}):{shows}")
                for raw in example.records:
                    lines.append("      " + json.dumps(raw, ensure_ascii=False, sort_keys=False))
                for i, text in enumerate(example.explanations, start=1):
                    lines.append(f"    explanation{f' {i} of {count}' if count > 1 else ''}:")
                    lines.extend("      " + line for line in text.rstrip("\n").splitlines())
        failed = len(self.failed)
        lines.append(f"{failed} propert{'y' if failed == 1 else 'ies'} failed" if failed else "all properties hold")
        return "\n".join(lines) + "\n"


class _Budget:
    def __init__(self, examples: int, seed: int | None) -> None:
        self.examples = examples
        self.seed = seed

    def settings(self) -> settings:
        return settings(
            max_examples=self.examples,
            database=None,
            derandomize=self.seed is None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )

    def find(self, strategy: st.SearchStrategy[_T], condition: Callable[[_T], bool]) -> _T | None:
        """The shrunk example satisfying ``condition``, or None when none was found."""
        try:
            return find(strategy, condition, settings=self.settings(),
                        random=random.Random(self.seed) if self.seed is not None else None)
        except (NoSuchExample, Unsatisfiable):
            return None


def verify_file(path: str | Path, *, examples: int = 100, seed: int | None = None, lang: str = "vi",
                boundaries: bool = True) -> VerifyReport:
    """Verify one rule file (``.kpi`` or YAML).

    Args:
        path: the rule file.
        examples: records drawn per sampled property.
        seed: a seed for the random draws; None gives the same (derandomized) run every time.
        lang: the language of the explanations shown with counterexamples.
        boundaries: also run the generated boundary cases.

    Example:
        >>> report = verify_file("criteria/nd335/individual.kpi", examples=20)
        >>> report.ok, [p.status for p in report.properties][:2]
        (True, ['passed', 'proved'])
    """
    if not isinstance(examples, int) or examples < 1:
        raise ValueError(f"examples must be a whole number >= 1, got {examples!r}")
    if lang not in ("vi", "en"):
        raise ValueError(f"lang must be 'vi' or 'en', got {lang!r}")
    name = str(path)
    try:
        source = read_source(path)
        ruleset = parse_source(source)
    except DiagnosticError as error:
        return VerifyReport(name, (PropertyResult("loads", "failed", error.render().rstrip()),))
    results: list[PropertyResult] = []
    try:
        # A rule set that `extends` another is verified as merged onto its parent chain.
        merged = resolve_ruleset(source)[0] if ruleset.extends is not None else ruleset
    except DiagnosticError:
        merged = ruleset
    bands = band_coverage(merged)
    try:
        plan = compile_source(source)
    except DiagnosticError as error:
        results.append(PropertyResult("loads", "failed", error.render().rstrip()))
        results.append(bands)
        return VerifyReport(name, tuple(results), ruleset.id, ruleset.version)
    results.append(PropertyResult("loads", "passed", "the rule file parses, checks and compiles"))
    results.append(bands)
    checker = _Properties(RuleSet(plan), _Budget(examples, seed), lang)
    results.extend([checker.in_range(), checker.evaluates(), checker.monotone(), checker.disqualifiers(),
                    checker.order(), _twin(source, ruleset, checker)])
    if boundaries:
        results.append(checker.boundaries(Path(path)))
    results.append(checker.within_max())
    return VerifyReport(name, tuple(results), ruleset.id, ruleset.version)


# --------------------------------------------------------------------------- static: bands


def _num(x: Fraction) -> str:
    return format_exact(x)


def band_coverage(ruleset: nodes.Ruleset) -> PropertyResult:
    """Prove that every total in ``[0, max]`` falls in exactly one level's band.

    Exact: the bands are half-open ``[from, below)`` intervals of fractions, the top band (no
    ``below``) includes the maximum. A failure names a total with no level or with two.
    """
    if ruleset.criteria is None or ruleset.rating is None or not ruleset.rating.levels:
        return PropertyResult("bands", "skipped", "the rule set has no criteria tree or no rating levels")
    top = ruleset.criteria.max
    rating = ruleset.rating
    names = {lv.name for lv in rating.levels}
    for dq in rating.disqualifiers:
        if dq.target is not None and dq.target not in names:
            return PropertyResult("bands", "failed", f"the disqualifier `{dq.name}` leads to `{dq.target}`, "
                                  "which is not a level")
    # Every point where a band starts or ends, plus the range's ends; each elementary piece
    # (a point, or the open interval between two neighbouring points) is in a band entirely or
    # not at all, so checking one witness per piece is a proof.
    cuts = sorted({Fraction(0), top, *(x for lv in rating.levels for x in (lv.lower, lv.upper)
                                        if x is not None and 0 <= x <= top)})
    witnesses: list[Fraction] = []
    for i, cut in enumerate(cuts):
        witnesses.append(cut)
        if i + 1 < len(cuts):
            witnesses.append((cut + cuts[i + 1]) / 2)
    for w in witnesses:
        owners = [lv.name for lv in rating.levels if _in_band(w, lv)]
        if not owners:
            return PropertyResult("bands", "failed", f"a total of {_num(w)} has no level",
                                  counterexample=Counterexample(({"total": json_value(w)},),
                                                                f"total {_num(w)} lies in no band"))
        if len(owners) > 1:
            return PropertyResult("bands", "failed", f"a total of {_num(w)} is in the bands of "
                                  + " and ".join(f"`{o}`" for o in owners),
                                  counterexample=Counterexample(({"total": json_value(w)},),
                                                                f"total {_num(w)} lies in {len(owners)} bands"))
    parts = []
    for lv in sorted(rating.levels, key=lambda lv: lv.lower if lv.lower is not None else Fraction(0)):
        low = lv.lower if lv.lower is not None else Fraction(0)
        high = f"{_num(lv.upper)})" if lv.upper is not None else f"{_num(top)}]"
        parts.append(f"[{_num(low)}, {high} {lv.name}")
    return PropertyResult("bands", "proved", f"every total from 0 to {_num(top)} has exactly one level: "
                          + ", ".join(parts))


def _in_band(total: Fraction, level: nodes.Level) -> bool:
    return (level.lower is None or total >= level.lower) and (level.upper is None or total < level.upper)


# --------------------------------------------------------------------------- sampled properties


@dataclass(frozen=True, slots=True)
class _Raise:
    """A record, the same record with one monotone input raised, and where."""

    base: dict[str, Any]
    raised: dict[str, Any]
    where: str
    direction: str
    before: object
    after: object


def _same(a: Result, b: Result) -> bool:
    return (a.status, a.total, a.level, a.criteria) == (b.status, b.total, b.level, b.criteria)


class _Properties:
    def __init__(self, rules: RuleSet, budget: _Budget, lang: str) -> None:
        self.rules = rules
        self.plan = rules.plan
        self.budget = budget
        self.lang = lang
        self.records = records(rules)
        rating = self.plan.ruleset.rating
        self.levels = [lv.name for lv in rating.levels] if rating is not None else []

    # ---------------------------------------------------------------- helpers

    def run(self, raw: dict[str, Any]) -> Result | None:
        try:
            return evaluate_record(self.plan, self.rules.record(raw))
        except DiagnosticError:
            return None

    def explain(self, raw: dict[str, Any]) -> str:
        try:
            return explanation_text(self.rules.explain(raw, self.lang))
        except DiagnosticError as error:
            return error.render()

    def example(self, raws: Sequence[dict[str, Any]], shows: str, explain: bool = True) -> Counterexample:
        plain = tuple(_plain(raw) for raw in raws)
        return Counterexample(plain, shows, tuple(self.explain(raw) for raw in raws) if explain else ())

    def rank(self, level: str | None) -> int:
        """0 for the highest level; lower levels rank higher numbers."""
        return self.levels.index(level) if level in self.levels else len(self.levels)

    def sampled(self, name: str, detail: str) -> PropertyResult:
        return PropertyResult(name, "passed", f"{detail} ({self.budget.examples} examples)", self.budget.examples)

    # ---------------------------------------------------------------- properties

    def in_range(self) -> PropertyResult:
        def broken(raw: dict[str, Any]) -> bool:
            result = self.run(raw)
            return result is not None and _range_problem(result, self.levels) is not None

        found = self.budget.find(self.records, broken)
        if found is None:
            return self.sampled("in-range", "the total and every criterion stay within their ranges")
        result = self.run(found)
        assert result is not None
        problem = _range_problem(result, self.levels) or ""
        return PropertyResult("in-range", "failed", problem, counterexample=self.example([found], problem))

    def within_max(self) -> PropertyResult:
        def capped(raw: dict[str, Any]) -> bool:
            result = self.run(raw)
            return result is not None and result.criteria is not None and _capped(result.criteria) is not None

        found = self.budget.find(self.records, capped)
        if found is None:
            return self.sampled("within-max", "no criterion's formula exceeds its maximum")
        result = self.run(found)
        assert result is not None and result.criteria is not None
        node = _capped(result.criteria)
        assert node is not None
        shows = (f"the formula of `{node.name}` gives {_num(node.raw)}, above its max {_num(node.max)}; "
                 f"the points are capped at {_num(node.max)}")
        return PropertyResult("within-max", "warning", shows, counterexample=self.example([found], shows, False))

    def evaluates(self) -> PropertyResult:
        def fails(raw: dict[str, Any]) -> bool:
            try:
                evaluate_record(self.plan, self.rules.record(raw))
            except DiagnosticError:
                return True
            return False

        found = self.budget.find(self.records, fails)
        if found is None:
            return self.sampled("evaluates", "every valid record is rated or has insufficient data")
        try:
            evaluate_record(self.plan, self.rules.record(found))
            shows = "no error on a second run"
        except DiagnosticError as error:
            shows = error.render().strip().splitlines()[0]
        return PropertyResult("evaluates", "failed", shows, counterexample=self.example([found], shows, False))

    def monotone(self) -> PropertyResult:
        strategy = _raises(self.rules)
        if strategy is None:
            return PropertyResult("monotone", "skipped", "no input is declared `increasing` or `decreasing`")

        def worse(case: _Raise) -> bool:
            return self._monotone_problem(case) is not None

        found = self.budget.find(strategy, worse)
        if found is None:
            return self.sampled("monotone", "raising an input declared increasing (decreasing) never lowers "
                                "(raises) the level or the total")
        shows = self._monotone_problem(found) or ""
        example = self.example([found.base, found.raised], shows)
        return PropertyResult("monotone", "failed", shows, counterexample=example)

    def _monotone_problem(self, case: _Raise) -> str | None:
        a, b = self.run(case.base), self.run(case.raised)
        if a is None or b is None or a.status != "rated" or b.status != "rated":
            return None
        if case.direction == "decreasing":
            a, b = b, a  # lowering a decreasing input must never lower the result
        moved = f"raising {case.where} from {_show(case.before)} to {_show(case.after)} (declared {case.direction})"
        if self.rank(b.level) > self.rank(a.level):
            what = "lowered" if case.direction == "increasing" else "raised"
            low, high = (b.level, a.level) if case.direction == "increasing" else (a.level, b.level)
            return f"{moved} {what} the level from {high} to {low}"
        if a.total is not None and b.total is not None and b.total < a.total:
            what = "lowered" if case.direction == "increasing" else "raised"
            least, most = (b.total, a.total) if case.direction == "increasing" else (a.total, b.total)
            return f"{moved} {what} the total from {_num(most)} to {_num(least)}"
        return None

    def disqualifiers(self) -> PropertyResult:
        rating = self.plan.ruleset.rating
        if rating is None or not rating.disqualifiers:
            return PropertyResult("disqualifiers", "skipped", "the rule set has no disqualifiers")
        free = dataclasses.replace(self.plan.ruleset, rating=dataclasses.replace(rating, disqualifiers=()))
        plain = compile_ruleset(check_ruleset(free), content_hash=self.plan.provenance.content_hash)

        def problem(raw: dict[str, Any]) -> str | None:
            result = self.run(raw)
            if result is None or result.decision is None or result.decision.reason == "override":
                return None
            fired = [d for d in result.decision.disqualifiers if d.fired]
            if not fired:
                return None
            harshest = max(fired, key=lambda d: self.rank(d.target))
            if result.level != harshest.target:
                return (f"the disqualifiers {', '.join(f'`{d.name}` (to {d.target})' for d in fired)} fired, "
                        f"but the level is {result.level}, not the harshest target {harshest.target}")
            unfair = evaluate_record(plain, self.rules.record(raw))
            if self.rank(result.level) < self.rank(unfair.level):
                return (f"the disqualifier `{harshest.name}` raised the level from {unfair.level} "
                        f"(what the score alone gives) to {result.level}")
            return None

        found = self.budget.find(self.records, lambda raw: problem(raw) is not None)
        if found is None:
            return self.sampled("disqualifiers", "a disqualifier that fires always decides the level, "
                                "and never improves it")
        shows = problem(found) or ""
        return PropertyResult("disqualifiers", "failed", shows, counterexample=self.example([found], shows))

    def order(self) -> PropertyResult:
        ids = st.integers(1, 99).map(lambda i: f"r{i}")
        batches = st.lists(records(self.rules, ids=ids), min_size=2, max_size=4, unique_by=lambda r: r["id"])
        list_inputs = [d.name for d in self.plan.checked.subject.inputs if isinstance(d.type, nodes.ListType)]

        def problem(batch: list[dict[str, Any]]) -> str | None:
            forward = self.rules.evaluate_many(batch).results
            backward = self.rules.evaluate_many(list(reversed(batch))).results
            by_id = {r.subject_id: r for r in backward}
            for result in forward:
                other = by_id.get(result.subject_id)
                if other is None or not _same(result, other):
                    return f"record {result.subject_id} is rated differently when the records come in reverse order"
            for raw in batch:
                flipped = {**raw, "inputs": {**raw["inputs"], **{
                    name: list(reversed(raw["inputs"][name])) for name in list_inputs if name in raw["inputs"]}}}
                a, b = self.run(raw), self.run(flipped)
                if a is not None and b is not None and not _same(a, b):
                    return f"record {raw['id']} is rated differently with its list items in reverse order"
            return None

        found = self.budget.find(batches, lambda batch: problem(batch) is not None)
        if found is None:
            return self.sampled("order", "results depend neither on record order nor on list item order")
        shows = problem(found) or ""
        return PropertyResult("order", "failed", shows, counterexample=self.example(found, shows, False))

    def twin_results(self, other: Plan, other_path: str) -> PropertyResult | None:
        other_rules = RuleSet(other)

        def differs(raw: dict[str, Any]) -> bool:
            a, b = self.run(raw), _run(other_rules, raw)
            return (a is None) != (b is None) or (a is not None and b is not None and not _same(a, b))

        found = self.budget.find(self.records, differs)
        if found is None:
            return None
        shows = f"this record is rated differently by {other_path}"
        return PropertyResult("twin", "failed", shows, counterexample=self.example([found], shows))

    def boundaries(self, path: Path) -> PropertyResult:
        from kpi_rules.ruletests import boundary_cases, find_tests_file, load_test_file, run_case

        bases: list[dict[str, Any]] = []
        tests_path = find_tests_file(path)
        if tests_path is not None:
            try:
                bases = [case.record for case in load_test_file(tests_path).cases]
            except DiagnosticError:
                bases = []
        cases, notes = boundary_cases(self.rules, bases=bases, examples=self.budget.examples)
        for case in cases:
            outcome = run_case(self.rules, case, lang=self.lang)
            if not outcome.passed:
                shows = f"{case.name}: " + "; ".join(outcome.failures)
                return PropertyResult("boundaries", "failed", shows,
                                      counterexample=self.example([case.record], shows))
        detail = f"{len(cases)} generated cases just below, at and above every band edge hold"
        if notes:
            detail += " (" + "; ".join(notes) + ")"
        return PropertyResult("boundaries", "passed", detail, len(cases))


def _run(rules: RuleSet, raw: dict[str, Any]) -> Result | None:
    try:
        return evaluate_record(rules.plan, rules.record(raw))
    except DiagnosticError:
        return None


def _plain(raw: dict[str, Any]) -> dict[str, Any]:
    value = json_value(raw)
    assert isinstance(value, dict)
    return value


def _show(value: object) -> str:
    plain = json_value(value)
    return json.dumps(plain, ensure_ascii=False) if not isinstance(plain, str) else plain


def _walk(node: CriterionResult) -> list[CriterionResult]:
    out = [node]
    for child in node.children:
        out.extend(_walk(child))
    return out


def _range_problem(result: Result, levels: list[str]) -> str | None:
    if result.status != "rated":
        if result.total is not None or result.level is not None:
            return "a result with insufficient data has a total or a level"
        return None
    tree = result.criteria
    if tree is None or result.total is None:
        return None
    if not 0 <= result.total <= tree.max:
        return f"the total {_num(result.total)} lies outside 0 to {_num(tree.max)}"
    for node in _walk(tree):
        if not 0 <= node.points <= node.max:
            return f"`{node.name}` has {_num(node.points)} points, outside 0 to {_num(node.max)}"
        if node.children:
            raw = sum((-c.points if c.kind == "penalty" else c.points for c in node.children), Fraction(0))
            if raw != node.raw:
                return f"`{node.name}` is not the sum of its children ({_num(node.raw)} ≠ {_num(raw)})"
    if levels and result.level not in levels:
        return f"the total {_num(result.total)} got no level"
    return None


def _capped(node: CriterionResult) -> CriterionResult | None:
    if node.kind == "criterion" and node.raw > node.max:
        return node
    for child in node.children:
        found = _capped(child)
        if found is not None:
            return found
    return None


def _targets(rules: RuleSet) -> list[tuple[str, str | None, nodes.InputDecl]]:
    """(subject input, list field or None, declaration) for every input declared monotone."""
    checked = rules.plan.checked
    out: list[tuple[str, str | None, nodes.InputDecl]] = []
    for decl in checked.subject.inputs:
        if decl.monotone is not None:
            out.append((decl.name, None, decl))
        if isinstance(decl.type, nodes.ListType) and decl.type.item in checked.records:
            out.extend((decl.name, f.name, f) for f in checked.records[decl.type.item].inputs if f.monotone)
    return out


def _raises(rules: RuleSet) -> st.SearchStrategy[_Raise] | None:
    targets = _targets(rules)
    if not targets:
        return None

    @st.composite
    def draw_raise(draw: st.DrawFn) -> _Raise:
        base: dict[str, Any] = draw(records(rules))
        inputs: dict[str, Any] = base["inputs"]
        usable = [t for t in targets if t[1] is None or inputs.get(t[0])]
        if not usable:
            name, field, decl = targets[0]
            if field is not None:
                items: Any = draw(input_values(_list_decl(rules, name), rules, max_items=1).filter(bool))
                inputs = {**inputs, name: [items[0]]}
                base = {**base, "inputs": inputs}
            usable = [targets[0]]
        name, field, decl = draw(st.sampled_from(usable))
        if field is None:
            before = inputs.get(name, _default(decl))
            after = draw(input_values(decl, rules, above=before))
            raised = {**base, "inputs": {**inputs, name: after}}
            return _Raise(base, raised, f"`{name}`", str(decl.monotone), before, after)
        items = list(inputs[name])
        index = draw(st.integers(0, len(items) - 1))
        before = items[index].get(field, _default(decl))
        after = draw(input_values(decl, rules, above=before))
        items[index] = {**items[index], field: after}
        raised = {**base, "inputs": {**inputs, name: items}}
        return _Raise(base, raised, f"`{name}[{index}].{field}`", str(decl.monotone), before, after)

    return draw_raise()


def _list_decl(rules: RuleSet, name: str) -> nodes.InputDecl:
    return next(d for d in rules.plan.checked.subject.inputs if d.name == name)


def _default(decl: nodes.InputDecl) -> object:
    from kpi_rules.values import literal_value

    if decl.default is None:
        return None
    value = literal_value(decl.default)
    return value


# --------------------------------------------------------------------------- the twin


def twin_path(path: Path) -> Path | None:
    """The other form of a rule file: ``x.kpi`` ↔ ``x.yaml`` (or ``x.yml``), if it exists."""
    candidates = [path.with_suffix(".yaml"), path.with_suffix(".yml")] if path.suffix == ".kpi" else [
        path.with_suffix(".kpi")]
    return next((c for c in candidates if c.is_file()), None)


def _twin(source: SourceFile, ruleset: nodes.Ruleset, checker: _Properties) -> PropertyResult:
    other_path = twin_path(Path(source.path))
    if other_path is None:
        # No twin file: both forms must still round-trip to the same rule set.
        try:
            via_yaml = load_yaml_ruleset(SourceFile(source.path + ".yaml", dump_yaml_ruleset(ruleset)))
            via_text = parse_ruleset(SourceFile(source.path + ".kpi", format_ruleset(ruleset)))
        except DiagnosticError as error:
            return PropertyResult("twin", "failed", "the other form does not load back: "
                                  + error.render().strip().splitlines()[0])
        for form, other in (("YAML", via_yaml), ("text", via_text)):
            if other != ruleset:
                return PropertyResult("twin", "failed", f"printed in the {form} form and read back, the rule set "
                                      f"changes: {_first_difference(ruleset, other)}")
        return PropertyResult("twin", "proved", "no twin file; both forms print and read back to an equal rule set")
    try:
        other_source = read_source(other_path)
        other = parse_source(other_source)
        other_plan = compile_source(other_source)
    except DiagnosticError as error:
        return PropertyResult("twin", "failed", f"the twin {other_path} does not load: "
                              + error.render().strip().splitlines()[0])
    if other != ruleset:
        return PropertyResult("twin", "failed", f"{other_path} differs from this file: "
                              f"{_first_difference(ruleset, other)}")
    differs = checker.twin_results(other_plan, str(other_path))
    if differs is not None:
        return differs
    return PropertyResult("twin", "passed", f"{other_path} loads to an equal rule set and gives equal results "
                          f"({checker.budget.examples} examples)", checker.budget.examples)


def _first_difference(a: object, b: object, where: str = "") -> str:
    """Where two syntax trees first differ, as a dotted path with both values."""
    if type(a) is not type(b):
        return f"{where or 'the rule set'}: {type(a).__name__} vs {type(b).__name__}"
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        for f in dataclasses.fields(a):
            if not f.compare:
                continue
            x, y = getattr(a, f.name), getattr(b, f.name)
            if x != y:
                return _first_difference(x, y, f"{where}.{f.name}" if where else f.name)
    if isinstance(a, tuple) and isinstance(b, tuple):
        if len(a) != len(b):
            return f"{where}: {len(a)} items vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                name = getattr(x, "name", None)
                return _first_difference(x, y, f"{where}[{name if isinstance(name, str) else i}]")
    return f"{where}: {a!r} vs {b!r}"
