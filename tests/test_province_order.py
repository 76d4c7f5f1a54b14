"""The coded evaluation order, layers and records codes of the columnar province run
(province_order.py, province_rows.py) equal the reference ones (``dependency_order``,
``_layers``, the per-row lists the run used to build)."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pa = pytest.importorskip("pyarrow")

from kpi_rules.bundle import Bundle, RoleRules, load_bundle  # noqa: E402
from kpi_rules.engine import load  # noqa: E402
from kpi_rules.org import province_from_data  # noqa: E402
from kpi_rules.province import dependency_order  # noqa: E402
from kpi_rules.province_batch import _layers  # noqa: E402
from kpi_rules.province_order import coded_order  # noqa: E402
from kpi_rules.province_rows import RecordCodes  # noqa: E402
from kpi_rules.related_view import RelatedCodes, SubjectCodes  # noqa: E402

from plan_helpers import ROOT  # noqa: E402
from province_strategies import provinces  # noqa: E402

ND335 = ROOT / "criteria" / "nd335" / "bundle.yaml"
CYCLE = ROOT / "tests" / "fixtures" / "bundles" / "cycle"
_BUNDLE = load_bundle(ND335)


def _records_table(province: Any) -> Any:
    return pa.table({"subject": pa.array([r.subject for r in province.records], pa.string()),
                     "period": pa.array([r.period for r in province.records], pa.string())})


def _coded(bundle: Bundle, province: Any) -> tuple[Any, SubjectCodes, RecordCodes]:
    codes = SubjectCodes(province)
    rows = RecordCodes(_records_table(province), province, codes.ids, list(bundle.roles))
    ordered = coded_order(bundle, province, RelatedCodes(province, bundle.settings, codes), rows.subject_role,
                          rows.roles)
    return ordered, codes, rows


@settings(max_examples=40, deadline=None)
@given(data=provinces(), seed=st.integers(0, 1 << 30))
def test_the_coded_order_and_layers_are_the_reference_ones(data: dict[str, Any], seed: int) -> None:
    # people in any file order: leaders before or after the staff they read
    random.Random(seed).shuffle(data["people"])
    province = province_from_data(data)
    ordered, codes, _ = _coded(_BUNDLE, province)
    assert ordered is not None
    reference = dependency_order(_BUNDLE, province)
    assert ordered.ids == reference
    assert [codes.ids[k] for k in ordered.codes.tolist()] == list(reference)
    layers = _layers(_BUNDLE, province, reference, RelatedCodes(province, _BUNDLE.settings, codes))
    assert {s: int(ordered.depth[codes.code[s]]) for s in reference} == {s: layers.get(s, 0) for s in reference}


def test_a_cycle_between_subjects_goes_the_reference_way() -> None:
    roles = {role: RoleRules(role, CYCLE / file, load(CYCLE / file)) for role, file in
             (("head", "head_cap.kpi"), ("unit", "org_head.kpi"))}
    bundle = Bundle("cycle", CYCLE / "bundle.yaml", roles)
    province = province_from_data({"province": {"id": "t"}, "units": [{"id": "snv", "parent": None}],
                                   "people": [{"id": "p01", "unit": "snv", "role": "head"}], "records": []})
    ordered, _, _ = _coded(bundle, province)
    assert ordered is None


@settings(max_examples=30, deadline=None)
@given(data=provinces(), names=st.lists(st.sampled_from([None, "", "Own name"]), max_size=200))
def test_record_codes_give_the_rows_subjects_roles_and_names(data: dict[str, Any], names: list[Any]) -> None:
    province = province_from_data(data)
    codes = SubjectCodes(province)
    records = _records_table(province)
    own = (names * (records.num_rows // max(1, len(names)) + 1))[:records.num_rows] if names else \
        [None] * records.num_rows
    records = records.append_column("name", pa.array(own, pa.string()))
    rows = RecordCodes(records, province, codes.ids, list(_BUNDLE.roles))
    subjects = records.column("subject").to_pylist()
    periods = records.column("period").to_pylist()
    assert rows.subjects(np.arange(rows.size)) == subjects
    assert [rows.labels[p] for p in rows.period.tolist()] == periods
    assert [rows.roles[r] for r in rows.role.tolist()] == [province.role_of(s) for s in subjects]
    expected = [n if n else province.name_of(s) for s, n in zip(subjects, own)]
    made = rows.names(records, province)
    assert list(made) == expected
    assert [made[i] for i in range(len(expected))] == expected
    # batch groups: (role, period) numbered in order of first row
    eligible = rows.role == rows.roles.index("staff")
    groups, route = rows.groups(eligible)
    expected_groups: dict[tuple[str, str], int] = {}
    for i, (s, p) in enumerate(zip(subjects, periods)):
        if province.role_of(s) == "staff":
            assert route[i] == expected_groups.setdefault(("staff", p), len(expected_groups))
        else:
            assert route[i] == -1
    assert groups == expected_groups


def test_people_with_the_same_attributes_share_one_mapping_of_the_same_values() -> None:
    from decimal import Decimal

    from kpi_rules.tree_columns import tree_from_tables

    units = pa.table({"id": ["u"], "name": ["U"], "parent": pa.array([None], pa.string()), "kind": ["x"]})
    people = pa.table({
        "id": ["h", "p1", "p2", "p3", "p4"], "name": ["H", "A", "B", "C", "D"], "unit": ["u"] * 5,
        "role": ["head", "staff", "staff", "staff", "staff"],
        "seniority": pa.array([1, 1, 2, None, 1], pa.int64()),
        "flag": pa.array([True, True, None, True, True], pa.bool_()),
        "score": pa.array([Decimal("1.0"), Decimal("1.0"), Decimal("1.00"), None, Decimal("1")], pa.decimal128(5, 2)),
    })
    province = tree_from_tables(units, people, "t", None, "<test>")
    assert province is not None
    rows = people.to_pylist()
    for row in rows:
        expected = {k: v for k, v in row.items() if k in ("seniority", "flag", "score") and v is not None}
        got = dict(province.people[row["id"]].attributes)
        assert got == expected and [type(v) for v in got.values()] == [type(v) for v in expected.values()]
    plain = tree_from_tables(units, people.drop_columns(["score"]), "t", None, "<test>")
    assert plain is not None
    assert plain.people["h"].attributes is plain.people["p1"].attributes  # same values: one mapping
    assert plain.people["p4"].attributes is plain.people["p1"].attributes
    assert plain.people["p2"].attributes is not plain.people["p1"].attributes


@settings(max_examples=40, deadline=None)
@given(data=provinces(), seed=st.integers(0, 1 << 30), head=st.sampled_from(["unit", "subtree"]),
       deputy=st.sampled_from(["unit", "subtree"]))
def test_related_codes_are_the_codes_of_the_related_ids(data: dict[str, Any], seed: int, head: str,
                                                       deputy: str) -> None:
    from kpi_rules.org import OrgSettings

    random.Random(seed).shuffle(data["people"])
    province = province_from_data(data)
    org = OrgSettings(head_supervises=head, deputy_supervises=deputy)  # type: ignore[arg-type]
    codes = SubjectCodes(province)
    related = RelatedCodes(province, org, codes)
    for subject in codes.ids:
        for relation in ("supervised", "staff", "children", "unit", "head", "parent"):
            ids = province.related_ids(subject, relation, org)
            got = related.of(subject, relation)
            if isinstance(ids, tuple):
                assert got is not None and [codes.ids[k] for k in got.tolist()] == list(ids)
            else:
                assert got is None
