"""Tests of the checker (``validator.check_ruleset``): one small rule file per check.

Each case lists the codes it must raise; the rendered diagnostics, exactly as a user sees them,
are kept under ``tests/golden/check_errors/`` (refresh with ``pytest --update-goldens``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import fields, is_dataclass
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpi_rules import nodes as n
from kpi_rules.checked import CheckedRuleset
from kpi_rules.diagnostics import DiagnosticError
from kpi_rules.parser import parse_ruleset
from kpi_rules.source import SourceFile
from kpi_rules.validator import check_ruleset
from kpi_rules.valuetypes import (
    BOOL,
    NEVER,
    NUMBER,
    TEXT,
    EnumType,
    ListOf,
    NumberType,
    RecordType,
    TableType,
)

ROOT = Path(__file__).resolve().parent.parent

HEAD = """ruleset test.case "Trường hợp" en "Case" {
  basis "Test"
  version "1"
  in_force from 2026-01-01 until 2027-01-01
  rates person
"""

SUBJECT = """  record task_item "Việc" {
    input product : text "Mã"
    input assigned : number min 0 "Giao"
    input done : number min 0 "Xong"
    input note : text optional "Ghi chú"
  }
  subject person "Công chức" {
    input score : points min 0 max 100 "Điểm"
    input tasks : list of task_item "Việc"
    input late : bool default false "Chậm"
    input bonus_points : number optional "Điểm thưởng"
    input discipline : one_of(none, reprimand, warning) default "none" "Kỷ luật"
  }
"""

TREE = """  criteria total "Tổng" max 100 {
    criterion main "Chính" max 100 = score
  }
"""

RATING = """  rating {
    level good "Tốt" from 50
    level weak "Yếu" below 50
  }
"""


def rules(body: str, *, subject: str = SUBJECT, tree: str = TREE, rating: str = RATING, head: str = HEAD) -> str:
    return head + subject + body + tree + rating + "}\n"


def parse(text: str, name: str = "case") -> n.Ruleset:
    return parse_ruleset(SourceFile(f"cases/{name}.kpi", text))


def check_text(text: str, name: str = "case") -> CheckedRuleset:
    return check_ruleset(parse(text, name))


def errors_of(text: str, name: str = "case") -> DiagnosticError:
    with pytest.raises(DiagnosticError) as info:
        check_text(text, name)
    return info.value


# ---------------------------------------------------------------------------- cases
# name -> (rule text, the codes it must raise, in order of position)

CASES: dict[str, tuple[str, list[str]]] = {
    "unknown_names": (
        rules("""  let s = sum(t in tasks: t.asigned)
  let u = scor + 1
  let v = late.value
  let w = tasks.done
  let x = catalog["a"]
"""),
        ["KR310", "KR301", "KR303", "KR303", "KR301"],
    ),
    "unknown_types": (
        HEAD.replace("rates person", "rates persn") + """  record task_item "Việc" {
    input product : text "Mã"
  }
  subject person "Công chức" {
    input items : list of task_itm "Việc"
    relation unit : org_unit "Đơn vị"
  }
}
""",
        ["KR316", "KR316", "KR316"],
    ),
    "unknown_relations": (
        HEAD + """  subject person "Công chức" {
    relation supervisees : list of person "Cấp dưới"
    relation unit : list of org "Đơn vị"
  }
  subject org "Đơn vị" {
  }
}
""",
        ["KR360", "KR360"],
    ),
    "duplicates": (
        rules("""  record task_item "Lặp" {
    input product : text "Mã"
  }
  param rate : number = 1 "Mức" from 2026-01-01 until 2026-07-01
  param rate : number = 2 "Mức" from 2026-06-01
  table score : text -> number "Bảng" {
    "a" = 1
    "a" = 2
  }
  let bonus_points = 1
  let shadow = sum(score in tasks: score.done)
""", rating="""  rating {
    level good "Tốt" from 50 {
      require c1 "Một" = true
      require c1 "Hai" = late
    }
    level good "Tốt nữa" below 50
    disqualify d "Kỷ luật" when late
    disqualify d "Kỷ luật" when late
  }
"""),
        ["KR302"] * 9,
    ),
    "duplicate_inputs": (
        rules("", subject=SUBJECT.replace('    input late', '    input score : number "Lặp"\n    input late').replace(
            '    input note', '    input done : number "Lặp"\n    input note')),
        ["KR302", "KR302"],
    ),
    "types": (
        rules("""  let t1 = "a" + 1
  let t2 = score and late
  let t3 = if score then 1 else 2
  let t4 = if late then 1 else "x"
  let t5 = "a" < "b"
  let t6 = discipline == 1
  let t7 = discipline >= "reprimnd"
  let t8 = not score
  let t9 = -late
  let ok1 = discipline >= "reprimand" and 2026-01-01 < 2026-02-01 and late == false
  let ok2 = if late then insufficient_data else 3
  let ok3 = tasks
"""),
        ["KR303"] * 6 + ["KR311", "KR303", "KR303"],
    ),
    "type_contexts": (
        rules("""  table coef : one_of(small, big) -> number "Hệ số" {
    "small" = 1
    "big" = 2
  }
  let k1 = coef[3]
  let k2 = coef["huge"]
  let k3 = score[1]
  let a1 = sum(t in tasks: t.product)
  let a2 = count(t in tasks where t.done)
  let a3 = any(t in tasks: t.done)
  let a4 = sum(t in score: 1)
  let k4 = coef + 1
  let ok = coef["big"] + count(t in tasks where t.done > 0) + share(t in tasks where t.product == "x")
""", tree="""  criteria total "Tổng" max 100 {
    criterion main "Chính" max 100 = late
  }
""", rating="""  rating {
    level good "Tốt" from 50 {
      require r "Điều kiện" = score
    }
    level weak "Yếu" below 50
    disqualify d "Loại" when discipline
  }
"""),
        ["KR303", "KR311", "KR303", "KR303", "KR303", "KR303", "KR303", "KR303", "KR303", "KR303", "KR303"],
    ),
    "functions": (
        rules("""  let f1 = maxx(score, 1)
  let f2 = min(score)
  let f3 = abs(score, 1)
  let f4 = percent(score, 2, when_zero: 0)
  let f5 = round(score, score)
  let f6 = round(score, 2, "half_dwn")
  let f7 = present(score)
  let f8 = count(t in tasks: t.done)
  let f9 = sum(t in tasks)
  let f10 = summ(t in tasks: t.done)
  let f11 = clamp(score, 0, true)
  let f12 = ratio(score, 2, if_zero: "none")
  let ok = round(percent(score, 3, if_zero: insufficient_data), 2, "half_even") + ratio(score, 4) + clamp(score, 0, 10)
"""),
        ["KR309"] * 10 + ["KR303", "KR303"],
    ),
    "optional_inputs": (
        rules("""  let o1 = bonus_points + 1
  let o2 = sum(t in tasks: if t.note == "x" then 1 else 0)
  let o3 = coalesce(bonus_points, "zero")
  let ok1 = coalesce(bonus_points, 0) + (if present(bonus_points) then 1 else 0)
  let ok2 = count(t in tasks where present(t.note))
"""),
        ["KR313", "KR313", "KR303"],
    ),
    "input_declarations": (
        HEAD + """  record task_item "Việc" {
    input weight : number min 5 max 1 "Trọng số"
  }
  subject person "Công chức" {
    input name : text min 0 "Tên"
    input level : number min 0 max 10 default 11 "Bậc"
    input ok : bool default 1 "Đạt"
    input tasks : list of task_item default 0 "Việc"
    input rank : one_of(low, high) default "middle" "Hạng"
    input fine : number min 0 max 10 default 10 "Đúng"
  }
}
""",
        ["KR312", "KR312", "KR312", "KR312", "KR312", "KR311"],
    ),
    "tables_and_params": (
        rules("""  param cap : number = "x" "Trần"
  param since : date = 2026-01-01 "Từ ngày"
  table level_points : one_of(none, reprimand, warning, dismissal) -> number "Điểm" {
    "none" = 0
    "warning" = "two"
    "reprimnd" = 1
  }
  table yes_no : bool -> number "Có/không" {
    true = 1
  }
  table by_number : number -> text "Theo số" {
    1 = "a"
    "2" = "b"
  }
"""),
        ["KR303", "KR307", "KR303", "KR311", "KR307", "KR303"],
    ),
    "versions": (
        rules("""  param rate : number = 1 "Mức" from 2026-01-01 until 2026-03-01
  param rate : number = 2 "Mức" from 2026-04-01
  param cap : number = 1 "Trần" from 2026-01-01 until 2026-07-01
  param cap : text = "a" "Trần" from 2026-07-01
  table coef : text -> number "Hệ số" from 2026-02-01 {
    "a" = 1
  }
  param late_start : number = 1 "Muộn" from 2026-06-01 until 2026-05-01
  param overlap : number = 1 "Chồng" from 2026-01-01
  param overlap : number = 2 "Chồng" from 2026-06-01
"""),
        ["KR308", "KR303", "KR308", "KR308", "KR308", "KR302"],
    ),
    "criteria": (
        rules("", tree="""  criteria total "Tổng" max 100 {
    group general "Chung" max 30 {
      criterion g1 "Một" max 10 = score
      criterion g2 "Hai" max 19 = score
      bonus extra "Thưởng" max 5 {
        criterion e1 "Thưởng 1" max 5 = 1
      }
    }
    group results "Kết quả" max 60 {
      criterion r1 "Kết quả" max 60 = late
    }
    bonus plus "Cộng" max 5 {
      group nested "Lồng" max 5 {
        criterion p1 "Cộng 1" max 5 = 1
      }
    }
    penalty minus "Trừ" max 0 {
      criterion m1 "Trừ 1" max 0 = 1
    }
  }
"""),
        ["KR304", "KR304", "KR303", "KR319", "KR317", "KR317"],
    ),
    "rating_bands": (
        rules("", rating="""  rating {
    level excellent "Xuất sắc" from 90 below 100
    level good "Tốt" from 70 below 85
    level fair "Khá" from 60 below 75
    level complete "Hoàn thành" from 50 below 50
    level weak "Yếu" below 50
    disqualify d "Kỷ luật" when discipline >= "reprimand" to not_complet
  }
"""),
        ["KR305", "KR305", "KR306", "KR305", "KR317", "KR315"],
    ),
    "rating_order": (
        rules("", rating="""  rating {
    level weak "Yếu" below 50
    level good "Tốt" from 50 below 120
    level top "Đỉnh" from 150
  }
"""),
        ["KR317", "KR317", "KR317", "KR317"],
    ),
    "rating_without_levels": (
        rules("", tree="", rating="""  rating {
    disqualify d "Loại" when late
  }
"""),
        ["KR318", "KR318"],
    ),
    "monotone_options": (
        rules("", subject=SUBJECT.replace('input note : text optional "Ghi chú"',
                                          'input note : text optional decreasing "Ghi chú"')
              .replace('input score : points min 0 max 100 "Điểm"', 'input score : points min 0 max 100 increasing "Điểm"')
              .replace('input tasks : list of task_item "Việc"', 'input tasks : list of task_item increasing "Việc"')
              .replace('input late : bool default false "Chậm"', 'input late : bool default false decreasing "Chậm"')),
        ["KR340", "KR340"],
    ),
    "tiers": (
        rules("""  let t1 = tiers(score) { from 90: 10  from 95: 8  otherwise 0 }
  let t2 = tiers(late) { from 1: 10  otherwise "none" }
  let t3 = tiers(score) { from true: 1  otherwise 0 }
  let ok = tiers(score) { from 100: 10  from 90: 8  from 50%: 1  otherwise insufficient_data }
"""),
        ["KR314", "KR303", "KR303", "KR303"],
    ),
    "edge_cases": (
        rules("""  input_placeholder
  let e1 = discipline == kind
  let e2 = present()
  let e3 = coalesce(bonus_points)
  let e4 = round(score, 2, mode)
  let e5 = present(score + 1) or any(t in tasks: present(t.done))
  let e6 = tiers(score) { from -5: 1  from -1: 2  otherwise 0 }
  table by_day : date -> number "Theo ngày" {
    2026-01-01 = 1
    2026-01-01 = 2
  }
  table by_share : number -> number "Theo tỷ lệ" {
    0.25 = 1
    25% = 2
  }
  table coef : text -> number "Hệ số" from 2026-01-01 until 2026-07-01 {
    "a" = 1
  }
  table coef : text -> points "Hệ số" from 2026-07-01 {
    "a" = 2
  }
""".replace("  input_placeholder\n", "  param kind : one_of(low, high) = \"low\" \"Loại\"\n  param mode : text = \"up\" \"Cách làm tròn\"\n"),
              tree="""  criteria total "Tổng" max 10 {
    criterion c1 "Một" max 2.5 = score
    criterion c2 "Hai" max 2.25 = score
  }
""", rating="""  rating {
    level good "Tốt" from 5
    level weak "Yếu" below 4.5
  }
"""),
        ["KR303", "KR309", "KR309", "KR309", "KR309", "KR309", "KR314", "KR302", "KR302", "KR303", "KR304", "KR305"],
    ),}


CASES["periods_and_quota"] = (
    rules("""  periods {
    monitor week
    combine rating_count {
      level good when periods("bad") >= 2
      level weak when periods("weak")
    }
  }
  cohort quota "Tỷ lệ" {
    limit good to 120% of weak per unit, unit
    demote to good by total desc, note asc
  }
"""),
    ["KR322", "KR323", "KR320", "KR324", "KR325", "KR327", "KR328", "KR326"],
)


@pytest.mark.parametrize("name", sorted(CASES))
def test_case_reports_every_problem(name: str, golden: Callable[[str, str], None]) -> None:
    text, codes = CASES[name]
    err = errors_of(text, name)
    assert [d.code for d in err.diagnostics] == codes, err.render()
    for d in err.diagnostics:
        assert d.span is not None and d.hint, d.render()
    golden(f"check_errors/{name}.txt", err.render() + "\n")


def test_every_check_code_is_exercised() -> None:
    from kpi_rules.codes import CODES

    used = {code for _, codes in CASES.values() for code in codes}
    # KR350-KR359 come from resolving `extends` in the loader (tests/test_merge.py), not the checker;
    # KR321 and KR329 from combining period results (tests/test_periods.py).
    mine = {code for code in CODES if code.startswith("KR3") and not code.startswith("KR35")} - {"KR321", "KR329"}
    assert mine - used == set()


# ---------------------------------------------------------------------------- the real rule set

INDIVIDUAL = ROOT / "criteria" / "nd335" / "individual.kpi"


@pytest.fixture(scope="module")
def individual() -> CheckedRuleset:
    return check_ruleset(parse_ruleset(SourceFile.read(INDIVIDUAL)))


def _expressions(node: object) -> Iterator[object]:
    """Every expression node below ``node`` (declaration literals included)."""
    expr_types = (n.NumberLit, n.PercentLit, n.StringLit, n.BoolLit, n.DateLit, n.InsufficientData, n.Var,
                  n.Member, n.Index, n.Unary, n.Binary, n.IfElse, n.Call, n.Aggregate, n.Tiers)
    if isinstance(node, expr_types):
        yield node
    if isinstance(node, tuple):
        for item in node:
            yield from _expressions(item)
    elif is_dataclass(node) and not isinstance(node, type):
        for f in fields(node):
            if f.name != "span":
                yield from _expressions(getattr(node, f.name))


def test_individual_checks_clean(individual: CheckedRuleset) -> None:
    assert individual.warnings == ()
    assert individual.subject.name == "person"
    assert set(individual.records) == {"task_item"}
    assert set(individual.subjects) == {"person"}


def test_individual_symbols(individual: CheckedRuleset) -> None:
    sym = individual.symbols
    assert isinstance(sym["a"].type, NumberType) and sym["a"].kind == "let"
    assert sym["discipline"].type == EnumType(("none", "reprimand", "warning", "demotion", "removal", "dismissal"))
    assert len(sym["discipline"].type.members) == 6
    assert sym["tasks"].type == ListOf(RecordType("task_item"))
    assert sym["ideology_violation"].type == BOOL
    assert sym["catalogue"].type == TableType(TEXT, NumberType("number"))
    assert sym["catalogue"].kind == "table"
    assert (sym["total"].kind, sym["general"].kind, sym["i1"].kind) == ("total", "group", "criterion")
    assert sym["tasks_points"].type == NumberType("points")
    assert sym["general_i1"].type == NumberType("points")
    assert isinstance(sym["deduction_rate"].decl, n.ParamDecl)
    kinds = {s.kind for s in sym.values()}
    assert kinds == {"input", "param", "table", "let", "total", "group", "criterion"}


def test_individual_every_expression_is_typed(individual: CheckedRuleset) -> None:
    rs = individual.ruleset
    exprs = [e for part in (rs.lets, rs.criteria, rs.rating) for e in _expressions(part)]
    assert exprs
    missing = [e for e in exprs if id(e) not in individual.expr_types]
    assert missing == []
    # the quoted value compared with a one_of input is typed as that one_of
    dq = {d.name: d for d in rs.rating.disqualifiers}["disciplined"].when  # type: ignore[union-attr]
    assert isinstance(dq, n.Binary) and isinstance(dq.right, n.StringLit)
    assert individual.expr_types[id(dq.right)] == individual.symbols["discipline"].type
    assert individual.expr_types[id(dq)] == BOOL
    let_a = {x.name: x for x in rs.lets}["assigned"]
    assert individual.expr_types[id(let_a.expr)] == NUMBER


# ---------------------------------------------------------------------------- clean cases


def test_lets_may_use_later_lets_and_any_type() -> None:
    checked = check_text(rules("""  let first = second + 1
  let second = count(t in tasks where t.done > 0)
  let when = 2026-01-01
  let flag = late
  let items = tasks
  let kind = discipline
  let text = "abc"
  let per_item = sum(t in items: t.done)
  let level = if kind >= "warning" then "warning" else kind
"""))
    types = {name: s.type for name, s in checked.symbols.items() if s.kind == "let"}
    assert types["first"] == NUMBER and types["second"] == NUMBER
    assert types["when"] != NEVER and types["flag"] == BOOL and types["text"] == TEXT
    assert types["items"] == ListOf(RecordType("task_item"))
    assert types["level"] == EnumType(("none", "reprimand", "warning"))


def test_cycles_are_left_to_the_compiler() -> None:
    checked = check_text(rules("  let x = y + 1\n  let y = x * 2\n"))
    assert {checked.symbols["x"].kind, checked.symbols["y"].kind} == {"let"}


def test_relations_are_typed_and_aggregated() -> None:
    subject = SUBJECT.replace('    input late', '''    relation unit : org "Đơn vị"
    relation staff : list of person "Cấp dưới"
    input late''') + '''  subject org "Đơn vị" {
    input name : text "Tên"
  }
'''
    checked = check_text(rules("""  let strong = count(s in staff where s.score >= 50)
  let unit_name = unit.name
""", subject=subject))
    assert checked.symbols["staff"].type == ListOf(RecordType("person"))
    assert checked.symbols["unit"].type == RecordType("org")
    assert checked.symbols["unit_name"].type == TEXT
    err = errors_of(rules("  let x = unit.nam\n", subject=subject))
    assert [d.code for d in err.diagnostics] == ["KR310"] and "did you mean `name`?" in err.render()


def test_bonus_and_penalty_are_not_counted_in_the_sum() -> None:
    check_text(rules("", tree="""  criteria total "Tổng" max 100 {
    group main "Chính" max 100 {
      criterion c "C" max 100 = score
      penalty p "Trừ" max 10 {
        criterion p1 "P" max 20 = 1
      }
    }
    bonus b "Cộng" max 5 {
      criterion b1 "B" max 5 = 1
    }
  }
"""))


def test_criteria_ids_are_readable_as_points() -> None:
    checked = check_text(rules("  let half = main / 2 + total\n"))
    assert checked.symbols["half"].type == NUMBER
    assert checked.symbols["main"].type == NumberType("points")


def test_versions_that_cover_the_range_are_accepted() -> None:
    checked = check_text(rules("""  param rate : number = 1 "Mức" from 2025-01-01 until 2026-07-01
  param rate : number = 2 "Mức" from 2026-07-01
  table coef : text -> number "Hệ số" from 2026-01-01 until 2026-06-01 {
    "a" = 1
  }
  table coef : text -> number "Hệ số" from 2026-06-01 until 2027-01-01 {
    "a" = 2
  }
"""))
    assert isinstance(checked.symbols["rate"].decl, n.ParamDecl)
    assert checked.symbols["rate"].decl.value == n.NumberLit(Fraction(1))


# ---------------------------------------------------------------------------- hand-built nodes
# Cases the parser cannot produce (it rejects them first), checked on nodes built by hand.

LABEL = n.Text("x")


def ruleset(**changes: object) -> n.Ruleset:
    base: dict[str, object] = {
        "id": "t",
        "title": LABEL,
        "basis": "b",
        "version": "1",
        "in_force": n.Validity(dt.date(2026, 1, 1), dt.date(2027, 1, 1)),
        "rates": "person",
        "subjects": (n.SubjectDecl("person", LABEL, (n.InputDecl("score", n.ScalarType("number"), LABEL),)),),
        "criteria": n.CriteriaTree("total", LABEL, Fraction(10), (n.Criterion("c", LABEL, Fraction(10), n.Var("score")),)),
    }
    base.update(changes)
    return n.Ruleset(**base)  # type: ignore[arg-type]


def codes(rs: n.Ruleset) -> list[str]:
    try:
        check_ruleset(rs)
    except DiagnosticError as err:
        return [d.code for d in err.diagnostics]
    return []


def level(name: str, lower: int | None, upper: int | None) -> n.Level:
    return n.Level(name, LABEL, None if lower is None else Fraction(lower), None if upper is None else Fraction(upper))


def test_hand_built_minimal_ruleset_is_clean() -> None:
    assert codes(ruleset()) == []
    assert codes(ruleset(rating=n.Rating((level("all", None, None),)))) == []


def test_band_below_zero() -> None:
    rating = n.Rating((level("top", 5, None), level("low", -5, 5)))
    assert codes(ruleset(rating=rating)) == ["KR317"]


def test_unknown_scalar_type_and_bad_defaults() -> None:
    person = n.SubjectDecl("person", LABEL, (
        n.InputDecl("score", n.ScalarType("number"), LABEL),
        n.InputDecl("odd", n.ScalarType("numbr"), LABEL),  # type: ignore[arg-type]
        n.InputDecl("no_value", n.ScalarType("number"), LABEL, missing="default"),
        n.InputDecl("both", n.ScalarType("number"), LABEL, missing="optional", default=n.NumberLit(Fraction(1))),
    ))
    assert codes(ruleset(subjects=(person,))) == ["KR312", "KR312", "KR316"]


def test_list_typed_params_and_tables() -> None:
    items = n.ListType("task_item")
    rs = ruleset(
        records=(n.RecordDecl("task_item", LABEL, ()),),
        params=(n.ParamDecl("p", items, n.NumberLit(Fraction(1)), LABEL),),
        tables=(n.TableDecl("t", items, items, (), LABEL),),
    )
    assert codes(rs) == ["KR303", "KR303", "KR303"]


def test_ruleset_never_in_force() -> None:
    assert codes(ruleset(in_force=n.Validity(dt.date(2026, 1, 1), dt.date(2026, 1, 1)))) == ["KR308"]


def test_diagnostics_without_spans_still_render() -> None:
    with pytest.raises(DiagnosticError) as info:
        check_ruleset(ruleset(lets=(n.LetDecl("x", n.Var("scroe")),)))
    assert "error[KR301]: unknown name `scroe`" in info.value.render()
    assert "help: did you mean `score`?" in info.value.render()


def test_nested_aggregate_variable_may_not_shadow_the_outer_one() -> None:
    task = n.RecordDecl("task_item", LABEL, (n.InputDecl("done", n.ScalarType("number"), LABEL),))
    person = n.SubjectDecl("person", LABEL, (
        n.InputDecl("score", n.ScalarType("number"), LABEL),
        n.InputDecl("tasks", n.ListType("task_item"), LABEL),
    ))
    inner = n.Aggregate("sum", "t", n.Var("tasks"), None, n.Member(n.Var("t"), "done"))
    outer = n.Aggregate("sum", "t", n.Var("tasks"), None, inner)
    rs = ruleset(records=(task,), subjects=(person,), lets=(n.LetDecl("x", outer),))
    assert codes(rs) == ["KR302"]


# ---------------------------------------------------------------------------- bands, by brute force

bands = st.lists(
    st.tuples(st.one_of(st.none(), st.integers(0, 10)), st.one_of(st.none(), st.integers(1, 10))),
    min_size=1,
    max_size=5,
)


@given(bands)
def test_band_coverage_agrees_with_brute_force(raw: list[tuple[int | None, int | None]]) -> None:
    """No gap/overlap reported exactly when every score in [0, 10] (in steps of 1/2) has one level."""
    levels = tuple(level(f"l{i}", lo, hi) for i, (lo, hi) in enumerate(raw))
    found = codes(ruleset(rating=n.Rating(levels)))
    usable = [(lo or 0, hi) for lo, hi in raw if hi is None or (lo or 0) < hi]
    points = [Fraction(k, 2) for k in range(21)]
    exact = all(sum(1 for lo, hi in usable if lo <= p and (hi is None or p < hi)) == 1 for p in points)
    # with no usable band at all, only the empty bands are reported
    assert ("KR305" in found or "KR306" in found) == (bool(usable) and not exact), found
    assert ("KR317" in found) == (len(usable) < len(raw) or any(
        (raw[i + 1][0] or 0) > (raw[i][0] or 0) for i in range(len(raw) - 1)))
