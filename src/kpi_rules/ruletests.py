"""Tests beside the rules: ``*.tests.yaml`` files → cases → pass/fail with clear differences.

A test file sits next to its rule file (``individual.kpi`` ↔ ``individual.tests.yaml``) and
says, for given inputs, which status, level, total, points, values and explanation fragments
to expect::

    rules: individual.kpi          # optional: the rule file, relative to this file
    given:                         # optional: inputs shared by every case (a case overrides them)
      general_i1: 5
    cases:
      - name: worked example 1
        given: {tasks: [{product: VB-HC, assigned: 10, completed: 10}]}
        on: 2026-03-31             # optional: the evaluation day
        override: {...}            # optional: an authorised decision (see docs/verification.md)
        related: {unit: {id: u1, total: 72, level: good}}   # optional: related subjects' results
        expect:
          status: rated
          level: good
          total: 74.578125         # a YAML number is exact; "74.58" (quoted) is the display text
          points: {tasks_points: 47.578125}
          values: {a: 68.75}
          explanation_contains: ["Hoàn thành tốt nhiệm vụ"]
          lang: vi                 # the language of the explanation fragments (default vi)

Numbers are read from their text, so ``0.1`` is exactly one tenth. The file is read with the
safe YAML rules of :mod:`kpi_rules.safe_yaml` (no duplicate keys, no aliases); problems are
reported as KR9xx diagnostics with their line.

:func:`boundary_cases` generates further cases from a rule set's own thresholds: for every
band edge, inputs that give a total just below, exactly at and just above it; each
disqualifier on and off; and nothing assigned.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

from kpi_rules import nodes
from kpi_rules.diagnostics import Diagnostic, DiagnosticError
from kpi_rules.engine import RuleSet, load
from kpi_rules.evaluator import evaluate_record
from kpi_rules.render import explanation_text
from kpi_rules.results import Result
from kpi_rules.safe_yaml import SafeYamlError, load_safe_yaml
from kpi_rules.source import SourceFile, Span
from kpi_rules.typecheck import suggest
from kpi_rules.values import format_exact, format_number, to_fraction

__all__ = [
    "CaseOutcome",
    "Expect",
    "FileOutcome",
    "TestCase",
    "TestFile",
    "boundary_cases",
    "find_tests_file",
    "load_test_file",
    "rules_path_for",
    "run_case",
    "run_test_file",
]

TESTS_SUFFIX = ".tests.yaml"
_CASE_KEYS = ("name", "given", "on", "override", "related", "expect", "id")
_EXPECT_KEYS = ("status", "level", "band", "total", "points", "values", "explanation_contains", "lang")
_RULE_SUFFIXES = (".kpi", ".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class Expect:
    """What a case expects; None (or empty) means "not checked"."""

    status: str | None = None
    level: str | None = None
    #: The level whose score band holds the total (before conditions and disqualifiers).
    band: str | None = None
    total: Fraction | None = None
    #: The total as displayed with the rule set's ``display`` rounding, e.g. ``"74.58"``.
    total_display: str | None = None
    points: Mapping[str, Fraction] = field(default_factory=dict)
    values: Mapping[str, object] = field(default_factory=dict)
    explanation_contains: tuple[str, ...] = ()
    lang: str = "vi"


@dataclass(frozen=True, slots=True)
class TestCase:
    """One case: a raw record (as a record file holds it) and what to expect."""

    __test__ = False  # not a pytest class

    name: str
    record: dict[str, Any]
    expect: Expect
    line: int | None = None
    #: Spans of the names in ``expect.points``/``expect.values`` (for KR903).
    name_spans: Mapping[str, Span] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class TestFile:
    __test__ = False

    path: Path
    rules_path: Path
    cases: tuple[TestCase, ...]


@dataclass(frozen=True, slots=True)
class CaseOutcome:
    name: str
    passed: bool
    #: One line per difference: ``level: expected good, got complete``.
    failures: tuple[str, ...] = ()
    explanation: str | None = None
    line: int | None = None


@dataclass(frozen=True, slots=True)
class FileOutcome:
    path: Path
    rules_path: Path | None
    outcomes: tuple[CaseOutcome, ...]
    problems: tuple[Diagnostic, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.problems and all(o.passed for o in self.outcomes)


# --------------------------------------------------------------------------- finding files


def rules_path_for(tests_path: Path) -> Path:
    """The rule file a test file tests by default: ``x.tests.yaml`` → ``x.kpi``."""
    return tests_path.with_name(tests_path.name[: -len(TESTS_SUFFIX)] + ".kpi")


def find_tests_file(rules_path: Path) -> Path | None:
    """The test file beside a rule file (``x.kpi`` or ``x.yaml`` → ``x.tests.yaml``), if any."""
    candidate = rules_path.with_name(rules_path.stem + TESTS_SUFFIX)
    return candidate if candidate.is_file() else None


# --------------------------------------------------------------------------- loading


class _Reader:
    def __init__(self, source: SourceFile) -> None:
        self.source = source
        self.problems: list[Diagnostic] = []

    def span(self, node: yaml.Node) -> Span:
        return Span(self.source, node.start_mark.index, max(node.start_mark.index, node.end_mark.index))

    def problem(self, node: yaml.Node | None, message: str, hint: str | None = None, code: str = "KR901") -> None:
        span = self.span(node) if node is not None else None
        self.problems.append(Diagnostic(code, message, span, hint=hint, where=None if span else self.source.path))

    def mapping(self, node: yaml.Node, what: str, keys: Sequence[str]) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, f"{what} must be a mapping")
            return {}
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key, value in node.value:
            name = str(key.value)
            if name not in keys:
                self.problem(key, f"`{name}` is not a field of {what}", "the fields are " + ", ".join(keys))
                continue
            out[name] = (key, value)
        return out

    def value(self, node: yaml.Node) -> Any:
        """Plain data with exact numbers (int or Decimal), dates kept as text."""
        if isinstance(node, yaml.MappingNode):
            return {str(k.value): self.value(v) for k, v in node.value}
        if isinstance(node, yaml.SequenceNode):
            return [self.value(v) for v in node.value]
        assert isinstance(node, yaml.ScalarNode)
        text = node.value
        if node.style in ("'", '"'):
            return text
        if node.tag.endswith(":null"):
            return None
        if node.tag.endswith(":bool") and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if node.tag.endswith(":int") or node.tag.endswith(":float"):
            try:
                number = Decimal(text.replace("_", ""))
            except InvalidOperation:
                return text
            return int(number) if number == number.to_integral_value() and "." not in text else number
        return text

    def text(self, node: yaml.Node, what: str) -> str | None:
        if not isinstance(node, yaml.ScalarNode) or node.tag.endswith(":null"):
            self.problem(node, f"{what} must be text")
            return None
        return str(node.value)

    def number(self, node: yaml.Node, what: str) -> Fraction | None:
        if isinstance(node, yaml.ScalarNode) and not node.tag.endswith(":null"):
            text = node.value.strip()
            try:
                return Fraction(text) if "/" in text else to_fraction(text)
            except (ValueError, ZeroDivisionError):
                pass
        self.problem(node, f"{what} must be an exact number (like 74.578125 or \"1193/16\")")
        return None


def load_test_file(path: str | Path) -> TestFile:
    """Read a ``*.tests.yaml`` file. Raises DiagnosticError (KR901, KR902) with every problem."""
    p = Path(path)
    try:
        source = SourceFile.read(p)
    except OSError as error:
        raise DiagnosticError([Diagnostic("KR601", f"cannot read the file: {error.strerror}", where=str(p))]) from None
    except UnicodeDecodeError:
        raise DiagnosticError([Diagnostic("KR901", "the test file is not UTF-8 text", where=str(p))]) from None
    try:
        load_safe_yaml(source.text)
    except SafeYamlError as error:
        raise DiagnosticError([Diagnostic("KR901", str(error), where=str(p))]) from None
    root = yaml.compose(source.text, Loader=yaml.SafeLoader)
    reader = _Reader(source)
    if root is None:
        raise DiagnosticError([Diagnostic("KR901", "the test file is empty", where=str(p),
                                          hint="write `cases:` with a list of cases")])
    if isinstance(root, yaml.SequenceNode):
        fields: dict[str, tuple[yaml.Node, yaml.Node]] = {"cases": (root, root)}
    else:
        fields = reader.mapping(root, "a test file", ("rules", "given", "cases"))
    rules_path = rules_path_for(p) if p.name.endswith(TESTS_SUFFIX) else p.with_suffix(".kpi")
    if "rules" in fields:
        name = reader.text(fields["rules"][1], "`rules`")
        if name is not None:
            rules_path = p.parent / name
    if not rules_path.is_file():
        node = fields["rules"][1] if "rules" in fields else None
        reader.problem(node, f"the rule file {rules_path} does not exist",
                       "put the test file beside its rule file (x.kpi and x.tests.yaml), or name it with `rules:`",
                       code="KR902")
    shared: dict[str, Any] = {}
    if "given" in fields:
        value = reader.value(fields["given"][1])
        if isinstance(value, dict):
            shared = value
        else:
            reader.problem(fields["given"][1], "`given` must be a mapping of input names to values")
    cases: list[TestCase] = []
    if "cases" not in fields:
        reader.problem(root, "the test file has no `cases`", "add `cases:` with a list of cases")
    else:
        node = fields["cases"][1]
        if not isinstance(node, yaml.SequenceNode):
            reader.problem(node, "`cases` must be a list")
        else:
            names: set[str] = set()
            for index, item in enumerate(node.value, start=1):
                case = _case(reader, item, index, shared)
                if case is None:
                    continue
                if case.name in names:
                    reader.problem(item, f"two cases are named `{case.name}`", "give each case its own name")
                names.add(case.name)
                cases.append(case)
    if reader.problems:
        raise DiagnosticError(reader.problems)
    return TestFile(p, rules_path, tuple(cases))


def _case(reader: _Reader, node: yaml.Node, index: int, shared: Mapping[str, Any]) -> TestCase | None:
    fields = reader.mapping(node, f"case {index}", _CASE_KEYS)
    if not fields and not isinstance(node, yaml.MappingNode):
        return None
    name = reader.text(fields["name"][1], "a case's `name`") if "name" in fields else None
    if "name" not in fields:
        reader.problem(node, f"case {index} has no `name`", "give every case a `name`")
    inputs = dict(shared)
    if "given" in fields:
        given = reader.value(fields["given"][1])
        if isinstance(given, dict):
            inputs.update(given)
        else:
            reader.problem(fields["given"][1], "`given` must be a mapping of input names to values")
    record: dict[str, Any] = {"id": f"case-{index}", "name": name or f"case {index}", "inputs": inputs}
    if "id" in fields:
        record["id"] = reader.value(fields["id"][1])
    for key in ("on", "override", "related"):
        if key in fields:
            record[key] = reader.value(fields[key][1])
    if "expect" not in fields:
        reader.problem(node, f"case `{name or index}` has no `expect`", "say what the case expects, e.g. `level`")
        return None
    expect, spans = _expect(reader, fields["expect"][1])
    return TestCase(name or f"case {index}", record, expect, node.start_mark.line + 1, spans)


def _expect(reader: _Reader, node: yaml.Node) -> tuple[Expect, dict[str, Span]]:
    fields = reader.mapping(node, "`expect`", _EXPECT_KEYS)
    spans: dict[str, Span] = {}
    out: dict[str, Any] = {}
    for key in ("status", "level", "band", "lang"):
        if key in fields:
            out[key] = reader.text(fields[key][1], f"`expect.{key}`")
    if out.get("status") not in (None, "rated", "insufficient_data"):
        reader.problem(fields["status"][1], f"`{out['status']}` is not a status", "write rated or insufficient_data")
    if out.get("lang") not in (None, "vi", "en"):
        reader.problem(fields["lang"][1], f"`{out['lang']}` is not a language", "write vi or en")
    if "total" in fields:
        total = fields["total"][1]
        if isinstance(total, yaml.ScalarNode) and total.style in ("'", '"') and "/" not in total.value:
            out["total_display"] = total.value
        else:
            out["total"] = reader.number(total, "`expect.total`")
    for key in ("points", "values"):
        if key not in fields:
            continue
        mapping = fields[key][1]
        if not isinstance(mapping, yaml.MappingNode):
            reader.problem(mapping, f"`expect.{key}` must be a mapping of names to values")
            continue
        entries: dict[str, Any] = {}
        for k, v in mapping.value:
            spans[f"{key}.{k.value}"] = reader.span(k)
            if key == "points":
                entries[str(k.value)] = reader.number(v, f"`expect.points.{k.value}`")
            else:
                value = reader.value(v)
                entries[str(k.value)] = to_fraction(value) if isinstance(value, (int, Decimal)) else value
        out[key] = entries
    if "explanation_contains" in fields:
        fragments = reader.value(fields["explanation_contains"][1])
        if isinstance(fragments, str):
            fragments = [fragments]
        if not isinstance(fragments, list) or not all(isinstance(f, str) for f in fragments):
            reader.problem(fields["explanation_contains"][1], "`expect.explanation_contains` must be a list of text")
        else:
            out["explanation_contains"] = tuple(fragments)
    if out.get("lang") is None:
        out.pop("lang", None)
    return Expect(**out), spans


# --------------------------------------------------------------------------- running


def _names(rules: RuleSet) -> tuple[set[str], set[str]]:
    plan = rules.plan
    criteria = {s.name for s in plan.steps if s.kind in ("criterion", "group", "total")}
    lets = {s.name for s in plan.steps if s.kind == "let"}
    return criteria, lets


def check_names(rules: RuleSet, test_file: TestFile) -> list[Diagnostic]:
    """KR903 for every ``points`` or ``values`` name that the rule set does not define."""
    criteria, lets = _names(rules)
    problems = []
    for case in test_file.cases:
        for kind, known, names in (("points", criteria, case.expect.points), ("values", lets, case.expect.values)):
            for name in names:
                if name not in known:
                    word = "criterion or group" if kind == "points" else "let"
                    problems.append(Diagnostic(
                        "KR903", f"`{name}` is not a {word} of {test_file.rules_path.name}",
                        case.name_spans.get(f"{kind}.{name}"),
                        hint=suggest(name, known) or "the names are " + ", ".join(sorted(known)),
                    ))
    return problems


def _show(value: object) -> str:
    if isinstance(value, Fraction):
        return format_exact(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _criteria_points(result: Result) -> dict[str, Fraction]:
    out: dict[str, Fraction] = {}
    stack = [result.criteria] if result.criteria is not None else []
    while stack:
        node = stack.pop()
        out[node.name] = node.points
        stack.extend(node.children)
    return out


def run_case(rules: RuleSet, case: TestCase, *, lang: str | None = None) -> CaseOutcome:
    """Run one case; every difference from the expectation is one line of ``failures``."""
    expect = case.expect
    lang = lang or expect.lang
    try:
        record = rules.record(case.record)
        result = evaluate_record(rules.plan, record)
    except DiagnosticError as error:
        return CaseOutcome(case.name, False, ("the record was rejected: " + error.render().strip(),), line=case.line)
    failures: list[str] = []

    def differ(what: str, want: object, got: object) -> None:
        if want != got:
            failures.append(f"{what}: expected {_show(want)}, got {_show(got) if got is not None else 'nothing'}")

    if expect.status is not None:
        differ("status", expect.status, result.status)
    if expect.level is not None:
        differ("level", expect.level, result.level)
    if expect.band is not None:
        differ("band", expect.band, result.decision.band_level if result.decision else None)
    if expect.total is not None:
        differ("total", expect.total, result.total)
    if expect.total_display is not None:
        display = rules.plan.ruleset.display
        shown = format_number(result.total, display.decimals, display.mode) if result.total is not None else None
        differ("total (displayed)", expect.total_display, shown)
    points = _criteria_points(result)
    for name, want in expect.points.items():
        differ(f"points of `{name}`", want, points.get(name))
    for name, want_value in expect.values.items():
        differ(f"value of `{name}`", want_value, result.values.get(name))
    text: str | None = None
    if expect.explanation_contains or failures:
        explanation = rules.explain(record, lang)
        text = explanation_text(explanation)
        flat = " ".join(explanation_text(explanation, width=100_000).split())
        for fragment in expect.explanation_contains:
            if " ".join(fragment.split()) not in flat:
                failures.append(f"explanation ({lang}): does not contain {fragment!r}")
    return CaseOutcome(case.name, not failures, tuple(failures), text if failures else None, case.line)


def run_test_file(path: str | Path, *, lang: str | None = None) -> FileOutcome:
    """Load a test file and its rule file, and run every case."""
    try:
        test_file = load_test_file(path)
        rules = load(test_file.rules_path)
    except DiagnosticError as error:
        return FileOutcome(Path(path), None, (), tuple(error.diagnostics))
    problems = check_names(rules, test_file)
    if problems:
        return FileOutcome(test_file.path, test_file.rules_path, (), tuple(problems))
    outcomes = tuple(run_case(rules, case, lang=lang) for case in test_file.cases)
    return FileOutcome(test_file.path, test_file.rules_path, outcomes)


# --------------------------------------------------------------------------- boundary cases


def _band_owner(ruleset: nodes.Ruleset, total: Fraction) -> nodes.Level | None:
    assert ruleset.rating is not None
    return next((lv for lv in ruleset.rating.levels
                 if (lv.lower is None or total >= lv.lower) and (lv.upper is None or total < lv.upper)), None)


def _sweep_inputs(rules: RuleSet) -> list[nodes.InputDecl]:
    """Numeric inputs with both bounds, not read by a disqualifier or a level condition."""
    from kpi_rules.testing import walk_exprs

    ruleset = rules.plan.ruleset
    guarded: set[str] = set()
    if ruleset.rating is not None:
        only_rating = _replace(ruleset, lets=(), criteria=None)
        guarded = {e.name for e in walk_exprs(only_rating) if isinstance(e, nodes.Var)}
    return [d for d in rules.plan.checked.subject.inputs
            if isinstance(d.type, nodes.ScalarType) and d.type.name in ("number", "percent", "points")
            and d.min is not None and d.max is not None and d.name not in guarded and d.monotone != "decreasing"]


def _replace(ruleset: nodes.Ruleset, **changes: Any) -> nodes.Ruleset:
    import dataclasses

    return dataclasses.replace(ruleset, **changes)


def _raw(record: Mapping[str, Any]) -> dict[str, Any]:
    return {**record, "inputs": dict(record["inputs"])}


class _Sweep:
    """The total as a function of ``s`` in [0, 1]: every sweep input moved from min to max."""

    def __init__(self, rules: RuleSet, base: dict[str, Any], inputs: list[nodes.InputDecl]) -> None:
        self.rules = rules
        self.base = base
        self.inputs = inputs
        self.cache: dict[Fraction, Fraction | None] = {}

    def record(self, s: Fraction) -> dict[str, Any]:
        raw = _raw(self.base)
        for d in self.inputs:
            assert d.min is not None and d.max is not None
            raw["inputs"][d.name] = d.min + s * (d.max - d.min)
        return raw

    def total(self, s: Fraction) -> Fraction | None:
        if s not in self.cache:
            try:
                result = evaluate_record(self.rules.plan, self.rules.record(self.record(s)))
                self.cache[s] = result.total if result.status == "rated" else None
            except DiagnosticError:
                self.cache[s] = None
        return self.cache[s]

    def solve(self, target: Fraction) -> Fraction | None:
        """An exact ``s`` with ``total(s) == target``, by bisection with secant steps."""
        lo, hi = Fraction(0), Fraction(1)
        t_lo, t_hi = self.total(lo), self.total(hi)
        if t_lo is None or t_hi is None:
            return None
        if t_lo > t_hi:
            lo, hi, t_lo, t_hi = hi, lo, t_hi, t_lo
        if not t_lo <= target <= t_hi:
            return None
        for _ in range(80):
            if t_lo == target:
                return lo
            if t_hi == target:
                return hi
            guesses = [lo + (target - t_lo) * (hi - lo) / (t_hi - t_lo), (lo + hi) / 2]
            for s in guesses:
                t = self.total(s)
                if t is None:
                    return None
                if t == target:
                    return s
                if t < target:
                    lo, t_lo = s, t
                else:
                    hi, t_hi = s, t
        return None


def boundary_cases(rules: RuleSet, *, bases: Sequence[Mapping[str, Any]] = (),
                   examples: int = 50) -> tuple[list[TestCase], list[str]]:
    """Cases generated from the rule set's thresholds, with their expectations.

    For every band edge: a total just below it, exactly at it and just above it (the step is
    one tenth of the displayed precision, so 89.999 shows as "90.00" and must still be "good").
    The general inputs (numbers with both bounds) are moved together to reach each total
    exactly; the other inputs come from ``bases`` (e.g. the cases of the test file) or from
    generated records. Then every disqualifier on and off, and a record with empty lists
    (nothing assigned), which must give insufficient data when the rule set can say so.

    Returns the cases and notes about edges that no base could reach.
    """
    ruleset = rules.plan.ruleset
    if ruleset.criteria is None or ruleset.rating is None or not ruleset.rating.levels:
        return [], ["no criteria tree or no rating"]
    candidates = [_raw(b) for b in bases] + _generated(rules, examples)
    inputs = _sweep_inputs(rules)
    display = ruleset.display
    step = Fraction(1, 10 ** (display.decimals + 1))
    top = ruleset.criteria.max
    edges = sorted({x for lv in ruleset.rating.levels for x in (lv.lower, lv.upper) if x is not None and 0 < x < top})
    cases: list[TestCase] = []
    notes: list[str] = []
    sweeps = [_Sweep(rules, _without_disqualifiers(rules, b), inputs) for b in candidates] if inputs else []
    at_top: dict[str, Any] | None = None
    for edge in [*edges, top]:
        targets = [("at", edge)] if edge == top else [("just below", edge - step), ("at", edge), ("just above", edge + step)]
        for where, total in targets:
            found = next(((sw, s) for sw in sweeps for s in [sw.solve(total)] if s is not None), None)
            if found is None:
                notes.append(f"no generated record reaches a total of {format_exact(total)}")
                continue
            sweep, s = found
            record = sweep.record(s)
            owner = _band_owner(ruleset, total)
            assert owner is not None
            record["id"] = f"edge-{format_exact(edge)}-{where.replace(' ', '-')}"
            level = owner.name if not owner.conditions else None
            cases.append(TestCase(f"total {where} {format_exact(edge)} ({format_exact(total)}) is {owner.name}",
                                  record, Expect(status="rated", band=owner.name, level=level, total=total)))
            if edge == top or at_top is None:
                at_top = record
    if at_top is not None:
        cases.extend(_disqualifier_cases(rules, at_top))
    cases.extend(_nothing_assigned(rules, candidates))
    return cases, notes


def _generated(rules: RuleSet, examples: int) -> list[dict[str, Any]]:
    from hypothesis import HealthCheck, given, settings

    from kpi_rules.testing import records

    out: list[dict[str, Any]] = []

    @settings(max_examples=examples, database=None, derandomize=True, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(records(rules, optional_missing=False))
    def collect(raw: dict[str, Any]) -> None:
        try:
            result = evaluate_record(rules.plan, rules.record(raw))
        except DiagnosticError:
            return
        if result.status == "rated":
            out.append(raw)

    collect()
    # The records with the highest totals first: they reach the most edges.
    return sorted(out, key=lambda raw: -(_total(rules, raw) or 0))


def _total(rules: RuleSet, raw: dict[str, Any]) -> Fraction | None:
    try:
        return evaluate_record(rules.plan, rules.record(raw)).total
    except DiagnosticError:
        return None


def _disqualifier_inputs(rules: RuleSet) -> dict[str, list[object]]:
    """Every input read by a disqualifier, with candidate values (off first, then on)."""
    from kpi_rules.testing import thresholds, walk_exprs

    ruleset = rules.plan.ruleset
    assert ruleset.rating is not None
    only = _replace(ruleset, lets=(), criteria=None,
                             rating=_without_conditions(ruleset.rating))
    read = {e.name for e in walk_exprs(only) if isinstance(e, nodes.Var)}
    out: dict[str, list[object]] = {}
    for d in rules.plan.checked.subject.inputs:
        if d.name not in read:
            continue
        t = d.type
        if isinstance(t, nodes.OneOfType):
            out[d.name] = list(t.members)
        elif isinstance(t, nodes.ScalarType) and t.name == "bool":
            out[d.name] = [False, True]
        elif isinstance(t, nodes.ScalarType) and t.name in ("number", "percent", "points"):
            values = {y for x in thresholds(rules) for y in (x, x - 1, x + 1)}
            out[d.name] = [v for v in sorted(values) if (d.min is None or v >= d.min) and (d.max is None or v <= d.max)]
    return out


def _without_conditions(rating: nodes.Rating) -> nodes.Rating:
    import dataclasses

    return dataclasses.replace(rating, levels=tuple(dataclasses.replace(lv, conditions=()) for lv in rating.levels))


def _without_disqualifiers(rules: RuleSet, raw: dict[str, Any]) -> dict[str, Any]:
    """The record with every disqualifier off (when some assignment of its inputs does that)."""
    assignment = _assignment(rules, raw, fire=None)
    return assignment if assignment is not None else raw


def _assignment(rules: RuleSet, raw: dict[str, Any], fire: str | None) -> dict[str, Any] | None:
    """A copy of ``raw`` whose disqualifier inputs make exactly ``fire`` fire (None: none)."""
    choices = _disqualifier_inputs(rules)
    names = list(choices)
    for combo in itertools.islice(itertools.product(*(choices[n] for n in names)), 2000):
        candidate = _raw(raw)
        candidate["inputs"].update(zip(names, combo))
        try:
            result = evaluate_record(rules.plan, rules.record(candidate))
        except DiagnosticError:
            continue
        if result.decision is None:
            return candidate if fire is None else None
        fired = {d.name for d in result.decision.disqualifiers if d.fired}
        if fired == ({fire} if fire else set()):
            return candidate
    return None


def _disqualifier_cases(rules: RuleSet, record: dict[str, Any]) -> list[TestCase]:
    rating = rules.plan.ruleset.rating
    assert rating is not None
    lowest = rating.levels[-1].name
    cases = []
    off = _assignment(rules, record, None)
    if off is not None and rating.disqualifiers:
        off["id"] = "disqualifiers-off"
        total = _total(rules, off)
        owner = _band_owner(rules.plan.ruleset, total) if total is not None else None
        if owner is not None and not owner.conditions:
            cases.append(TestCase(f"every disqualifier off: the score decides ({owner.name})", off,
                                  Expect(status="rated", level=owner.name)))
    for dq in rating.disqualifiers:
        on = _assignment(rules, record, dq.name)
        if on is None:
            continue
        on["id"] = f"disqualifier-{dq.name}"
        target = dq.target or lowest
        cases.append(TestCase(f"disqualifier `{dq.name}` on: {target} whatever the score", on,
                              Expect(status="rated", level=target)))
    return cases


def _nothing_assigned(rules: RuleSet, candidates: Sequence[dict[str, Any]]) -> list[TestCase]:
    from kpi_rules.testing import walk_exprs

    lists = [d.name for d in rules.plan.checked.subject.inputs if isinstance(d.type, nodes.ListType)]
    if not lists or not candidates:
        return []
    record = _raw(candidates[0])
    record["id"] = "nothing-assigned"
    record["inputs"].update({name: [] for name in lists})
    says_insufficient = any(isinstance(e, nodes.InsufficientData) for e in walk_exprs(rules.plan.ruleset))
    expect = Expect(status="insufficient_data") if says_insufficient else Expect(status="rated")
    return [TestCase("nothing assigned: " + ("insufficient data" if says_insufficient else "still rated"),
                     record, expect)]


# --------------------------------------------------------------------------- the command line


@dataclass(frozen=True, slots=True)
class Target:
    """What ``kpi-rules test`` runs for one argument: a test file and/or a rule file."""

    tests: Path | None
    rules: Path | None


def collect_test_targets(paths: Sequence[Path]) -> list[Target]:
    """Test files, rule files (their ``x.tests.yaml``) and directories (both, recursively)."""
    targets: list[Target] = []
    for path in paths:
        if path.is_dir():
            tests = sorted(path.rglob("*" + TESTS_SUFFIX))
            tested = {rules_path_for(t) for t in tests}
            targets.extend(Target(t, rules_path_for(t)) for t in tests)
            targets.extend(Target(None, k) for k in sorted(path.rglob("*.kpi")) if k not in tested)
        elif path.name.endswith(TESTS_SUFFIX):
            targets.append(Target(path, None))
        else:
            targets.append(Target(find_tests_file(path), path))
    return targets


def run_target(target: Target, *, lang: str | None = None, boundaries: bool = False) -> tuple[str, int, int]:
    """Run one target; returns the report text and the numbers of passed and failed cases."""
    lines: list[str] = []
    passed = failed = 0
    rules_path = target.rules
    if target.tests is None:
        assert rules_path is not None
        problem = Diagnostic("KR904", f"the rule set has no tests: {rules_path.stem + TESTS_SUFFIX} is missing",
                             where=str(rules_path),
                             hint="write the tests beside the rule file (see docs/verification.md)")
        lines.append(problem.render())
        failed += 1
    else:
        outcome = run_test_file(target.tests, lang=lang)
        rules_path = outcome.rules_path or rules_path
        lines.append(f"{target.tests}" + (f" ({outcome.rules_path})" if outcome.rules_path else ""))
        for diagnostic in outcome.problems:
            lines.append(diagnostic.render())
            failed += 1
        for case in outcome.outcomes:
            passed, failed = _report_case(lines, case, passed, failed)
    if boundaries and rules_path is not None and rules_path.is_file():
        try:
            rules = load(rules_path)
        except DiagnosticError as error:
            lines.append(error.render())
            return "\n".join(lines) + "\n", passed, failed + 1
        bases: list[dict[str, Any]] = []
        tests_path = target.tests or find_tests_file(rules_path)
        if tests_path is not None:
            try:
                bases = [c.record for c in load_test_file(tests_path).cases]
            except DiagnosticError:
                pass
        cases, notes = boundary_cases(rules, bases=bases)
        lines.append(f"{rules_path}: {len(cases)} boundary cases")
        lines.extend(f"  note: {note}" for note in notes)
        for generated in cases:
            passed, failed = _report_case(lines, run_case(rules, generated, lang=lang), passed, failed)
    return "\n".join(lines) + "\n", passed, failed


def _report_case(lines: list[str], case: CaseOutcome, passed: int, failed: int) -> tuple[int, int]:
    if case.passed:
        lines.append(f"  ok    {case.name}")
        return passed + 1, failed
    where = f" (line {case.line})" if case.line else ""
    lines.append(f"  FAIL  {case.name}{where}")
    lines.extend(f"        {failure}" for failure in case.failures)
    if case.explanation:
        lines.append("        explanation:")
        lines.extend("          " + line for line in case.explanation.rstrip("\n").splitlines())
    return passed, failed + 1
