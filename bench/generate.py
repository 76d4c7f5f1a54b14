"""Generated data for the benchmarks: the simple rule's columns, and people with task items."""

from __future__ import annotations

from typing import Any

import numpy as np

PRODUCTS = ("VB-HC", "BC-DK", "DA")


def simple_columns(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """general in tenths (0..300), a, b, c in hundredths (0..10000)."""
    rng = np.random.default_rng(seed)
    g = rng.integers(150, 301, n)
    a, b, c = (rng.integers(3000, 10001, n) for _ in range(3))
    return g, a, b, c


def decimal_column(unscaled: np.ndarray, scale: int, precision: int = 18) -> Any:
    """An Arrow ``decimal128(precision, scale)`` array of the exact values ``unscaled / 10**scale``.

    How exact amounts are stored in Arrow and Parquet. Built from its buffer (each value a
    little-endian 128-bit integer: the int64 and its sign word), which is what a decimal
    column read from Parquet holds; ``validate(full=True)`` checks the precision.
    """
    import pyarrow as pa

    values = np.asarray(unscaled, dtype=np.int64)
    words = np.empty((len(values), 2), dtype=np.int64)
    words[:, 0] = values
    words[:, 1] = values >> 63
    array = pa.Array.from_buffers(pa.decimal128(precision, scale), len(values), [None, pa.py_buffer(words.tobytes())])
    array.validate(full=True)
    return array


def simple_tables(n: int, seed: int = 0) -> tuple[Any, Any]:
    """The simple rule's records as two Arrow tables with the same values: decimal columns
    (general with one place, a/b/c with two) and float columns."""
    import pyarrow as pa

    g, a, b, c = simple_columns(n, seed)
    ids = pa.array([f"p{i}" for i in range(n)])
    decimal = pa.table({"id": ids, "general": decimal_column(g, 1), "a": decimal_column(a, 2),
                        "b": decimal_column(b, 2), "c": decimal_column(c, 2)})
    floats = pa.table({"id": ids, "general": g / 10, "a": a / 100, "b": b / 100, "c": c / 100})
    return decimal, floats


def individual_tables(n: int, items_per_person: int, seed: int = 0) -> tuple[Any, Any]:
    """Persons and task items of ``criteria/nd335/individual.kpi`` as pyarrow Tables."""
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    ids = pa.array([f"cc-{i:07d}" for i in range(n)], pa.string())
    halves = {k: rng.integers(0, 2 * m + 1, n) / 2 for k, m in
              (("general_i1", 5), ("general_i2", 5), ("general_ii1", 2), ("general_ii2", 2),
               ("general_ii3", 2), ("general_ii4", 2), ("general_iii", 10))}
    discipline = np.where(rng.random(n) < 0.02, "reprimand", "none")
    persons = pa.table({"id": ids, "name": [None] * n, "period": ["2026-Q1"] * n, **halves,
                        "ideology_violation": rng.random(n) < 0.01, "discipline": discipline})
    counts = rng.integers(max(1, items_per_person // 2), items_per_person * 3 // 2 + 1, n)
    owner = np.repeat(np.arange(n), counts)
    m = len(owner)
    assigned = rng.integers(1, 41, m) / 4  # quarters: 0.25 .. 10
    completed = np.minimum(assigned, rng.integers(0, 41, m) / 4)
    # Item columns built by Arrow (a take of the ids, a dictionary decoded): no Python object
    # per item, so a million people with twenty million items fit comfortably in memory.
    product = pa.DictionaryArray.from_arrays(pa.array(rng.integers(0, 3, m), pa.int8()), pa.array(PRODUCTS))
    items = pa.table({"id": ids.take(pa.array(owner)), "product": product.cast(pa.string()),
                      "assigned": assigned, "completed": completed,
                      "failed_reviews": rng.integers(0, 3, m), "delays": rng.integers(0, 3, m)})
    return persons, items
