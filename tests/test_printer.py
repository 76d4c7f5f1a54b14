"""Printer tests: canonical text, identity of expressions, round trips of generated rule sets."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark
from lark import Lark

from kpi_rules import nodes as n
from kpi_rules.diagnostics import DiagnosticError
from kpi_rules.parser import grammar_text, parse_expression, parse_ruleset
from kpi_rules.printer import format_expr, format_number, format_ruleset, format_string
from kpi_rules.source import SourceFile

ROOT = Path(__file__).resolve().parent.parent
INDIVIDUAL = ROOT / "criteria" / "nd335" / "individual.kpi"
IDENTITY = Path(__file__).resolve().parent / "fixtures" / "identity_exprs.txt"


def expr(text: str) -> n.Expr:
    return parse_expression(SourceFile("e", text))


def identity_lines() -> list[str]:
    return [line for line in IDENTITY.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.parametrize("text", identity_lines())
def test_identity_exprs(text: str) -> None:
    assert format_expr(expr(text)) == text


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("(a)", "a"),
        ("((a + b)) * (c)", "(a + b) * c"),
        ("(a - b) - c", "a - b - c"),
        ("a+b*c", "a + b * c"),
        ("(a * b) + c", "a * b + c"),
        ("2.50", "2.5"),
        ("007", "7"),
        ("0.0", "0"),
        ("f( a ,b:1 )", "f(a, b: 1)"),
        ("(a.b)[c]", "a.b[c]"),
        ("-(2)", "-2"),
    ],
)
def test_canonical_exprs(text: str, canonical: str) -> None:
    assert format_expr(expr(text)) == canonical


def test_individual_round_trip() -> None:
    original = parse_ruleset(SourceFile.read(INDIVIDUAL))
    text = format_ruleset(original)
    again = parse_ruleset(SourceFile("printed.kpi", text))
    assert again == original
    assert format_ruleset(again) == text
    assert again.comments == original.comments
    assert again.tables[0].comments == original.tables[0].comments


def test_individual_is_already_canonical() -> None:
    text = INDIVIDUAL.read_text(encoding="utf-8")
    assert format_ruleset(parse_ruleset(SourceFile.read(INDIVIDUAL))) == text


def test_substitute_replaces_sub_expressions() -> None:
    e = expr("(a + b + c) / 3 * 70%")
    values = {"a": "100", "b": "87.5", "c": "-5"}

    def sub(node: n.Expr) -> str | None:
        return values.get(node.name) if isinstance(node, n.Var) else None

    assert format_expr(e, sub) == "(100 + 87.5 + (-5)) / 3 * 70%"
    assert format_expr(e, lambda node: "X" if isinstance(node, n.Binary) and node.op == "*" else None) == "X"


def test_numbers() -> None:
    assert format_number(Fraction(5, 2)) == "2.5"
    assert format_number(Fraction(-3, 40)) == "-0.075"
    assert format_number(Fraction(0)) == "0"
    assert format_number(Fraction(10**30)) == "1" + "0" * 30
    with pytest.raises(ValueError):
        format_number(Fraction(1, 3))


def test_strings() -> None:
    assert format_string('a"b\\c\nd') == r'"a\"b\\c\nd"'


def test_non_terminating_fraction_is_refused() -> None:
    ruleset = parse_ruleset(SourceFile.read(INDIVIDUAL))
    assert ruleset.criteria is not None
    bad = n.Ruleset(**{**{f: getattr(ruleset, f) for f in ("id", "title", "basis", "version", "in_force", "rates")},
                       "criteria": n.CriteriaTree("t", n.Text("T"), Fraction(1, 3), ())})
    with pytest.raises(ValueError):
        format_ruleset(bad)


def test_comments_survive_formatting() -> None:
    text = (
        "# top\n"
        'ruleset r "R" {\n'
        '  basis "b"  # not kept: header clauses carry no comments\n'
        '  version "1"\n'
        "  in_force from 2026-01-01 until 2027-01-01\n"
        "  extends nd335.base\n"
        "  rates p\n"
        "  # about the record\n"
        '  record item "Item" {\n'
        "    # about x\n"
        '    input x : one_of(a, b) optional "X" # end of line\n'
        "    # dangling, before a closing brace\n"
        "  }\n"
        '  subject p "P" {\n'
        '    relation unit : u "Unit"\n'
        '    relation staff : list of p "Staff"\n'
        "  }\n"
        '  table t : text -> number "T" from 2026-01-01 cite "c" {\n'
        '    # a row\n'
        '    "a" = -1\n'
        "  }\n"
        '  let z = 1\n'
        '  criteria total "T" max 10 {\n'
        '    bonus extra "E" max 2 {}\n'
        "  }\n"
        "  rating {\n"
        '    # top level\n'
        '    level all "All" from 0 {\n'
        '      # cond\n'
        '      require r "R" cite "x" = true\n'
        "    }\n"
        '    disqualify d "D" when false\n'
        "    fallthrough lowest\n"
        "  }\n"
        "}\n"
    )
    first = parse_ruleset(SourceFile("c.kpi", text))
    record = first.records[0]
    assert record.comments == (" about the record",)
    assert record.inputs[0].comments == (" about x", " end of line")
    assert first.tables[0].rows[0].comments == (" a row",)
    assert first.rating is not None and first.rating.levels[0].conditions[0].comments == (" cond",)
    printed = format_ruleset(first)
    again = parse_ruleset(SourceFile("c2.kpi", printed))
    assert again == first
    assert format_ruleset(again) == printed
    assert "    # about x\n    # end of line\n    input x" in printed


# --------------------------------------------------------------------------- generated rule sets


def _spaced(strategy: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return strategy.map(lambda s: f" {s} ")


def _generated_texts() -> st.SearchStrategy[str]:
    # Generate from our own grammar. Every token is padded with spaces (from_lark only rarely
    # inserts whitespace between tokens), and names are mostly words the language gives a
    # meaning to, so that a fair share of the texts parse and the round trip is exercised.
    grammar = Lark(grammar_text(), parser="lalr", lexer="contextual", start="start")
    explicit: dict[str, st.SearchStrategy[str]] = {}
    for terminal in grammar.terminals:
        if terminal.name in ("WS", "COMMENT"):
            continue
        explicit[terminal.name] = _spaced(st.from_regex(terminal.pattern.to_regexp(), fullmatch=True, alphabet=st.characters(codec="ascii")))
    words = ["number", "percent", "points", "bool", "text", "date", "half_up", "down", "highest_met",
             "lowest", "x", "y2", "_z", "person"]
    explicit["NAME"] = _spaced(st.sampled_from(words) | st.from_regex(r"[a-z_][a-z0-9_]{0,5}", fullmatch=True))
    explicit["STRING"] = _spaced(st.text(st.characters(codec="utf-8", exclude_characters='"\\\n'), max_size=8).map(lambda s: f'"{s}"')
                                 | st.sampled_from(['"a\\"b"', '"c\\\\d"', '"e\\nf"']))
    explicit["DATE"] = _spaced(st.dates().map(lambda d: f"{d.year:04d}-{d.month:02d}-{d.day:02d}"))
    explicit["COMMENT"] = st.sampled_from(["\n# note\n", "\n#\n", "  # eol\n"])
    return from_lark(grammar, start="start", explicit=explicit)


GENERATED = _generated_texts()


@settings(max_examples=120, suppress_health_check=list(HealthCheck))
@given(GENERATED)
def test_generated_texts_parse_or_raise_a_diagnostic(text: str) -> None:
    try:
        parse_ruleset(SourceFile("g.kpi", text))
    except DiagnosticError as exc:
        assert all(d.code.startswith("KR1") for d in exc.diagnostics)


@settings(max_examples=120, suppress_health_check=list(HealthCheck))
@given(GENERATED)
def test_generated_rulesets_round_trip(text: str) -> None:
    try:
        first = parse_ruleset(SourceFile("g.kpi", text))
    except DiagnosticError:
        assume(False)
        return
    try:
        printed = format_ruleset(first)
    except ValueError:  # a number without a finite decimal form cannot be printed
        assume(False)
        return
    again = parse_ruleset(SourceFile("p.kpi", printed))
    assert again == first
    assert format_ruleset(again) == printed
