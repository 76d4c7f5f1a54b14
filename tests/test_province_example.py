"""The synthetic province of examples/province/ (docs/province-example.md).

The committed data is what the generator writes for its default seed; it loads; one
``kpi-rules evaluate`` run rates every person and unit for each quarter and for the year; and the
number of subjects at each level (per role, per quarter and for the year, after the quota) is
pinned here. A change of those figures is a change of behaviour: review it, then update PINNED.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from kpi_rules.bundle import load_bundle
from kpi_rules.catalogue import load_catalogue
from kpi_rules.org import load_province
from kpi_rules.province import ProvinceResult, evaluate_province, level_counts

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "province"
GENERATOR = EXAMPLE / "generate.py"
PROVINCE = EXAMPLE / "province.json"
CATALOGUE = EXAMPLE / "catalogue.yaml"
BUNDLE = EXAMPLE / "bundle.yaml"
QUARTERS = ("2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4")
YEAR = "2026"

#: role → level → number of subjects, per quarter and for the year, exactly as the ``counts`` of
#: the JSON report. The excellent quota (Art. 20(5)) runs on the year, per unit and task group:
#: the quarters are before it, the year after it (no leader keeps excellent: their groups, the
#: head and deputies of one unit, have fewer than six members). ``insufficient_data``: a quarter
#: with nothing assigned.
PINNED: dict[str, dict[str, dict[str, int]]] = {
    "2026-Q1": {
        "staff": {"excellent": 48, "good": 152, "complete": 18, "not_complete": 1, "insufficient_data": 1},
        "deputy": {"excellent": 18, "good": 28, "complete": 1},
        "head": {"excellent": 11, "good": 22},
        "unit": {"excellent": 8, "good": 21, "complete": 3, "not_complete": 1},
    },
    "2026-Q2": {
        "staff": {"excellent": 57, "good": 138, "complete": 22, "not_complete": 3},
        "deputy": {"excellent": 21, "good": 26},
        "head": {"excellent": 17, "good": 16},
        "unit": {"excellent": 10, "good": 15, "complete": 6, "not_complete": 2},
    },
    "2026-Q3": {
        "staff": {"excellent": 58, "good": 142, "complete": 16, "not_complete": 3},
        "deputy": {"excellent": 15, "good": 29, "complete": 2, "not_complete": 1},
        "head": {"excellent": 10, "good": 23},
        "unit": {"excellent": 10, "good": 18, "complete": 4, "not_complete": 1},
    },
    "2026-Q4": {
        "staff": {"excellent": 50, "good": 145, "complete": 20, "not_complete": 4},
        "deputy": {"excellent": 20, "good": 25, "complete": 1, "not_complete": 1},
        "head": {"excellent": 11, "good": 22},
        "unit": {"excellent": 8, "good": 20, "complete": 5},
    },
    "2026": {
        "staff": {"excellent": 17, "good": 186, "complete": 15, "not_complete": 2},
        "deputy": {"excellent": 5, "good": 41, "not_complete": 1},
        "head": {"excellent": 3, "good": 30},
        "unit": {"excellent": 8, "good": 14, "complete": 9, "not_complete": 2},
    },
}

#: The special cases of the default seed (docs/province-example.md).
MATERNITY, NEWCOMER, REPRIMANDED, REPRIMANDED_Q4, DEGRADED = "p294", "p158", "p118", "p127", "p269"
FLOODED, UNREMEDIED = "kbang", "stc.dt"


def _generate(out: Path, *args: str) -> None:
    subprocess.run([sys.executable, str(GENERATOR), "--out", str(out), *args],
                   check=True, capture_output=True, text=True)


@cache
def _data() -> dict[str, Any]:
    return json.loads(PROVINCE.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@cache
def _outcome() -> ProvinceResult:
    return evaluate_province(load_bundle(BUNDLE), load_province(PROVINCE))


# --------------------------------------------------------------------------- the data


def test_regenerating_with_the_default_seed_reproduces_the_committed_files(tmp_path: Path) -> None:
    _generate(tmp_path)
    for name in ("province.json", "catalogue.yaml"):
        assert (tmp_path / name).read_bytes() == (EXAMPLE / name).read_bytes(), (
            f"examples/province/{name} is not what generate.py writes; run "
            "`python3 examples/province/generate.py` and review the diff")


def test_a_seed_writes_the_same_bytes_and_another_seed_other_data(tmp_path: Path) -> None:
    _generate(tmp_path / "a", "--seed", "7", "--people", "200")
    _generate(tmp_path / "b", "--seed", "7", "--people", "200")
    a = (tmp_path / "a" / "province.json").read_bytes()
    assert a == (tmp_path / "b" / "province.json").read_bytes()
    assert a != PROVINCE.read_bytes()
    assert len(json.loads(a)["people"]) == 200
    load_province(tmp_path / "a" / "province.json")


def test_the_committed_files_are_small() -> None:
    assert PROVINCE.stat().st_size < 2_000_000
    assert CATALOGUE.stat().st_size < 20_000


def test_the_data_has_the_documented_shape() -> None:
    data = _data()
    units, people, records = data["units"], data["people"], data["records"]
    assert data["province"] == {"id": "gl-synth", "name": "Tỉnh Gia Lai (dữ liệu mô phỏng)"}
    kinds = Counter(u["kind"] for u in units)
    assert kinds == {"department": 4, "commune": 4, "division": 11, "subdepartment": 3, "commune_division": 11}
    tops = [u["id"] for u in units if u["parent"] is None]
    for top in tops:
        assert 2 <= sum(u["parent"] == top for u in units) <= 4
    assert len(people) == 300
    assert Counter(p["role"] for p in people) == {"staff": 220, "deputy": 47, "head": 33}
    per_unit = Counter((p["unit"], p["role"]) for p in people)
    for unit in units:
        assert per_unit[(unit["id"], "head")] == 1
        assert 1 <= per_unit[(unit["id"], "deputy")] <= 2
    for p in people:
        assert len(p["name"].split()) >= 2
        if p["role"] == "staff":
            assert p["field"] and p["task_group"] in ("chuyen_mon", "ho_tro")
        else:
            assert p["task_group"] == "lanh_dao"
        if p["role"] == "deputy":
            assert p["fields"]
    # one record per subject and quarter, except the maternity leave (Q3, Q4)
    keys = Counter((r["subject"], r["period"]) for r in records)
    assert set(keys.values()) == {1}
    subjects = [p["id"] for p in people] + [u["id"] for u in units]
    expected = {(s, q) for s in subjects for q in QUARTERS} - {(MATERNITY, "2026-Q3"), (MATERNITY, "2026-Q4")}
    assert set(keys) == expected


def test_the_special_cases_are_in_the_data() -> None:
    by_key = {(r["subject"], r["period"]): r for r in _data()["records"]}
    assert by_key[(NEWCOMER, "2026-Q1")]["inputs"]["tasks"] == []
    assert [q for q in QUARTERS if by_key[(REPRIMANDED, q)]["inputs"].get("discipline") == "reprimand"] == list(QUARTERS[1:])
    assert [q for q in QUARTERS if by_key[(REPRIMANDED_Q4, q)]["inputs"].get("discipline") == "reprimand"] == ["2026-Q4"]
    assert [q for q in QUARTERS if by_key[(DEGRADED, q)]["inputs"].get("ideology_violation")] == list(QUARTERS[2:])
    overrides = [r for r in _data()["records"] if "override" in r]
    assert [(r["subject"], r["period"]) for r in overrides] == [(FLOODED, "2026-Q4")]
    assert set(overrides[0]["override"]) == {"level", "decided_by", "decided_on", "clause", "reason"}
    flooded = by_key[(FLOODED, "2026-Q4")]["inputs"]
    assert flooded["tasks_done"] < 0.7 * flooded["tasks_assigned"]
    assert [q for q in QUARTERS if by_key[(UNREMEDIED, q)]["inputs"].get("shortcomings_remedied") is False] == list(QUARTERS[:2])
    # general criteria in steps of 0.25 within their maxima
    for r in _data()["records"]:
        for name, value in r["inputs"].items():
            if name.startswith("general_"):
                assert value * 4 == int(value * 4) and 0 <= value <= (10 if name == "general_iii" else 7.5)


def test_the_data_loads() -> None:
    province = load_province(PROVINCE)
    assert len(province.units) == 33 and len(province.people) == 300
    assert province.periods() == QUARTERS
    catalogue = load_catalogue(CATALOGUE)
    codes = {p.code for p in catalogue.products}
    used = {t["product"] for r in _data()["records"] for t in r["inputs"].get("tasks", ())}
    assert used <= codes
    assert set(load_bundle(BUNDLE).roles) == {"staff", "deputy", "head", "unit"}


# --------------------------------------------------------------------------- the ratings


def test_every_subject_is_rated_for_each_quarter_and_the_year() -> None:
    outcome = _outcome()
    assert outcome.rejected == ()
    assert outcome.periods == QUARTERS
    province = outcome.province
    subjects = set(province.people) | set(province.units)
    for period in QUARTERS:
        rated = {s for (s, p) in outcome.results if p == period}
        missing = {MATERNITY} if period in ("2026-Q3", "2026-Q4") else set()
        assert rated == subjects - missing, period
    assert {s for (s, y) in outcome.years if y == YEAR} == subjects


def test_the_special_cases_are_rated_as_the_rules_say() -> None:
    outcome = _outcome()
    assert outcome.results[(NEWCOMER, "2026-Q1")].status == "insufficient_data"
    newcomer = outcome.years[(NEWCOMER, YEAR)]
    assert newcomer.status == "rated"
    assert newcomer.combined is not None
    assert [u.period for u in newcomer.combined.periods if u.used] == list(QUARTERS[1:])
    year = outcome.years[(MATERNITY, YEAR)]
    q1, q2 = (outcome.results[(MATERNITY, q)].total for q in QUARTERS[:2])
    assert q1 is not None and q2 is not None
    assert year.total == (q1 + q2) / 2  # the mean of the quarters actually worked
    for subject in (REPRIMANDED, REPRIMANDED_Q4, DEGRADED):
        assert outcome.years[(subject, YEAR)].level == "not_complete", subject
    flooded = outcome.results[(FLOODED, "2026-Q4")]
    assert flooded.decision is not None
    assert (flooded.level, flooded.decision.reason) == ("complete", "override")
    for quarter in QUARTERS[:2]:  # excellent by score, but the shortcomings are not remedied
        unremedied = outcome.results[(UNREMEDIED, quarter)]
        assert unremedied.decision is not None
        assert (unremedied.decision.band_level, unremedied.level) == ("excellent", "good")


def _counts() -> dict[str, dict[str, dict[str, int]]]:
    outcome = _outcome()
    return {span: level_counts(outcome, span) for span in (*QUARTERS, YEAR)}


def test_the_quota_holds_in_every_group() -> None:
    """Art. 20(5), strict reading: excellent ≤ 20% of good (year), per unit and task group for
    staff, per agency (the root of the unit's tree) and task group for heads and deputies."""
    outcome = _outcome()
    province = outcome.province

    def agency(unit_id: str) -> str:
        while province.units[unit_id].parent is not None:
            unit_id = str(province.units[unit_id].parent)
        return unit_id

    groups: dict[tuple[str, str | None], Counter[str]] = {}
    for (subject, span), result in outcome.years.items():
        person = province.people.get(subject)
        if person is None or span != YEAR:
            continue
        where = person.unit if person.role == "staff" else agency(person.unit)
        groups.setdefault((where, person.task_group), Counter())[str(result.level)] += 1
    assert len(groups) == 40  # staff per unit and task group, plus one leaders group per agency
    demoted = [len(getattr(report, "demoted", ())) for report in outcome.quota_reports]
    assert sum(demoted) == 40
    leaders_excellent = sum(levels["excellent"] for (_, group), levels in groups.items() if group == "lanh_dao")
    assert leaders_excellent == 8  # one per agency: ⌊N/6⌋ of about ten leaders
    for key, levels in groups.items():
        assert 5 * levels["excellent"] <= levels["good"], (key, levels)


# --------------------------------------------------------------------------- the command line


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    """The README's command, once: ``kpi-rules evaluate BUNDLE PROVINCE --format json``."""
    run = subprocess.run(
        [sys.executable, "-m", "kpi_rules", "evaluate", str(BUNDLE.relative_to(ROOT)),
         str(PROVINCE.relative_to(ROOT)), "--format", "json"],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)  # type: ignore[no-any-return]


def test_one_run_rates_every_person_and_unit_for_each_quarter_and_the_year(report: dict[str, Any]) -> None:
    assert report["province"] == "gl-synth" and report["periods"] == list(QUARTERS)
    assert report["rejected"] == [] and report["notes"] == []
    assert report["stages"] == {"periods": "ran", "cohort": "ran"}
    data = _data()
    subjects = {p["id"] for p in data["people"]} | {u["id"] for u in data["units"]}
    assert set(report["roles"]) == subjects
    rows = Counter((r["id"], r["period"]) for r in report["results"])
    expected = {(s, q) for s in subjects for q in QUARTERS} - {(MATERNITY, "2026-Q3"), (MATERNITY, "2026-Q4")}
    assert set(rows) == expected and set(rows.values()) == {1}
    assert sorted(r["id"] for r in report["years"]) == sorted(subjects)
    assert {r["period"] for r in report["years"]} == {YEAR}


def test_the_totals_per_level_are_pinned(report: dict[str, Any]) -> None:
    counts = report["counts"]
    assert counts == _counts(), "the command line and the library disagree"
    assert counts == PINNED, (
        "the figures changed; review them, then update PINNED:\n" + json.dumps(counts, indent=1, sort_keys=True))


def test_the_national_bundle_rates_the_inline_catalogue_variant(tmp_path: Path) -> None:
    """``criteria/nd335/bundle.yaml`` binds no catalogue: with ``--inline-catalogue`` the generator
    uses only the products inlined in individual.kpi, and the national bundle rates it all."""
    _generate(tmp_path, "--inline-catalogue")
    assert not (tmp_path / "catalogue.yaml").exists()
    run = subprocess.run(
        [sys.executable, "-m", "kpi_rules", "evaluate", "criteria/nd335/bundle.yaml",
         str(tmp_path / "province.json"), "--format", "json"],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout)
    assert report["rejected"] == [] and report["stages"] == {"periods": "ran", "cohort": "ran"}
    assert len(report["years"]) == 333
