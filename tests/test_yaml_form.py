"""The YAML form: twins equal to the text form, round trips, positions, schema errors, limits."""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from kpi_rules import nodes
from kpi_rules.diagnostics import Diagnostic, DiagnosticError
from kpi_rules.parser import parse_ruleset
from kpi_rules.source import MAX_SOURCE_BYTES, SourceFile
from kpi_rules.yaml_form import MAX_DEPTH, _RuleLoader, dump_yaml_ruleset, load_yaml_ruleset

ROOT = Path(__file__).resolve().parent.parent
CRITERIA = ROOT / "criteria"
KPI_FILES = sorted(CRITERIA.rglob("*.kpi"))
TWINS = [(kpi, kpi.with_suffix(".yaml")) for kpi in KPI_FILES if kpi.with_suffix(".yaml").exists()]
INDIVIDUAL_YAML = (CRITERIA / "nd335" / "individual.yaml").read_text(encoding="utf-8")

Golden = Callable[[str, str], None]

HEADER = """\
ruleset: demo.minimal
title: Thử nghiệm
basis: Nghị định 335/2025/NĐ-CP
version: "1"
in_force:
  from: 2026-01-01
rates: person
"""


def load(text: str, path: str = "rules.yaml") -> nodes.Ruleset:
    return load_yaml_ruleset(SourceFile(path, text))


def errors(text: str) -> tuple[Diagnostic, ...]:
    with pytest.raises(DiagnosticError) as info:
        load(text)
    return info.value.diagnostics


def rendered(text: str) -> str:
    with pytest.raises(DiagnosticError) as info:
        load(text)
    return info.value.render() + "\n"


def codes(text: str) -> list[str]:
    return [d.code for d in errors(text)]


def at(diagnostic: Diagnostic) -> tuple[int, int]:
    assert diagnostic.span is not None
    return diagnostic.span.line_col()


# =========================================================================== twins and round trips


def test_there_is_at_least_one_twin() -> None:
    assert TWINS, "criteria/ should hold at least one .kpi/.yaml pair"


@pytest.mark.parametrize("kpi, yml", TWINS, ids=[str(k.relative_to(CRITERIA)) for k, _ in TWINS])
def test_yaml_twin_equals_text_form(kpi: Path, yml: Path) -> None:
    assert load_yaml_ruleset(SourceFile.read(yml)) == parse_ruleset(SourceFile.read(kpi))


@pytest.mark.parametrize("kpi", KPI_FILES, ids=[str(k.relative_to(CRITERIA)) for k in KPI_FILES])
def test_dump_then_load_gives_the_same_ruleset(kpi: Path) -> None:
    ruleset = parse_ruleset(SourceFile.read(kpi))
    text = dump_yaml_ruleset(ruleset)
    assert load(text) == ruleset
    assert dump_yaml_ruleset(load(text)) == text  # stable


def test_dump_keeps_vietnamese_unescaped_and_numbers_exact() -> None:
    text = dump_yaml_ruleset(parse_ruleset(SourceFile.read(CRITERIA / "nd335" / "individual.kpi")))
    assert "Công chức" in text and "\\u" not in text
    assert "max: 2.5" in text
    assert "from: 2026-01-01" in text
    assert text.startswith("# Decree 335")  # the rule set's leading comments are kept


LITERALS_KPI = """\
ruleset demo.literals "Thử" en "Test" {
  basis "b"
  version "2026.10"
  in_force from 2026-01-01 until 2027-01-01
  extends demo.base
  rates person
  display 3 decimals half_even
  record item "Mục" { input n : number min -1.5 max 2.5 default 0.75 "N" }
  subject person "Người" {
    input share : percent default 25% "S"
    input share2 : percent default 25 "S2"
    input level : one_of(low, high) default "high" "L"
    input since : date default 2026-01-01 "D"
    input flag : bool default true "F"
    input note : text optional "N" cite "c"
    input items : list of item "I"
    relation unit : unit "Đơn vị"
    relation staff : list of person "Nhân viên" en "Staff"
  }
  subject unit "Đơn vị" { }
  param rate : percent = 12.5% "R" from 2026-01-01 until 2026-07-01 cite "x"
  param rate : percent = 10% "R" from 2026-07-01
  param name : text = "12" "T"
  table t : number -> text "T" { 1 = "a" 2 = "b" }
  table u : text -> number "U" { "1" = 1 "x" = -2 }
  let x = 1
  let y "Y" = x + 1
  criteria total "Tổng" max 100 {
    group g "G" max 100 { criterion c "C" max 100 = y }
    bonus b "B" max 5 { criterion c2 "C2" max 5 = 1 }
    penalty p "P" max 5 { criterion c3 "C3" max 5 = 0 }
  }
  rating {
    level top "Top" from 50 {
      require r "R" cite "k" = x > 0
    }
    level low "Low" below 50
    disqualify d "D" when flag
    fallthrough lowest
    allow override "O" cite "z"
  }
}
"""

LITERALS_YAML = """\
ruleset: demo.literals
title: {vi: Thử, en: Test}
basis: b
version: 2026.10          # read as text, exactly as written
in_force: {from: 2026-01-01, until: 2027-01-01}
extends: demo.base
rates: person
display: {decimals: 3, mode: half_even}
records:
  item:
    label: Mục
    inputs:
      n: {type: number, min: -1.5, max: 2.5, default: 0.75, label: N}
subjects:
  person:
    label: Người
    inputs:
      share: {type: percent, default: 25%, label: S}
      share2: {type: percent, default: 25, label: S2}
      level: {type: "one_of(low, high)", default: "high", label: L}
      since: {type: date, default: 2026-01-01, label: D}
      flag: {type: bool, default: true, label: F}
      note: {type: text, optional: true, label: N, cite: c}
      items: {type: list of item, label: I}
    relations:
      unit: {target: unit, label: Đơn vị}
      staff: {target: person, many: true, label: {vi: Nhân viên, en: Staff}}
  unit:
    label: Đơn vị
params:
  - {name: rate, type: percent, value: 12.5%, label: R, from: 2026-01-01, until: 2026-07-01, cite: x}
  - {name: rate, type: percent, value: 10%, label: R, from: 2026-07-01}
  - {name: name, type: text, value: "12", label: T}
tables:
  - name: t
    key: number
    value: text
    label: T
    rows: {1: "a", 2: "b"}
  - name: u
    key: text
    value: number
    label: U
    rows:
      - ["1", 1]
      - [x, -2]
lets:
  x: "1"
  y: {label: Y, expr: x + 1}
criteria:
  id: total
  label: Tổng
  max: 100
  children:
    - group: g
      label: G
      max: 100
      children:
        - {criterion: c, label: C, max: 100, expr: y}
    - bonus: b
      label: B
      max: 5
      children:
        - {criterion: c2, label: C2, max: 5, expr: "1"}
    - penalty: p
      label: P
      max: 5
      children:
        - {criterion: c3, label: C3, max: 5, expr: "0"}
rating:
  levels:
    - id: top
      label: Top
      from: 50
      require:
        - {id: r, label: R, cite: k, expr: x > 0}
    - {id: low, label: Low, below: 50}
  disqualifiers:
    - {id: d, label: D, when: flag}
  fallthrough: lowest
  override: {label: O, cite: z}
"""


def test_every_kind_of_declaration_and_literal_matches_the_text_form() -> None:
    expected = parse_ruleset(SourceFile("literals.kpi", LITERALS_KPI))
    actual = load(LITERALS_YAML)
    assert actual == expected
    person = actual.subjects[0]
    defaults = {i.name: i.default for i in person.inputs}
    assert defaults["share"] == nodes.PercentLit(Fraction(25))
    assert defaults["share2"] == nodes.NumberLit(Fraction(25))
    assert defaults["level"] == nodes.StringLit("high")
    assert defaults["since"] == nodes.DateLit(dt.date(2026, 1, 1))
    assert actual.version == "2026.10"
    assert actual.params[2].value == nodes.StringLit("12")  # quoted: text, not a number
    assert actual.records[0].inputs[0].max == Fraction("2.5")


def test_table_keys_that_read_alike_are_written_as_pairs() -> None:
    ruleset = parse_ruleset(SourceFile("t.kpi", LITERALS_KPI.replace(
        'table u : text -> number "U" { "1" = 1 "x" = -2 }', 'table u : text -> number "U" { 1 = 1 "1" = 2 }')))
    text = dump_yaml_ruleset(ruleset)
    assert "- [1, 1]" in text and '- ["1", 2]' in text
    assert load(text) == ruleset


# =========================================================================== our own conversions


def test_dates_come_from_our_conversion_not_yaml_timestamps() -> None:
    ruleset = load(HEADER.replace("in_force:\n  from: 2026-01-01\n", "in_force: {from: 2026-01-01}\n"))
    assert ruleset.in_force == nodes.Validity(dt.date(2026, 1, 1))
    # Our loader resolves no timestamps, and that change is ours alone (yaml.SafeLoader is untouched).
    assert yaml.compose("d: 2026-01-01", Loader=yaml.SafeLoader).value[0][1].tag.endswith("timestamp")
    node = _RuleLoader(SourceFile("x.yaml", "d: 2026-01-01")).get_single_node()
    assert node is not None and node.value[0][1].tag == "tag:yaml.org,2002:str"
    assert yaml.safe_load("d: 2026-01-01") == {"d": dt.date(2026, 1, 1)}


def test_numbers_are_read_from_their_text() -> None:
    ruleset = load(HEADER + "criteria: {id: total, label: T, max: 0.1}\n")
    assert ruleset.criteria is not None and ruleset.criteria.max == Fraction(1, 10)


def test_a_date_that_does_not_exist_is_rejected() -> None:
    [diag] = errors(HEADER.replace("2026-01-01", "2026-02-30"))
    assert diag.code == "KR205" and "in_force.from" in diag.message and at(diag) == (6, 9)


@pytest.mark.parametrize("written", [".inf", "-.inf", ".nan", "1e400", "1.0e+3", "1_000", "0x10", "+5", "012:30", "٥", "1.٥"])
def test_yaml_numbers_that_are_not_exact_decimals_are_rejected(written: str) -> None:
    [diag] = errors(HEADER + f"criteria: {{id: total, label: T, max: {written}}}\n")
    assert diag.code == "KR205" and "criteria.max" in diag.message


@pytest.mark.parametrize("written", ["yes", "off", "True", "-25%", "1.5.3", ".5"])
def test_ambiguous_plain_literals_are_rejected(written: str) -> None:
    text = HEADER + f"params:\n  - {{name: p, type: text, value: {written}, label: P}}\n"
    [diag] = errors(text)
    assert diag.code == "KR205" and "params[0].value" in diag.message


def test_a_number_with_thousands_of_digits_is_a_diagnostic_not_a_crash() -> None:
    [diag] = errors(HEADER + "criteria: {id: total, label: T, max: " + "9" * 5000 + "}\n")
    assert diag.code == "KR205"


# =========================================================================== positions of expressions


def _expr_error(value_lines: str) -> Diagnostic:
    [diag] = errors(HEADER + "lets:\n" + value_lines)
    return diag


@pytest.mark.parametrize(
    "lets, line, column",
    [
        ("  a: x +* 2\n", 9, 9),                          # plain
        ("  a: 'f(b: 1) ++'\n", 9, 16),                    # single-quoted
        ('  a: "\\"x\\" + * 1"\n', 9, 15),                 # double-quoted with escapes
        ("  a: |\n    1 +\n      (2 *\n    )\n", 12, 5),   # literal block
        ("  a: >\n    1 +\n    2 + * 3\n", 11, 9),         # folded block
        ("  a: 1 +\n    2 3\n", 10, 7),                    # plain over two lines
        ("  a: {label: A, expr: 'b c'}\n", 9, 26),         # inside a flow mapping
    ],
    ids=["plain", "single", "double", "literal", "folded", "multiline", "flow"],
)
def test_errors_in_expressions_point_into_the_yaml_file(lets: str, line: int, column: int) -> None:
    diag = _expr_error(lets)
    assert diag.code.startswith("KR1")
    assert diag.span is not None and diag.span.path == "rules.yaml"
    assert at(diag) == (line, column)
    assert diag.note is not None and "lets.a" in diag.note


def test_expression_nodes_carry_spans_in_the_yaml_file() -> None:
    text = HEADER + "lets:\n  a: 'min(b, 2)'\n  c: |\n    d +\n      e\n"
    ruleset = load(text)
    call = ruleset.lets[0].expr
    assert isinstance(call, nodes.Call) and call.span is not None
    assert text[call.span.start:call.span.end] == "min(b, 2)"
    block = ruleset.lets[1].expr
    assert isinstance(block, nodes.Binary) and block.right.span is not None
    assert text[block.right.span.start:block.right.span.end] == "e"
    assert block.right.span.line_col() == (12, 7)


def test_all_expression_errors_are_reported_together() -> None:
    diags = errors(HEADER + "lets:\n  a: x +\n  b: (y\n  c: ok\n")
    assert [at(d)[0] for d in diags] == [9, 10]


# =========================================================================== schema errors (goldens)

DUPLICATES = HEADER + """\
subjects:
  person:
    label: Người
    inputs:
      score: {type: number, label: Điểm}
      score: {type: points, label: Điểm}
    label: Công chức
rates: unit
"""

SCHEMA = HEADER + """\
display: {decimals: two, mode: half_down}
subjects:
  person:
    lable: Người
    inputs:
      score: {type: numbr, label: Điểm, max: "5"}
      Bad-Name: {type: bool, label: X, optional: yes}
criteria:
  id: total
  label: Tổng
  max: 100
  children:
    - group: general
      label: Chung
      max: 30
      children:
        - criterion: c1
          label: C1
          max: 5
          exp: score
        - {label: C2, max: 5, expr: score}
    - group: results
      criterion: r
      label: [not, a, label]
      max: -70
rating:
  levels: {id: top}
  fallthrough: highest
"""

MISSING = """\
ruleset: demo.missing
title: {en: Only English}
in_force: {until: 2027-01-01}
params:
  - {name: p, type: number, label: P, until: 2027-01-01}
rating:
  levels:
    - {id: top, label: Top}
"""

NOT_A_MAPPING = "- ruleset: demo\n- title: x\n"

SYNTAX = HEADER + "lets:\n  a: [1, 2\n  b: 3\n"

TABS = HEADER + "lets:\n\ta: 1\n"

ALIASES = HEADER + "lets:\n  a: &x b + 1\n  c: *x\n"

TAGS = HEADER.replace("basis: Nghị", "basis: !!str Nghị")

GOLDEN_CASES = {
    "duplicate_keys": DUPLICATES,
    "schema": SCHEMA,
    "missing_fields": MISSING,
    "not_a_mapping": NOT_A_MAPPING,
    "syntax": SYNTAX,
    "tabs": TABS,
    "aliases": ALIASES,
    "tags": TAGS,
    "empty": "# nothing here\n",
}


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_rendered_diagnostics(name: str, golden: Golden) -> None:
    golden(f"yaml_errors/{name}.txt", rendered(GOLDEN_CASES[name]))


def test_duplicate_keys_point_at_the_second_key_with_a_label_at_the_first() -> None:
    diags = [d for d in errors(DUPLICATES) if d.code == "KR202"]
    assert [d.message for d in diags] == [
        "duplicate key `subjects.person.inputs.score`", "duplicate key `subjects.person.label`", "duplicate key `rates`",
    ]
    score = diags[0]
    assert at(score) == (13, 7)
    assert score.labels[0].span.line_col() == (12, 7) and score.labels[0].message == "first defined here"


def test_schema_problems_are_collected_in_one_pass_with_dotted_paths() -> None:
    diags = errors(SCHEMA)
    messages = "\n".join(d.message for d in diags)
    for path in [
        "display.decimals", "display.mode", "subjects.person.lable", "subjects.person.label",
        "subjects.person.inputs.score.type", "subjects.person.inputs.score.max",
        "subjects.person.inputs.Bad-Name", "subjects.person.inputs.Bad-Name.optional",
        "criteria.children[0].children[0].exp", "criteria.children[0].children[0].expr",
        "criteria.children[0].children[1]", "criteria.children[1]", "criteria.children[1].label",
        "criteria.children[1].max", "rating.levels", "rating.fallthrough",
    ]:
        assert f"`{path}" in messages, path
    assert {d.code for d in diags} == {"KR203", "KR204", "KR205"}
    hints = {d.message: d.hint for d in diags}
    assert hints["unexpected field `subjects.person.lable`"] == "did you mean `label`?"
    assert hints["unexpected field `criteria.children[0].children[0].exp`"] == "did you mean `expr`?"


# =========================================================================== limits


def test_deep_nesting_is_refused() -> None:
    [diag] = errors("a: " + "[" * 200 + "]" * 200 + "\n")
    assert diag.code == "KR105" and str(MAX_DEPTH) in diag.message


def test_deep_block_nesting_is_refused() -> None:
    text = "".join("  " * i + f"k{i}:\n" for i in range(100)) + "  " * 100 + "v\n"
    assert codes(text) == ["KR105"]


def test_alias_bomb_is_refused_quickly() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    [diag] = errors("\n".join(lines) + "\n")
    assert diag.code == "KR205" and "aliases" in diag.message and at(diag) == (1, 4)


def test_huge_file_is_refused_before_parsing() -> None:
    [diag] = errors("# " + "x" * MAX_SOURCE_BYTES + "\n")
    assert diag.code == "KR105" and diag.where == "rules.yaml"


def test_deeply_nested_expression_is_the_parsers_limit_not_a_crash() -> None:
    assert codes(HEADER + "lets:\n  a: " + "(" * 3000 + "1" + ")" * 3000 + "\n") == ["KR105"]


@pytest.mark.parametrize(
    "text, code",
    [
        ("a: 1\n---\nb: 2\n", "KR201"),            # two documents
        ("a: \x07\n", "KR201"),                     # a character YAML forbids
        ("", "KR205"),
        ("just text\n", "KR205"),
        ("? [a, b]\n: c\n", "KR205"),                # a key that is not text
        ("%TAG !x! tag:x,2000:\n---\na: 1\n", "KR203"),
    ],
)
def test_odd_documents_give_diagnostics(text: str, code: str) -> None:
    assert code in codes(text)


# =========================================================================== never a traceback

YAMLISH = st.text(alphabet=string.ascii_lowercase[:6] + "0123456789 \n\t:-[]{},'\"#&*!|>%?.@`\\~" + "ạé", max_size=200)


@given(YAMLISH)
def test_random_yamlish_text_gives_only_diagnostics(text: str) -> None:
    try:
        load(text)
    except DiagnosticError:
        pass


@given(st.text(max_size=100))
def test_random_unicode_text_gives_only_diagnostics(text: str) -> None:
    try:
        load(HEADER + "lets:\n  a: " + text + "\n")
    except DiagnosticError:
        pass


_SNIPPETS = ["", " ", "\n", ":", ": ", "- ", "-", "'", '"', "{", "}", "[", "]", ",", "#", "&a ", "*a",
             "!!str ", "|", ">", "\t", "  ", "x", "1e9", "25%", "2026-02-30", "null", "~", "yes", "é", "\\"]


@st.composite
def mutated_individual(draw: st.DrawFn) -> str:
    text = INDIVIDUAL_YAML
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["insert", "delete", "replace", "duplicate_line", "swap_lines"]))
        pos = draw(st.integers(0, len(text)))
        if kind == "insert":
            text = text[:pos] + draw(st.sampled_from(_SNIPPETS)) + text[pos:]
        elif kind == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 20)):]
        elif kind == "replace":
            text = text[:pos] + draw(st.sampled_from(_SNIPPETS)) + text[pos + 1:]
        else:
            lines = text.split("\n")
            i = draw(st.integers(0, len(lines) - 1))
            j = draw(st.integers(0, len(lines) - 1))
            if kind == "duplicate_line":
                lines.insert(j, lines[i])
            else:
                lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
    return text


@given(mutated_individual())
def test_mutations_of_the_twin_give_a_ruleset_or_diagnostics(text: str) -> None:
    try:
        load(text, "individual.yaml")
    except DiagnosticError as error:
        for diag in error.diagnostics:
            assert diag.span is None or diag.span.path == "individual.yaml"
            diag.render()


_KEYS = ["ruleset", "title", "basis", "version", "in_force", "from", "until", "rates", "display", "records",
         "subjects", "params", "tables", "lets", "criteria", "rating", "label", "vi", "en", "inputs", "type",
         "min", "max", "default", "optional", "name", "value", "key", "rows", "id", "children", "group",
         "criterion", "bonus", "expr", "levels", "below", "require", "disqualifiers", "when", "to",
         "fallthrough", "override", "cite", "person", "x"]
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 200), st.sampled_from(["a + 1", "2.5", "25%", "2026-01-01", "one_of(a, b)",
                                                                    "number", "person", "x", "", "sum(t in x: t)"]),
    st.text(max_size=8),
)
_DOCUMENTS = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(_KEYS), inner, max_size=6),
    max_leaves=30,
)


@given(st.dictionaries(st.sampled_from(_KEYS), _DOCUMENTS, max_size=12))
def test_random_documents_with_schema_words_give_only_diagnostics(document: dict[str, object]) -> None:
    text = yaml.safe_dump(document, allow_unicode=True)
    try:
        load(text)
    except DiagnosticError:
        pass


# =========================================================================== dump/load round trip, any text

_NAMES = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)
_TEXTS = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
_DECIMALS = st.decimals(min_value=-10**6, max_value=10**6, places=3, allow_nan=False, allow_infinity=False).map(
    lambda d: Fraction(d))
_LITERALS = st.one_of(
    _DECIMALS.map(nodes.NumberLit),
    _DECIMALS.map(lambda f: nodes.PercentLit(abs(f))),
    _TEXTS.map(nodes.StringLit),
    st.booleans().map(nodes.BoolLit),
    st.dates().map(nodes.DateLit),
)


@st.composite
def rulesets(draw: st.DrawFn) -> nodes.Ruleset:
    text = st.builds(nodes.Text, _TEXTS, st.none() | _TEXTS)
    params = draw(st.lists(st.builds(
        nodes.ParamDecl, name=_NAMES, type=st.just(nodes.ScalarType("number")), value=_LITERALS, label=text,
        cite=st.none() | _TEXTS,
    ), max_size=4))
    table = nodes.TableDecl(
        draw(_NAMES), nodes.ScalarType("text"), nodes.OneOfType(("a", "b")),
        tuple(nodes.TableRow(k, v) for k, v in draw(st.lists(st.tuples(_LITERALS, _LITERALS), max_size=4))),
        draw(text),
    )
    return nodes.Ruleset(
        id=draw(_NAMES), title=draw(text), basis=draw(_TEXTS), version=draw(_TEXTS),
        in_force=nodes.Validity(draw(st.dates()), draw(st.none() | st.dates())), rates=draw(_NAMES),
        params=tuple(params), tables=(table,),
        lets=(nodes.LetDecl(draw(_NAMES), nodes.Binary("+", nodes.Var("a"), nodes.NumberLit(Fraction(1))),
                            draw(st.none() | text), draw(st.none() | _TEXTS)),),
        criteria=nodes.CriteriaTree(draw(_NAMES), draw(text), abs(draw(_DECIMALS)), (
            nodes.Criterion(draw(_NAMES), draw(text), abs(draw(_DECIMALS)), nodes.StringLit(draw(_TEXTS))),
        )),
    )


@given(rulesets())
def test_any_ruleset_survives_dump_and_load(ruleset: nodes.Ruleset) -> None:
    assert load(dump_yaml_ruleset(ruleset)) == ruleset


# =========================================================================== the documentation


def test_the_example_in_the_docs_is_the_twin_file() -> None:
    doc = (ROOT / "docs" / "yaml-form.md").read_text(encoding="utf-8")
    example = doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert example == INDIVIDUAL_YAML


@pytest.mark.parametrize("variant", ["crlf", "bom"])
def test_line_endings_and_bom_do_not_matter(variant: str) -> None:
    text = INDIVIDUAL_YAML.replace("\n", "\r\n") if variant == "crlf" else "\ufeff" + INDIVIDUAL_YAML
    assert load(text) == load(INDIVIDUAL_YAML)


def test_a_flood_of_problems_stops_at_a_limit() -> None:
    diags = errors(HEADER + "params:\n" + "  - x\n" * 1000)
    assert len(diags) == 201
    assert [d.message for d in diags if d.code == "KR105"] == ["stopped after 200 problems"]
