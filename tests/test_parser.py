"""Parser tests: the golden parse of the real rule file, the syntax-error catalogue, fuzzing.

The ``BAD_INPUTS`` table is the catalogue of syntax errors: each entry is a named, known-bad
input and its golden file (``tests/golden/syntax_errors/<name>.txt``) holds the diagnostic exactly
as a policy author sees it. Refresh with ``pytest --update-goldens`` and review the diff.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpi_rules import nodes as n
from kpi_rules.diagnostics import DiagnosticError
from kpi_rules.parser import MAX_DEPTH, MAX_NESTING, parse_expression, parse_ruleset
from kpi_rules.source import MAX_SOURCE_BYTES, SourceFile, Span

ROOT = Path(__file__).resolve().parent.parent
INDIVIDUAL = ROOT / "criteria" / "nd335" / "individual.kpi"

Golden = Callable[[str, str], None]

# A small valid rule set; the bad inputs below are edits of it.
MINI = """\
ruleset demo "Thử nghiệm" en "Demo" {
  basis "Nghị định 335/2025/NĐ-CP"
  version "2026.1"
  in_force from 2026-01-01
  rates person

  subject person "Công chức" {
    input score : points min 0 max 100 "Điểm"
  }

  criteria total "Tổng điểm" max 100 {
    criterion all "Tất cả" max 100 = score
  }

  rating {
    level good "Tốt" from 50
    level bad "Kém" below 50
  }
}
"""


def edit(old: str, new: str) -> str:
    assert old in MINI, old
    return MINI.replace(old, new, 1)


def parse_text(text: str, path: str = "demo.kpi") -> n.Ruleset:
    return parse_ruleset(SourceFile(path, text))


# --------------------------------------------------------------------------- the catalogue

BAD_INPUTS: dict[str, str] = {
    "missing_closing_brace": MINI.rstrip().removesuffix("}"),
    "missing_group_brace": edit("    criterion all", "    group g \"G\" max 100 {\n    criterion all"),
    "misspelt_criterion": edit("criterion all", "criterio all"),
    "misspelt_level": edit("level good", "levle good"),
    "misspelt_header_keyword": edit("version", "verison"),
    "missing_header_clause": edit('  basis "Nghị định 335/2025/NĐ-CP"\n', ""),
    "invalid_date": edit("2026-01-01", "2026-02-30"),
    "unterminated_string": edit('"Điểm"', '"Điểm'),
    "unknown_escape": edit('"Điểm"', '"Điểm\\t"'),
    "stray_character": edit("max 100 = score", "max 100 = score @"),
    "multiplication_sign": edit("= score", "= score × 2"),
    "band_without_number": edit("from 50\n", "from 50 below\n"),
    "empty_file": "",
    "comments_only": "# a rule set will go here\n",
    "deep_nesting": edit("= score", "= " + "(" * (MAX_NESTING + 1) + "score" + ")" * (MAX_NESTING + 1)),
    "long_operator_chain": edit("= score", "= " + " + ".join(["score"] * (MAX_DEPTH + 5))),
    "huge_file": MINI + "#" + "x" * MAX_SOURCE_BYTES + "\n",
    "missing_equals": edit("max 100 = score", "max 100 score"),
    "missing_id": edit('criterion all "Tất cả"', 'criterion "Tất cả"'),
    "missing_operator": edit("= score", "= score 2"),
    "chained_comparison": edit("= score", "= 0 < score < 100"),
    "single_equals": edit("= score", "= if score = 100 then 100 else score"),
    "incomplete_expression": edit("= score", "= (score +"),
    "duplicate_option": edit("min 0 max 100", "min 0 min 1 max 100"),
    "default_and_optional": edit("min 0 max 100", "default 0 optional"),
    "two_rating_blocks": edit("\n}\n", '\n  rating {\n    level all "Mọi điểm" from 0\n  }\n}\n'),
    "bad_fallthrough": edit("    level bad", "    fallthrough highest\n    level bad"),
    "duplicate_fallthrough": edit("    level bad", "    fallthrough lowest\n    fallthrough lowest\n    level bad"),
    "bad_rounding_mode": edit("  rates person\n", "  rates person\n  display 2 decimals half_upp\n"),
    "unknown_type": edit("score : points", "score : integer"),
    "uppercase_name": edit("input score", "input Score"),
    "vietnamese_name": edit("input score", "input điểm"),
    "number_too_long": edit("max 100 =", "max " + "9" * 5000 + " ="),
    "keyword_argument_first": edit("= score", "= percent(if_zero: 0, score, 100)"),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_syntax_error_catalogue(name: str, golden: Golden) -> None:
    with pytest.raises(DiagnosticError) as info:
        parse_text(BAD_INPUTS[name])
    error = info.value
    assert len(error.diagnostics) == 1
    assert error.diagnostics[0].code.startswith("KR1")
    golden(f"syntax_errors/{name}.txt", error.render() + "\n")


def test_catalogue_covers_every_syntax_code() -> None:
    codes = set()
    for text in BAD_INPUTS.values():
        try:
            parse_text(text)
        except DiagnosticError as exc:
            codes.update(d.code for d in exc.diagnostics)
    assert codes == {"KR101", "KR102", "KR103", "KR104", "KR105", "KR106"}


def test_mini_is_valid() -> None:
    rs = parse_text(MINI)
    assert rs.id == "demo" and rs.criteria is not None and len(rs.rating.levels) == 2  # type: ignore[union-attr]


# --------------------------------------------------------------------------- the real file


def dump(value: object, indent: int = 0) -> list[str]:
    """A readable, stable dump of nodes with their spans (line:col) and comments."""
    pad = "  " * indent
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        return [pad + repr(value)]
    head = type(value).__name__
    span = getattr(value, "span", None)
    if isinstance(span, Span):
        (l1, c1), (l2, c2) = span.line_col(), span.end_line_col()
        head += f" @{l1}:{c1}-{l2}:{c2}"
    lines = [pad + head]
    for f in dataclasses.fields(value):
        if f.name == "span":
            continue
        item = getattr(value, f.name)
        if f.name == "comments" and not item:
            continue
        if isinstance(item, tuple) and item and dataclasses.is_dataclass(item[0]):
            lines.append(f"{pad}  {f.name}:")
            for sub in item:
                lines.extend(dump(sub, indent + 2))
        elif dataclasses.is_dataclass(item):
            lines.append(f"{pad}  {f.name}:")
            lines.extend(dump(item, indent + 2))
        else:
            lines.append(f"{pad}  {f.name}: {_scalar(item)}")
    return lines


def _scalar(value: object) -> str:
    if isinstance(value, Fraction):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return repr(value)


def test_golden_parse_of_individual(golden: Golden) -> None:
    ruleset = parse_ruleset(SourceFile.read(INDIVIDUAL))
    golden("parse/individual.txt", "\n".join(dump(ruleset)) + "\n")


def test_individual_comments_and_spans() -> None:
    source = SourceFile.read(INDIVIDUAL)
    rs = parse_ruleset(source)
    assert rs.comments[0].startswith(" Decree 335")
    assert rs.tables[0].comments[0].startswith(" A sample converted catalogue")
    assert rs.span is not None and source.text[rs.span.start:rs.span.end] == "nd335.individual"
    let = rs.lets[0]
    assert let.span is not None and source.text[let.span.start:let.span.end] == let.name
    assert let.expr.span is not None
    assert source.text[let.expr.span.start:let.expr.span.end].startswith("sum(t in tasks:")


# --------------------------------------------------------------------------- units


def test_literals_are_exact() -> None:
    rs = parse_text(edit("  rates person\n", '  rates person\n  param p : number = -2.5 "P"\n  param q : number = 12.5% "Q"\n'))
    assert rs.params[0].value == n.NumberLit(Fraction(-5, 2))
    assert rs.params[1].value == n.PercentLit(Fraction(25, 2))


def test_minus_in_expression_is_unary() -> None:
    assert parse_expression(SourceFile("e", "-2")) == n.Unary("-", n.NumberLit(Fraction(2)))


def test_chains_nest_to_the_left() -> None:
    e = parse_expression(SourceFile("e", "a - b - c"))
    assert e == n.Binary("-", n.Binary("-", n.Var("a"), n.Var("b")), n.Var("c"))


def test_string_unescaping() -> None:
    e = parse_expression(SourceFile("e", r'"a\"b\\c\nd"'))
    assert e == n.StringLit('a"b\\c\nd')


def test_parse_expression_offsets_point_into_the_source() -> None:
    src = SourceFile("f.yaml", "expr: max(a, 1) + 2 # trailing\n")
    e = parse_expression(src, 6, src.text.index(" #"))
    assert isinstance(e, n.Binary) and e.span is not None
    assert (e.span.start, e.span.end) == (6, 19)
    assert e.left.span is not None and src.text[e.left.span.start:e.left.span.end] == "max(a, 1)"
    with pytest.raises(DiagnosticError) as info:
        parse_expression(src, 6, 10)
    assert info.value.diagnostics[0].code == "KR103"


def test_parse_expression_error_points_into_the_source() -> None:
    src = SourceFile("f.yaml", "when: a $ b\n")
    with pytest.raises(DiagnosticError) as info:
        parse_expression(src, 6)
    diag = info.value.diagnostics[0]
    assert diag.code == "KR102" and diag.span is not None and diag.span.start == 8


def test_input_options() -> None:
    rs = parse_text(edit("min 0 max 100", "optional"))
    assert rs.subjects[0].inputs[0].missing == "optional"
    rs = parse_text(edit("min 0 max 100", "default 5"))
    assert rs.subjects[0].inputs[0].missing == "default"
    assert rs.subjects[0].inputs[0].default == n.NumberLit(Fraction(5))


def test_level_bands_and_body() -> None:
    rs = parse_text(edit('level good "Tốt" from 50', 'level good "Tốt" from 50 below 101 {\n      require r "R" = score > 1\n    }'))
    assert rs.rating is not None
    good = rs.rating.levels[0]
    assert (good.lower, good.upper) == (Fraction(50), Fraction(101))
    assert good.conditions[0].name == "r"
    assert rs.rating.levels[1].lower is None


def test_end_of_line_comment_attaches_to_its_declaration() -> None:
    rs = parse_text(edit('"Điểm"\n', '"Điểm" # points given by the manager\n'))
    assert rs.subjects[0].inputs[0].comments == (" points given by the manager",)


def test_hash_inside_a_string_is_not_a_comment() -> None:
    rs = parse_text(edit('"Điểm"', '"Điểm # 1"'))
    assert rs.subjects[0].inputs[0].label.vi == "Điểm # 1"
    assert rs.subjects[0].inputs[0].comments == ()


# --------------------------------------------------------------------------- robustness

_INDIVIDUAL_TEXT = INDIVIDUAL.read_text(encoding="utf-8")


@settings(max_examples=150)
@given(st.data())
def test_mutations_raise_only_diagnostics(data: st.DataObject) -> None:
    text = _INDIVIDUAL_TEXT
    for _ in range(data.draw(st.integers(1, 3))):
        pos = data.draw(st.integers(0, len(text)))
        if data.draw(st.booleans()) and pos < len(text):
            text = text[:pos] + text[pos + 1:]
        else:
            ch = data.draw(st.sampled_from(list('{}()[]"#=:-.,%\n x9é\\')) | st.characters())
            text = text[:pos] + ch + text[pos:]
    try:
        parse_ruleset(SourceFile("m.kpi", text))
    except DiagnosticError as exc:
        assert exc.diagnostics and all(d.code.startswith("KR1") for d in exc.diagnostics)
        exc.render()


@settings(max_examples=200)
@given(st.lists(st.sampled_from(list('ab(){}[]"#=:-+*/<>.,%\n 19\\') + [" in ", " if ", " then ", " else ", "sum(", "tiers"]),
                max_size=40).map("".join))
def test_any_expression_text_parses_or_raises_a_diagnostic(text: str) -> None:
    try:
        parse_expression(SourceFile("e", text))
    except DiagnosticError as exc:
        exc.render()
