"""The items kept for records outside the staff batches (``kpi_rules.listed_items``): the table of
many records' items equals what their dicts give, and an item field a rule set does not declare
sends its leader to be rated one by one, as the record path rejects or rates it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
from test_province_batch import ND335, _assert_same, _both, _columnar_example  # noqa: E402

from kpi_rules.bundle import load_bundle  # noqa: E402
from kpi_rules.listed_items import ListedItems  # noqa: E402
from kpi_rules.province_batch import evaluate_province_tables  # noqa: E402
from kpi_rules.province_tables import load_province_tables  # noqa: E402

FIELDS = ("product", "assigned", "extra")


@st.composite
def chunks(draw: st.DrawFn) -> list[tuple[pa.Table, np.ndarray[Any, Any]]]:
    """Chunks of items whose owners come in runs (a record's items together, across chunks)."""
    owners = sorted(draw(st.lists(st.integers(0, 6), max_size=30)))
    cuts = sorted(draw(st.lists(st.integers(0, len(owners)), max_size=4)))
    out = []
    for start, stop in zip([0, *cuts], [*cuts, len(owners)]):
        size = stop - start
        columns = {
            "product": pa.array(draw(st.lists(st.sampled_from(["DA", "VB", None]), min_size=size, max_size=size)),
                                pa.string()),
            "assigned": pa.array(draw(st.lists(st.one_of(st.none(), st.floats(0, 9)), min_size=size,
                                               max_size=size)), pa.float64()),
            "extra": pa.array(draw(st.lists(st.one_of(st.none(), st.just(1)), min_size=size, max_size=size)),
                              pa.int64()),
        }
        table = pa.table(columns)
        out.append((table.to_batches()[0] if size and draw(st.booleans()) else table,
                    np.array(owners[start:stop], dtype=np.int64)))
    return out


@settings(max_examples=150, deadline=None)
@given(parts=chunks(), rows=st.lists(st.integers(0, 8), unique=True, max_size=6),
       declared=st.sampled_from([["product", "assigned"], ["assigned", "product", "extra"], ["product", "missing"]]))
def test_the_table_equals_the_dicts(parts: list[tuple[Any, np.ndarray[Any, Any]]], rows: list[int],
                                    declared: list[str]) -> None:
    listed = ListedItems()
    for table, owners in parts:
        listed.add(table, owners)
    found = listed.table(np.array(rows, dtype=np.int64), declared)
    assert found is not None
    table, at, undeclared = found
    expected_rows: list[dict[str, Any]] = []
    expected_at: list[int] = []
    for k, row in enumerate(rows):
        items = listed.get(row, [])
        assert undeclared[k] == (not set(declared).issuperset(key for item in items for key in item))
        expected_rows.extend({f: item.get(f) for f in declared} for item in items)
        expected_at.extend([k] * len(items))
    assert table.column_names == declared
    assert table.to_pylist() == expected_rows
    assert at.tolist() == expected_at


def test_a_leader_item_field_the_rule_set_does_not_declare(tmp_path: Path) -> None:
    """The leader goes one by one (out of its layer's batch) and the outcome is the record path's."""
    data = _columnar_example()
    roles = {p["id"]: p.get("role") for p in data["people"]}
    leader = next(r for r in data["records"] if roles.get(r["subject"]) in ("head", "deputy")
                  and r["inputs"].get("tasks"))
    leader["inputs"]["tasks"][-1]["remark"] = "không khai báo"
    bundle = load_bundle(ND335)
    reference, run = _both(bundle, data, tmp_path / "a", chunk_size=997)
    _assert_same(reference, run)
    explained = evaluate_province_tables(bundle, load_province_tables(tmp_path / "a"), explain=True,
                                         chunk_size=997)
    batched = {(s, b.period) for b in explained.leaders for s in b.subjects}
    assert (leader["subject"], leader["period"]) not in batched
    assert any(roles.get(s) == roles[leader["subject"]] for s, _ in batched)
