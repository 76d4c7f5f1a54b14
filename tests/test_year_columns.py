"""Years and quota from the batches' columns (year_columns.py, quota_columns.py) equal the JSON run's.

Generated provinces exercise what the columns must decide exactly or hand to the existing
functions: periods not worked (leave), insufficient data (no task assigned), a disqualifier fired
in one quarter, level conditions (units, organisation.kpi; the Customs variant's flags), overrides
(rated one by one, combined by ``combine_periods``), ties at the quota's cut (few distinct
scores, equal tie-breakers), the 25% exception (a flag on every member of a group, or on some
only), ``combine rating_count`` and a tie-breaker attribute (the Customs variant).
"""

from __future__ import annotations

import copy
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("pyarrow")

from kpi_rules.bundle import Bundle, load_bundle  # noqa: E402
from kpi_rules.org import province_from_data  # noqa: E402
from kpi_rules.province import combine_and_rank, evaluate_province  # noqa: E402
from kpi_rules.province_batch import evaluate_province_tables  # noqa: E402
from kpi_rules.province_tables import load_province_tables, write_province_tables  # noqa: E402
from kpi_rules.year_columns import YearResults, combine_and_rank_columns  # noqa: E402

from plan_helpers import ROOT  # noqa: E402
from province_strategies import OVERRIDE, provinces as generated_provinces  # noqa: E402

ND335 = ROOT / "criteria" / "nd335" / "bundle.yaml"
CUSTOMS = ROOT / "criteria" / "local" / "customs"


def _customs_bundle(folder: Path) -> Bundle:
    """Staff on the Customs variant (rating_count, conditions, a tie-breaker), heads capped by their unit."""
    path = folder / "bundle.yaml"
    nd = ROOT / "criteria" / "nd335"
    path.write_text(
        "bundle: customs-test\nroles:\n"
        f"  staff: {CUSTOMS / 'individual.kpi'}\n  deputy: {nd / 'deputy.kpi'}\n"
        f"  head: {CUSTOMS / 'head.kpi'}\n  unit: {nd / 'organisation.kpi'}\n"
        "catalogue: null\nsettings:\n  head_supervises: subtree\n  deputy_supervises: unit\n", encoding="utf-8")
    return load_bundle(path)


def provinces(customs: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    """Provinces for years and quota: the shared generator's ``quota`` mix (tests/province_strategies.py)."""
    return generated_provinces(quota=True, customs=customs)


def _check(bundle: Bundle, data: dict[str, Any], folder: Path) -> YearResults:
    reference = evaluate_province(bundle, province_from_data(copy.deepcopy(data)))
    write_province_tables(data, folder, "parquet")
    run = evaluate_province_tables(bundle, load_province_tables(folder), chunk_size=7)
    got = run.outcome
    assert got.results.from_batches(), "the run read years and quota from the columns"  # type: ignore[attr-defined]
    assert list(got.years) == list(reference.years), "the same years in the same order"
    assert dict(got.years) == dict(reference.years)
    assert got.quota_reports == reference.quota_reports
    assert dict(got.stages) == dict(reference.stages)
    # The stage alone, on the run's own period results, against the function it replaces.
    results = got.results
    years, reports, stages = combine_and_rank_columns(bundle, got.province, results.batches,  # type: ignore[attr-defined]
                                                      results.eager)  # type: ignore[attr-defined]
    old_years, old_reports, old_stages = combine_and_rank(bundle, got.province, dict(results))
    assert list(years) == list(old_years) and dict(years) == old_years
    assert reports == old_reports and stages == old_stages
    return years


def _fast_rows(years: YearResults) -> int:
    return sum(int((~table.slow).sum()) for table in years.tables)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=provinces())
def test_generated_provinces_give_the_years_and_quota_of_the_json_run(
        data: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> None:
    _check(_ND335, data, tmp_path_factory.mktemp("years"))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=provinces(customs=True))
def test_rating_count_conditions_and_tie_breakers_of_the_customs_variant(
        data: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("customs")
    _check(_customs_bundle(folder), data, folder / "tables")


def test_the_columns_decide_the_plain_years_and_hand_the_rest_over(tmp_path: Path) -> None:
    """A fixed province: most years from the columns; a year with an override through combine_periods."""
    data = _fixed()
    years = _check(_ND335, data, tmp_path)
    assert _fast_rows(years) >= len(years) - 2
    slow = [key for i, key in enumerate(years) if years.locate(i)[0].slow[years.locate(i)[1]]]
    assert ("p000", "2026") in slow  # its Q2 was overridden
    year = years[("p000", "2026")]
    assert year.combined is not None and [u.status for u in year.combined.periods][:2] == ["rated", "rated"]


def _fixed() -> dict[str, Any]:
    """Two units of twelve equal staff (ties at the cut), one unit all flagged (25%), an override,
    a quarter of leave, a quarter with nothing assigned and a disqualifier."""
    units = [{"id": "a0", "name": "A", "parent": None, "kind": "department"},
             {"id": "a0.d0", "name": "D", "parent": "a0", "kind": "division"}]
    people = []
    for k in range(24):
        unit = "a0" if k < 12 else "a0.d0"
        person: dict[str, Any] = {"id": f"p{k:03d}", "name": f"P{k}", "unit": unit, "role": "staff",
                                  "field": "x", "task_group": "a"}
        if unit == "a0.d0":
            person["outstanding_unit"] = True
        people.append(person)
    records = []
    full = {"general_i1": Decimal(5), "general_i2": Decimal(5), "general_ii1": Decimal("2.5"),
            "general_ii2": Decimal("2.5"), "general_ii3": Decimal("2.5"), "general_ii4": Decimal("2.5"),
            "general_iii": Decimal(10)}
    tasks = [{"product": "VB-HC", "assigned": 2, "completed": 2}]
    for q in range(1, 5):
        for k, person in enumerate(people):
            if k == 1 and q == 3:
                continue  # leave
            inputs: dict[str, Any] = {**full, "tasks": [] if (k == 2 and q == 1) else list(tasks)}
            if k == 3 and q == 4:
                inputs["discipline"] = "reprimand"
            record: dict[str, Any] = {"subject": person["id"], "period": f"2026-Q{q}", "inputs": inputs}
            if k == 0 and q == 2:
                record["override"] = dict(OVERRIDE)
            records.append(record)
    return {"province": {"id": "fixed", "name": "Fixed"}, "units": units, "people": people, "records": records}


_ND335 = load_bundle(ND335)


# --------------------------------------------------------------------------- exact means and bands


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.lists(st.tuples(st.booleans(), st.integers(-(1 << 62), 1 << 62),
                                        st.integers(1, (1 << 62) - 1)), min_size=4, max_size=4),
                     min_size=1, max_size=6),
       small=st.booleans())
def test_means_and_bands_are_exact_or_left_to_fractions(rows: list[list[tuple[bool, int, int]]], small: bool) -> None:
    """int64 means and band comparisons equal the Fraction ones wherever they claim to hold
    (``ok``); rows whose products could leave int64 are flagged, never wrong."""
    import numpy as np

    from kpi_rules.periods import _in_band
    from kpi_rules.year_columns import _bands, _means

    if small:  # totals as a rule set gives them: small numerators and denominators
        rows = [[(r, n % 10_000, d % 7_000 + 1) for r, n, d in row] for row in rows]
    rated = np.array([[r for r, _, _ in row] for row in rows], np.bool_)
    n = np.array([[x for _, x, _ in row] for row in rows], np.int64)
    d = np.array([[x for _, _, x in row] for row in rows], np.int64)
    g = np.gcd(n, d)
    n, d = n // g, d // g
    num, den, ok = _means(n, d, rated)
    levels = _ND335.roles["staff"].rules.plan.ruleset.rating.levels  # type: ignore[union-attr]
    band, ok2 = _bands(levels, num, den, ok)
    for k, row in enumerate(rows):
        used = [Fraction(int(n[k, j]), int(d[k, j])) for j in range(4) if row[j][0]]
        if not used or not ok[k]:
            continue
        mean = sum(used, Fraction(0)) / len(used)
        assert Fraction(int(num[k]), int(den[k])) == mean
        if ok2[k]:
            expected = next((j for j, lv in enumerate(levels) if _in_band(mean, lv)), -1)
            assert band[k] == expected
    if small:
        assert ok2[rated.any(axis=1)].all(), "small totals never leave int64"
