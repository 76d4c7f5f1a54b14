"""The compiler: steps in dependency order, versions in force, cycles rejected as KR401."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from fractions import Fraction

import pytest

from kpi_rules.compiler import compile_ruleset, expression_reads
from kpi_rules.diagnostics import DiagnosticError
from kpi_rules.parser import parse_expression
from kpi_rules.source import SourceFile
from plan_helpers import individual_plan, small_plan

Golden = Callable[[str, str], None]

RATING = """  rating {
    level hi "H" from 5
    level lo "L" below 5
  }"""


def cycle_error(body: str, path: str) -> DiagnosticError:
    with pytest.raises(DiagnosticError) as info:
        small_plan('    input n : number "n"', body, path)
    assert all(d.code == "KR401" for d in info.value.diagnostics)
    return info.value


# --------------------------------------------------------------------------- order


def test_individual_plan_order() -> None:
    plan = individual_plan()
    assert [(s.name, s.kind) for s in plan.steps] == [
        ("assigned", "let"), ("completed", "let"), ("quality_credit", "let"), ("timely_credit", "let"),
        ("a", "let"), ("b", "let"), ("c", "let"),
        ("i1", "criterion"), ("i2", "criterion"), ("i", "group"),
        ("ii1", "criterion"), ("ii2", "criterion"), ("ii3", "criterion"), ("ii4", "criterion"), ("ii", "group"),
        ("iii1", "criterion"), ("iii", "group"), ("general", "group"),
        ("tasks_points", "criterion"), ("results", "group"), ("total", "total"),
        ("ideology", "disqualifier"), ("disciplined", "disqualifier"),
    ]


def test_steps_keep_deps_node_and_tree_shape() -> None:
    plan = individual_plan()
    assert plan.step("assigned").deps == ("tasks", "catalogue")  # `t` is the aggregate's own
    assert plan.step("a").deps == ("completed", "assigned", "component_cap")
    assert plan.step("tasks_points").deps == ("a", "b", "c")
    assert plan.step("general").deps == ("i", "ii", "iii")
    assert plan.step("general").children == ("i", "ii", "iii")
    assert plan.step("i1").parent == "i"
    assert plan.step("total").parent is None
    a = plan.step("a")
    assert a.label is not None and a.label.en == "Quantity (a)"
    assert a.cite == "Điều 14 khoản 2 điểm a"
    assert a.span is not None and a.span.line_col()[0] == 45
    assert a.expr is a.node.expr  # type: ignore[union-attr]
    assert plan.step("total").expr is None


def test_every_step_comes_after_what_it_reads() -> None:
    plan = individual_plan()
    seen: set[str] = set()
    names = {s.name for s in plan.steps}
    for step in plan.steps:
        assert all(d in seen for d in step.deps if d in names), step.name
        seen.add(step.name)


def test_forward_references_are_ordered_by_dependency_then_declaration() -> None:
    plan = small_plan(
        '    input n : number "n"',
        """  let z = y + x
  let y = x * 2
  let w = n
  let x = n + 1
  criteria total "T" max 10 {
    criterion c "C" max 10 = z
  }
""" + RATING,
    )
    assert [s.name for s in plan.steps] == ["w", "x", "y", "z", "c", "total"]


def test_conditions_are_named_after_their_level() -> None:
    plan = small_plan(
        '    input n : number "n"\n    input ok : bool "ok"',
        """  criteria total "T" max 10 {
    criterion c "C" max 10 = n
  }
  rating {
    level hi "H" from 5 {
      require fine "F" = ok and total >= 6
    }
    level lo "L" below 5
  }""",
    )
    step = plan.step("hi.fine")
    assert step.kind == "condition" and step.level == "hi"
    assert step.deps == ("ok", "total")
    assert [s.name for s in plan.steps][-1] == "hi.fine"


def test_compiling_twice_gives_the_same_plan() -> None:
    first = individual_plan()
    again = compile_ruleset(first.checked, content_hash=first.provenance.content_hash)
    assert [(s.name, s.deps) for s in again.steps] == [(s.name, s.deps) for s in first.steps]
    assert again.provenance == first.provenance


def test_provenance() -> None:
    plan = individual_plan()
    assert plan.provenance.ruleset_id == "nd335.individual"
    assert plan.provenance.version == "2026.1"
    assert len(plan.provenance.content_hash) == 64


def test_expression_reads_skips_locals_fields_and_functions() -> None:
    expr = parse_expression(
        SourceFile("<t>", "sum(t in tasks where t.done: max(t.x, cap) * rates[t.kind]) + percent(k, m, if_zero: z)")
    )
    assert list(expression_reads(expr)) == ["tasks", "cap", "rates", "k", "m", "z"]


# --------------------------------------------------------------------------- versions


def test_param_and_table_versions_in_force() -> None:
    plan = small_plan(
        '    input n : number "n"',
        """  param rate : number = 25% "R" from 2026-01-01 until 2026-07-01
  param rate : number = 30% "R" from 2026-07-01
  table coef : text -> number "K" from 2026-01-01 until 2026-07-01 {
    "A" = 1
  }
  table coef : text -> number "K" from 2026-07-01 {
    "A" = 2
  }
  criteria total "T" max 10 {
    criterion c "C" max 10 = n * rate * coef["A"]
  }
""" + RATING,
    )
    spring, autumn = dt.date(2026, 3, 1), dt.date(2026, 9, 1)
    assert plan.param_version("rate", spring).value == Fraction(1, 4)  # type: ignore[union-attr]
    assert plan.param_version("rate", autumn).value == Fraction(3, 10)  # type: ignore[union-attr]
    assert plan.param_version("rate").value == Fraction(1, 4)  # type: ignore[union-attr]  # in_force start
    assert plan.param_version("rate", dt.date(2025, 1, 1)) is None
    assert plan.table_version("coef", autumn).rows["A"] == 2  # type: ignore[union-attr]
    assert plan.table_version("coef", spring).rows["A"] == 1  # type: ignore[union-attr]


# --------------------------------------------------------------------------- cycles


def test_two_cycle(golden: Golden) -> None:
    error = cycle_error("  let x = y + 1\n  let y = x\n", "two_cycle.kpi")
    (diag,) = error.diagnostics
    assert diag.message == "`x` depends on `y`, which depends on `x`"
    assert diag.span is not None and diag.span.source.text[diag.span.start : diag.span.end] == "y"
    assert [label.message for label in diag.labels] == ["`y` reads `x` here"]
    golden("graph_errors/two_cycle.txt", error.render())


def test_self_cycle(golden: Golden) -> None:
    error = cycle_error("  let s = n + s * 2\n", "self_cycle.kpi")
    (diag,) = error.diagnostics
    assert diag.message == "`s` depends on itself"
    assert diag.labels == ()
    golden("graph_errors/self_cycle.txt", error.render())


def test_three_cycle(golden: Golden) -> None:
    error = cycle_error("  let p = q\n  let q = r + n\n  let r = max(p, 1)\n  let ok = n\n", "three_cycle.kpi")
    (diag,) = error.diagnostics
    assert diag.message == "`p` depends on `q`, which depends on `r`, which depends on `p`"
    assert len(diag.labels) == 2
    golden("graph_errors/three_cycle.txt", error.render())


def test_criterion_reading_the_total_that_contains_it(golden: Golden) -> None:
    body = """  criteria total "T" max 10 {
    group g "G" max 10 {
      criterion c "C" max 10 = total / 2
    }
  }
""" + RATING
    error = cycle_error(body, "total_cycle.kpi")
    (diag,) = error.diagnostics
    assert diag.message == "`c` depends on `total`, which contains `g`, which contains `c`"
    golden("graph_errors/total_cycle.txt", error.render())


def test_let_reading_a_group_that_reads_the_let() -> None:
    body = """  let share = g / 10
  criteria total "T" max 10 {
    group g "G" max 10 {
      criterion c "C" max 10 = share * 10
    }
  }
""" + RATING
    (diag,) = cycle_error(body, "let_group.kpi").diagnostics
    assert diag.message == "`share` depends on `g`, which contains `c`, which depends on `share`"


def test_every_distinct_cycle_is_reported_once(golden: Golden) -> None:
    # x <-> y and y <-> z share y: two cycles; s is a self-cycle; w merely reads a cycle.
    body = "  let x = y\n  let y = x + z\n  let z = y\n  let s = s\n  let w = x + n\n"
    error = cycle_error(body, "many_cycles.kpi")
    assert [d.message for d in error.diagnostics] == [
        "`x` depends on `y`, which depends on `x`",
        "`y` depends on `z`, which depends on `y`",
        "`s` depends on itself",
    ]
    golden("graph_errors/many_cycles.txt", error.render())


def test_cycles_and_a_diamond_are_different() -> None:
    # A diamond (two paths to one definition) is not a cycle.
    plan = small_plan('    input n : number "n"', "  let a = b + c\n  let b = d\n  let c = d\n  let d = n\n")
    assert [s.name for s in plan.steps] == ["d", "b", "c", "a"]
