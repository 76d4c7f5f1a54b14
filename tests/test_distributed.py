"""Runs under Dask equal the single-machine runs exactly (kpi_rules.distributed, docs/distributed.md).

A local cluster of two worker processes rates the synthetic province (one partition per unit
subtree, or a balanced grouping; the quota resolved on the driver) and random batches of
records over ``criteria/nd335/individual.kpi`` (as a Dask DataFrame, as Parquet and CSV files,
as record dicts). Every total, level, status, rejection with its id and quota decision must be
the one of :func:`kpi_rules.province.evaluate_province` and :func:`kpi_rules.batch.evaluate_batch`.
"""

from __future__ import annotations

import json
import logging
import pickle
import shutil
import sys
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

pytest.importorskip("dask.dataframe")
pytest.importorskip("distributed")

import dask.dataframe as dd  # noqa: E402
import pandas as pd  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

import kpi_rules  # noqa: E402
from kpi_rules.batch import evaluate_batch  # noqa: E402
from kpi_rules.bundle import load_bundle  # noqa: E402
from kpi_rules.diagnostics import DiagnosticError  # noqa: E402
from kpi_rules.distributed import (  # noqa: E402
    PlanSource,
    evaluate_batch_dask,
    evaluate_province_dask,
    subtree_partitions,
)
from kpi_rules.org import load_province, province_from_data  # noqa: E402
from kpi_rules.province import ProvinceResult, combine_and_rank, evaluate_province, rank_years  # noqa: E402
from kpi_rules.testing import records  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "province"
INDIVIDUAL = ROOT / "criteria" / "nd335" / "individual.kpi"
RULES = kpi_rules.load(INDIVIDUAL)


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=logging.ERROR)
    with Client(cluster) as c:
        yield c
    cluster.close()


# --------------------------------------------------------------------------- the province


def _same_province(got: ProvinceResult, expected: ProvinceResult) -> None:
    assert got.periods == expected.periods
    assert got.order == expected.order
    assert list(got.results.items()) == list(expected.results.items())
    assert list(got.years.items()) == list(expected.years.items())
    assert got.records == expected.records
    assert got.rejected == expected.rejected
    assert got.notes == expected.notes
    assert got.quota_reports == expected.quota_reports
    assert dict(got.stages) == dict(expected.stages)


def _troubled_province() -> Any:
    """The synthetic province with a record rejected while reading the file (unknown subject) and
    one rejected when checked (general_i1 above its maximum), whose leader is then told (KR717)."""
    data = json.loads((EXAMPLE / "province.json").read_text(encoding="utf-8"))
    staff = {p["id"] for p in data["people"] if p["role"] == "staff"}
    bad = next(r for r in data["records"] if r["subject"] in staff and r["period"] == "2026-Q2")
    bad["inputs"]["general_i1"] = 5.5
    data["records"].append({"subject": "nobody", "period": "2026-Q1", "inputs": {}})
    return province_from_data(data, "province.json"), bad["subject"]


def test_a_province_rated_by_subtree_equals_the_single_machine_run(client: Client) -> None:
    bundle = load_bundle(EXAMPLE / "bundle.yaml")
    province, bad = _troubled_province()
    expected = evaluate_province(bundle, province)
    assert [r.subject for r in expected.rejected] == ["nobody", bad]
    assert expected.notes and expected.quota_reports and any(r.demoted for r in expected.quota_reports)  # type: ignore[attr-defined]
    _same_province(evaluate_province_dask(bundle, province, client=client), expected)


def test_a_quota_group_spanning_partitions_is_resolved_exactly(client: Client, tmp_path: Path) -> None:
    # Staff counted per task group across the province: one quota group spans every subtree.
    criteria = tmp_path / "criteria"
    criteria.mkdir()
    shutil.copy(INDIVIDUAL, criteria / "individual.kpi")
    (criteria / "staff_wide.kpi").write_text(STAFF_WIDE, encoding="utf-8")
    nd335 = ROOT / "criteria" / "nd335"
    (tmp_path / "bundle.yaml").write_text(
        "bundle: gl-wide\nroles:\n  staff: criteria/staff_wide.kpi\n"
        f"  deputy: {nd335 / 'deputy.kpi'}\n  head: {nd335 / 'head.kpi'}\n  unit: {nd335 / 'organisation.kpi'}\n"
        f"catalogue: {EXAMPLE / 'catalogue.yaml'}\n", encoding="utf-8")
    bundle = load_bundle(tmp_path / "bundle.yaml")
    province = load_province(EXAMPLE / "province.json")
    expected = evaluate_province(bundle, province)
    got = evaluate_province_dask(bundle, province, client=client, partitions=2)
    _same_province(got, expected)
    # The test can fail: a group does span both partitions, and ranking each partition alone
    # would keep other people at excellent than the province-wide quota does.
    groups = subtree_partitions(province, 2)
    root_of = {u: g for g, roots in enumerate(groups) for r in roots for u in province.subtree(r)}
    wide = next(r for r in expected.quota_reports if r.group == (("task_group", "chuyen_mon"),))  # type: ignore[attr-defined]
    members = [m.subject_id for m in (*wide.kept, *wide.demoted)]
    assert {root_of[province.people[m].unit] for m in members} == {0, 1}
    unranked, _, _ = combine_and_rank(bundle, province, expected.results, rank=False)
    local_kept: set[str] = set()
    for roots in groups:
        part = province_from_data(_plain(province, roots))
        _, reports, _ = rank_years(bundle, part, {k: v for k, v in unranked.items() if part.role_of(k[0])})
        local_kept.update(m.subject_id for r in reports  # type: ignore[attr-defined]
                          if r.group == (("task_group", "chuyen_mon"),) for m in r.kept)
    assert local_kept != {m.subject_id for m in wide.kept}


STAFF_WIDE = """\
ruleset gl.staff_wide "Công chức: hạn mức theo nhóm nhiệm vụ toàn tỉnh" en "Staff: quota per task group" {
  basis "Nghị định 335/2025/NĐ-CP"
  version "2026.1"
  in_force from 2026-01-01
  extends nd335.individual
  rates person

  cohort excellent_quota "Tỷ lệ hoàn thành xuất sắc nhiệm vụ" en "Quota of excellent ratings" cite "Điều 20 khoản 5" {
    limit excellent to 20% of good per task_group
    demote to good by total desc
  }
}
"""


def _plain(province: Any, roots: tuple[str, ...]) -> dict[str, object]:
    from kpi_rules.distributed import _subprovince_data

    return _subprovince_data(province, roots)


def test_subtrees_are_grouped_whole_and_balanced() -> None:
    province = load_province(EXAMPLE / "province.json")
    roots = [u.id for u in province.units.values() if u.parent is None]
    assert subtree_partitions(province) == [(r,) for r in roots]
    groups = subtree_partitions(province, 3)
    assert len(groups) == 3 and sorted(r for g in groups for r in g) == sorted(roots)
    weight = Counter(next(r for r in roots if (province.people[x.subject].unit if x.subject in province.people
                                                else x.subject) in province.subtree(r)) for x in province.records)
    loads = [sum(weight[r] for r in g) for g in groups]
    assert max(loads) - min(loads) <= max(weight.values())


# --------------------------------------------------------------------------- the batch


def _text(value: object) -> object:
    """A record value as a CSV cell would hold it: numbers as exact decimal text."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    return str(value)  # int, Decimal; a Fraction as "n/d" text, read alike by both runs


def _frames(raws: list[dict[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    persons: list[dict[str, object]] = []
    items: list[dict[str, object]] = []
    for raw in raws:
        row: dict[str, object] = {"id": raw["id"], **{k: raw[k] for k in ("name", "period") if k in raw}}
        for name, value in raw["inputs"].items():
            if name == "tasks":
                items.extend({"id": raw["id"], **{k: _text(v) for k, v in t.items()}} for t in value)
            else:
                row[name] = _text(value)
        persons.append(row)
    columns = ["id", "product", "assigned", "completed", "failed_reviews", "delays"]
    frame = pd.DataFrame(persons)
    for name in frame.columns:
        # Flags as a nullable boolean column: Dask turns object columns into text ("True").
        if all(isinstance(v, bool) for v in frame[name].dropna()) and frame[name].notna().any():
            frame[name] = frame[name].astype("boolean")
    return frame, pd.DataFrame(items, columns=columns)


def _same_batch(got: Any, expected: Any) -> None:
    assert got.frame["id"].tolist() == [r.subject_id for r in expected.results]
    assert got.frame["status"].tolist() == [r.status for r in expected.results]
    assert got.frame["name"].tolist() == [r.subject_name for r in expected.results]
    assert got.frame["period"].tolist() == [r.period for r in expected.results]
    assert got.levels() == expected.levels()
    assert got.totals() == expected.totals()
    assert set(got.frame["content_hash"]) <= {RULES.content_hash} and got.content_hash == RULES.content_hash
    assert Counter(got.rejected_ids) == Counter(expected.rejected_ids)
    assert Counter(d.render() for d in got.rejected) == Counter(d.render() for d in expected.rejected)


@st.composite
def batches(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Valid records with ids drawn from a small pool (so some repeat: KR508), some spoilt."""
    size = draw(st.integers(min_value=1, max_value=12))
    out = [draw(records(RULES, ids=st.sampled_from([f"cc-{i}" for i in range(10)]))) for _ in range(size)]
    for raw in out:
        flaw = draw(st.integers(min_value=0, max_value=6))
        if flaw == 1:
            raw["inputs"]["general_i2"] = Decimal("7")  # above its maximum: KR50x
        elif flaw == 2 and raw["inputs"].get("tasks"):
            raw["inputs"]["tasks"][0]["product"] = "UNKNOWN"  # no catalogue row: KR505
    return out


# Each example is a run on the cluster (about a second): no shrinking, the failing batch is shown as drawn.
@settings(max_examples=4, deadline=None, derandomize=True, database=None,
          phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(raws=batches(), partitions=st.integers(min_value=1, max_value=4))
def test_a_random_batch_over_dask_equals_the_single_machine_run(client: Client, raws: list[dict[str, Any]],
                                                                 partitions: int) -> None:
    persons, items = _frames(raws)
    expected = evaluate_batch(RULES, persons, items=items)
    got = evaluate_batch_dask(RULES, dd.from_pandas(persons, npartitions=2), items=dd.from_pandas(items, npartitions=2),
                              client=client, npartitions=partitions)
    _same_batch(got, expected)
    assert got.partitions == partitions


def test_a_bad_record_is_reported_with_its_id_while_its_partition_is_rated(client: Client) -> None:
    raws = json.loads((ROOT / "examples" / "nd335_individual.json").read_text(encoding="utf-8"))["records"]
    raws = [dict(r, id=f"{r['id']}-{k}") for k in range(4) for r in raws]
    raws[5] = {**raws[5], "inputs": {**raws[5]["inputs"], "general_i1": 5.5}}
    persons, items = _frames(raws)
    got = evaluate_batch_dask(RULES, dd.from_pandas(persons, npartitions=1), items=dd.from_pandas(items, npartitions=1),
                              client=client, npartitions=1)
    assert got.rejected_ids == (raws[5]["id"],)
    assert f"record {raws[5]['id']}" in (got.rejected[0].where or "")
    assert got.frame["id"].tolist() == [r["id"] for i, r in enumerate(raws) if i != 5]
    _same_batch(got, evaluate_batch(RULES, persons, items=items))
    # The same records as dicts, a repeated id among them (the second is KR508), in 3 partitions.
    raws.append(dict(raws[0], name="again"))
    dicts = evaluate_batch_dask(RULES, raws, client=client, npartitions=3)
    assert Counter(dicts.rejected_ids) == Counter([raws[5]["id"], raws[0]["id"]])
    _same_batch(dicts, evaluate_batch(RULES, raws))


def test_parquet_and_csv_paths(client: Client, tmp_path: Path) -> None:
    raws = json.loads((ROOT / "examples" / "nd335_individual.json").read_text(encoding="utf-8"))["records"]
    persons, items = _frames([dict(r, id=f"{r['id']}-{k}") for k in range(3) for r in raws])
    for suffix in ("parquet", "csv"):
        paths = {}
        for name, frame in (("persons", persons), ("items", items)):
            paths[name] = tmp_path / f"{name}.{suffix}"
            getattr(frame, f"to_{suffix}")(paths[name], index=False)
        expected = evaluate_batch(RULES, paths["persons"], items=paths["items"])
        got = evaluate_batch_dask(RULES, str(paths["persons"]), items=str(paths["items"]), client=client,
                                  npartitions=2)
        _same_batch(got, expected)
        assert len(got.frame) == len(persons) and not got.rejected


# --------------------------------------------------------------------------- shipping the rules


def test_rules_travel_as_text_and_a_changed_file_is_refused(tmp_path: Path) -> None:
    # Plans pickle, but their side tables are keyed by id(node): in another process those keys
    # name nothing, which is why the rule files travel as text and are compiled again.
    plan = RULES.plan
    assert plan.enum_orders and set(pickle.loads(pickle.dumps(plan)).enum_orders) == set(plan.enum_orders)
    source = PlanSource.of(RULES)
    assert source.files == ((str(INDIVIDUAL), INDIVIDUAL.read_text(encoding="utf-8")),)
    assert source.load().plan.provenance == RULES.plan.provenance
    with_catalogue = kpi_rules.load(INDIVIDUAL, catalogue=EXAMPLE / "catalogue.yaml")
    shipped = PlanSource.of(with_catalogue)
    assert shipped.has_catalogue and shipped.check_products and len(shipped.files) == 2
    rebuilt = shipped.load()
    assert rebuilt.catalogue == with_catalogue.catalogue and rebuilt.plan.provenance == with_catalogue.plan.provenance
    assert PlanSource.of(with_catalogue.plan).has_catalogue  # a bare plan: the catalogue is recognised
    copy = tmp_path / "individual.kpi"
    shutil.copy(INDIVIDUAL, copy)
    loaded = kpi_rules.load(copy)
    copy.write_text(copy.read_text(encoding="utf-8").replace('version "2026.1"', 'version "2026.2"'), encoding="utf-8")
    with pytest.raises(DiagnosticError) as caught:
        PlanSource.of(loaded)
    assert caught.value.diagnostics[0].code == "KR721"
    tampered = PlanSource(((str(copy), "ruleset x {}"),), source.content_hash, source.ruleset_id)
    with pytest.raises(DiagnosticError) as caught:
        tampered.load()
    assert caught.value.diagnostics[0].code == "KR721"


def test_without_dask_the_run_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "dask", None)
    with pytest.raises(DiagnosticError) as caught:
        evaluate_batch_dask(RULES, [])
    assert caught.value.diagnostics[0].code == "KR720"
    assert "kpi-rules[dask]" in (caught.value.diagnostics[0].hint or "")
