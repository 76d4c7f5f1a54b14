"""Local variants differ from the national rule set exactly where they say they do."""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from pathlib import Path

import pytest

import kpi_rules
from kpi_rules import nodes
from kpi_rules.cli import main
from kpi_rules.cohort import apply_cohort
from kpi_rules.periods import combine_periods
from kpi_rules.engine import RuleSet
from kpi_rules.results import RelatedResult, Result

ROOT = Path(__file__).resolve().parent.parent
NATIONAL = ROOT / "criteria" / "nd335" / "individual.kpi"
TIERED = ROOT / "criteria" / "local" / "tiered.kpi"
CUSTOMS = ROOT / "criteria" / "local" / "customs" / "individual.kpi"
CUSTOMS_HEAD = ROOT / "criteria" / "local" / "customs" / "head.kpi"
NATIONAL_HEAD = ROOT / "criteria" / "nd335" / "head.kpi"
#: The levels, lowest first.
LEVELS = ["not_complete", "complete", "good", "excellent"]
GIA_LAI = ROOT / "criteria" / "local" / "gia_lai" / "organisation.kpi"
NATIONAL_ORG = ROOT / "criteria" / "nd335" / "organisation.kpi"


def _by_id(rules: RuleSet, examples: str) -> dict[str, Result]:
    outcome = rules.evaluate_many(kpi_rules.read_records(ROOT / "examples" / examples))
    assert outcome.rejected == ()
    return {r.subject_id: r for r in outcome.results}


def _points(result: Result) -> dict[str, object]:
    out: dict[str, object] = {}

    def walk(node: object) -> None:
        out[getattr(node, "name")] = getattr(node, "points")
        for child in getattr(node, "children", ()):
            walk(child)

    walk(result.criteria)
    return out


def _without_header(ruleset: nodes.Ruleset, *fields: str) -> nodes.Ruleset:
    """The rule set with the header and the named fields blanked, to compare the rest."""
    blank = {f: getattr(nodes.Ruleset(id="", title=nodes.Text(""), basis="", version="", in_force=ruleset.in_force,
                                      rates=""), f) for f in fields}
    return dataclasses.replace(ruleset, id="", title=nodes.Text(""), basis="", version="", extends=None,
                               in_force=nodes.Validity(ruleset.in_force.start.min), **blank)


@pytest.fixture(scope="module")
def national() -> RuleSet:
    return kpi_rules.load(NATIONAL)


# --------------------------------------------------------------------------- tiered


def test_tiered_changes_only_the_task_results_group_and_adds_a_param(national: RuleSet) -> None:
    tiered = kpi_rules.load(TIERED)
    mine, theirs = tiered.plan.ruleset, national.plan.ruleset
    assert _without_header(mine, "criteria", "params") == _without_header(theirs, "criteria", "params")
    assert [p.name for p in mine.params] == [p.name for p in theirs.params] + ["tier_scale"]
    assert mine.criteria is not None and theirs.criteria is not None
    assert mine.criteria.children[0] == theirs.criteria.children[0]  # the general criteria
    results = mine.criteria.children[1]
    assert isinstance(results, nodes.CriteriaGroup) and results.max == 70
    assert [c.name for c in results.children] == ["quantity", "quality", "progress"]
    assert all(isinstance(c, nodes.Criterion) and isinstance(c.expr.left, nodes.Tiers)  # type: ignore[union-attr]
               for c in results.children)


def test_tiered_rates_the_examples_differently_only_in_task_points(national: RuleSet) -> None:
    tiered = kpi_rules.load(TIERED)
    mine, theirs = _by_id(tiered, "local_tiered.json"), _by_id(national, "local_tiered.json")
    assert [(k, r.total, r.level) for k, r in mine.items()] == [
        ("td-001", 47, "not_complete"), ("td-002", 89, "good"), ("td-003", 97, "excellent")]
    assert [(k, r.total, r.level) for k, r in theirs.items()] == [
        ("td-001", pytest.approx(74.578125), "good"), ("td-002", 90, "excellent"), ("td-003", 97, "excellent")]
    for key in mine:
        assert _points(mine[key])["general"] == _points(theirs[key])["general"]
        assert mine[key].values == theirs[key].values  # a, b, c are computed as nationally
    assert _points(mine["td-002"])["quantity"] == 16


# --------------------------------------------------------------------------- customs


def test_customs_adds_flags_and_conditions_and_nothing_else(national: RuleSet) -> None:
    customs = kpi_rules.load(CUSTOMS)
    mine, theirs = customs.plan.ruleset, national.plan.ruleset
    assert mine.in_force.start.isoformat() == "2026-07-01"
    same = ("subjects", "params", "lets", "rating", "periods", "cohorts")
    assert _without_header(mine, *same) == _without_header(theirs, *same)
    assert [c.name for c in mine.cohorts] == [c.name for c in theirs.cohorts] == ["excellent_quota"]
    assert (mine.cohorts[0].exception_flag, theirs.cohorts[0].exception_flag) == ("special_unit", "outstanding_unit")
    assert mine.criteria == theirs.criteria
    added = [i.name for i in mine.subjects[0].inputs][len(theirs.subjects[0].inputs):]
    assert added == ["key_task_late", "target_missed", "late_reports"]
    assert mine.subjects[0].inputs[: len(theirs.subjects[0].inputs)] == theirs.subjects[0].inputs
    assert [let.name for let in mine.lets] == [let.name for let in theirs.lets] + ["downgrade_flag"]
    assert mine.rating is not None and theirs.rating is not None
    assert mine.rating.disqualifiers == theirs.rating.disqualifiers
    assert mine.rating.override == theirs.rating.override
    for old, new in zip(theirs.rating.levels, mine.rating.levels, strict=True):
        assert (old.name, old.lower, old.upper) == (new.name, new.lower, new.upper)
        extra = [c.name for c in new.conditions][len(old.conditions):]
        assert extra == (["no_downgrade_flag"] if old.name in ("excellent", "good") else [])


def test_customs_totals_equal_national_and_flags_lower_the_level(national: RuleSet) -> None:
    customs = kpi_rules.load(CUSTOMS)
    mine = _by_id(customs, "local_customs_individual.json")
    # the national rule set has no flag inputs: rate the same records without them
    raws = kpi_rules.read_records(ROOT / "examples" / "local_customs_individual.json")
    flags = ("key_task_late", "target_missed", "late_reports")
    stripped = [{**r, "inputs": {k: v for k, v in r["inputs"].items() if k not in flags}, "on": None}  # type: ignore[index, union-attr, dict-item]
                for r in raws]
    theirs = {r.subject_id: r for r in national.evaluate_many(stripped).results}
    assert {k: r.total for k, r in mine.items()} == {k: r.total for k, r in theirs.items()}
    assert {k: r.level for k, r in mine.items()} == {
        "hq-001": "complete", "hq-002": "good", "hq-003": "complete", "hq-004": "excellent"}
    assert {k: r.level for k, r in theirs.items()} == {
        "hq-001": "good", "hq-002": "good", "hq-003": "excellent", "hq-004": "excellent"}


def _quarter(rules: RuleSet, rid: str, period: str, completed: int, general: int) -> Result:
    """A quarter's result: tasks 10 assigned, ``completed`` done, general points ``general``."""
    inputs: dict[str, object] = {"tasks": [{"product": "VB-HC", "assigned": 10, "completed": completed}]}
    left = Fraction(general)
    for name, cap in (("general_i1", 5), ("general_i2", 5), ("general_iii", 10), ("general_ii1", 2.5),
                      ("general_ii2", 2.5), ("general_ii3", 2.5), ("general_ii4", 2.5)):
        inputs[name] = min(left, Fraction(str(cap)))
        left -= min(left, Fraction(str(cap)))
    return rules.evaluate({"id": rid, "period": period, "inputs": inputs})


def test_customs_year_comes_from_the_quarters_levels(national: RuleSet) -> None:
    customs = kpi_rules.load(CUSTOMS)
    assert customs.plan.ruleset.periods is not None and customs.plan.ruleset.periods.combine == "rating_count"
    assert national.plan.ruleset.periods is not None and national.plan.ruleset.periods.combine == "mean"
    cases = {  # (completed, general) per quarter → (national year level, Customs year level)
        "two quarters complete": ([(9, 6), (9, 6)], ("complete", "good")),
        "two quarters excellent": ([(10, 22), (10, 21)], ("excellent", "excellent")),
        "excellent then good (mean 93.5)": ([(10, 29), (10, 18)], ("excellent", "good")),
        "two quarters not complete": ([(6, 3), (6, 3)], ("not_complete", "not_complete")),
    }
    for name, (quarters, expected) in cases.items():
        levels = []
        for rules in (national, customs):
            results = [_quarter(rules, "p", f"2026-Q{3 + i}", done, general)
                       for i, (done, general) in enumerate(quarters)]
            year = combine_periods(rules.plan, "p", "2026", results)
            levels.append(year.level)
        assert tuple(levels) == expected, name


def test_customs_special_units_get_25_percent(national: RuleSet) -> None:
    customs = kpi_rules.load(CUSTOMS)
    # ten people at excellent or good in one unit and task group: 20% keeps 1, 25% keeps 2
    people = [(f"p{i:02}", 99 - i) for i in range(5)] + [(f"p{i:02}", 80) for i in range(5, 10)]
    kept = {}
    for name, rules in (("national", national), ("customs", customs)):
        results = [_quarter(rules, pid, "2026-Q3", 10, general - 70) for pid, general in people]
        members = {pid: {"unit": "cc-hq", "task_group": "cv", "special_unit": True, "late_reports": 0}
                   for pid, _ in people}
        final, _ = apply_cohort(rules.plan, results, members)
        kept[name] = [r.subject_id for r in final if r.level == "excellent"]
    assert kept == {"national": ["p00"], "customs": ["p00", "p01"]}


def test_customs_head_is_never_above_the_unit() -> None:
    head, national_head = kpi_rules.load(CUSTOMS_HEAD), kpi_rules.load(NATIONAL_HEAD)
    mine, theirs = head.plan.ruleset, national_head.plan.ruleset
    assert [s.split(" ")[0] for s in head.plan.provenance.sources] == [
        str(CUSTOMS_HEAD), str(NATIONAL_HEAD), str(NATIONAL)]
    assert mine.criteria == theirs.criteria and mine.params == theirs.params
    assert [r.name for r in mine.subjects[0].relations] == [r.name for r in theirs.subjects[0].relations] + ["unit"]
    raws = kpi_rules.read_records(ROOT / "examples" / "local_customs_head.json")
    for raw in raws:
        record = head.record(raw)  # type: ignore[arg-type]
        alone = national_head.evaluate(dataclasses.replace(national_head.record(raw), related={"supervised": ()}))  # type: ignore[arg-type]
        for unit_level in ("excellent", "good", "complete", "not_complete", None):
            unit = RelatedResult("chi-cuc", total=None, level=unit_level, rated=unit_level is not None)
            result = head.evaluate(dataclasses.replace(record, related={"unit": unit, "supervised": ()}))
            assert result.total == alone.total
            expected = alone.level if unit_level is None else min(alone.level, unit_level, key=LEVELS.index)
            assert result.level == expected, (raw, unit_level)
    assert [national_head.evaluate(dataclasses.replace(national_head.record(r), related={"supervised": ()})).level  # type: ignore[arg-type]
            for r in raws] == ["excellent", "good"]


# --------------------------------------------------------------------------- Gia Lai


def test_gia_lai_replaces_part_b_and_adds_key_task_inputs() -> None:
    gia_lai, national_org = kpi_rules.load(GIA_LAI), kpi_rules.load(NATIONAL_ORG)
    mine, theirs = gia_lai.plan.ruleset, national_org.plan.ruleset
    same = ("subjects", "lets", "criteria", "rating")
    assert _without_header(mine, *same) == _without_header(theirs, *same)
    assert [i.name for i in mine.subjects[0].inputs] == [i.name for i in theirs.subjects[0].inputs] + [
        "key_tasks_assigned", "key_tasks_done"]
    assert mine.subjects[0].relations == theirs.subjects[0].relations
    assert [let.name for let in mine.lets] == [let.name for let in theirs.lets] + ["programme_share", "key_share"]
    assert mine.criteria is not None and theirs.criteria is not None
    assert mine.criteria.children[0] == theirs.criteria.children[0]
    results = mine.criteria.children[1]
    assert isinstance(results, nodes.CriteriaGroup)
    assert [(c.name, c.max) for c in results.children] == [("key_tasks", 35), ("programme_tasks", 35)]
    assert mine.rating is not None and theirs.rating is not None
    assert dataclasses.replace(mine.rating, cite=None) == dataclasses.replace(theirs.rating, cite=None)
    assert mine.rating.cite is not None and "mục III.1" in mine.rating.cite


def test_gia_lai_differs_from_national_only_when_key_tasks_lag() -> None:
    gia_lai, national_org = kpi_rules.load(GIA_LAI), kpi_rules.load(NATIONAL_ORG)
    mine = _by_id(gia_lai, "local_gia_lai_organisation.json")
    raws = kpi_rules.read_records(ROOT / "examples" / "local_gia_lai_organisation.json")
    stripped = [{**r, "inputs": {k: v for k, v in r["inputs"].items() if not k.startswith("key_")}}  # type: ignore[index, union-attr, dict-item]
                for r in raws]
    theirs = {r.subject_id: r for r in national_org.evaluate_many(stripped).results}
    assert {k: (r.total, r.level) for k, r in mine.items()} == {
        "snv": (98, "excellent"), "sxd": (Fraction(161, 2), "good"), "xa-ia-grai": (Fraction(266, 3), "not_complete")}
    assert {k: (r.total, r.level) for k, r in theirs.items()} == {
        "snv": (98, "excellent"), "sxd": (98, "excellent"), "xa-ia-grai": (Fraction(266, 3), "not_complete")}


# --------------------------------------------------------------------------- all variants


@pytest.mark.parametrize("path", [TIERED, CUSTOMS, CUSTOMS_HEAD, GIA_LAI], ids=lambda p: p.parent.name + "/" + p.stem)
def test_variants_check_clean_and_are_canonical(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(path)]) == 0
    assert main(["fmt", "--check", str(path)]) == 0
    assert "ok:" in capsys.readouterr().out


def test_variant_provenance_names_both_files() -> None:
    tiered = kpi_rules.load(TIERED)
    assert [s.split(" ")[0] for s in tiered.plan.provenance.sources] == [str(TIERED), str(NATIONAL)]


def test_variants_accept_a_catalogue() -> None:
    tiered = kpi_rules.load(TIERED, catalogue=ROOT / "criteria" / "catalogues" / "sample.yaml")
    assert {k: r.total for k, r in _by_id(tiered, "local_tiered.json").items()} == {
        "td-001": 47, "td-002": 89, "td-003": 97}
