"""Explanations written by forked workers (kpi_rules/explain_workers.py) are the same file, byte for
byte, as one process writes; a worker's failure is an exception in the parent, not a partial file."""

from __future__ import annotations

import copy
import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("pyarrow")

from test_province_batch import ND335, SMALL, _columnar_example, _read, provinces  # noqa: E402

from kpi_rules import explain_workers, province_explain  # noqa: E402
from kpi_rules.bundle import load_bundle  # noqa: E402
from kpi_rules.explain_workers import WorkerError, split_costs, write_pieces  # noqa: E402
from kpi_rules.province_batch import TablesRun, evaluate_province_tables, write_explanations  # noqa: E402
from kpi_rules.province_tables import load_province_tables, write_province_tables  # noqa: E402

_BUNDLE = load_bundle(ND335)

needs_fork = pytest.mark.skipif(not explain_workers.can_fork(), reason="no fork on this platform")


def _run(data: dict[str, Any], folder: Path, lang: str = "vi") -> TablesRun:
    write_province_tables(copy.deepcopy(data), folder / "t")
    return evaluate_province_tables(_BUNDLE, load_province_tables(folder / "t"), explain=True, lang=lang)


def _same_for_all_workers(run: TablesRun, folder: Path, *, advice: bool = False) -> int:
    one = folder / "one.jsonl"
    count = write_explanations(run, one, advice=advice)
    expected = one.read_bytes()
    assert count == expected.count(b"\n")
    for workers in (2, 3):
        out = folder / f"w{workers}.jsonl"
        assert write_explanations(run, out, advice=advice, workers=workers) == count
        assert out.read_bytes() == expected, workers
    assert sorted(os.listdir(folder)) == sorted(["t", "one.jsonl", "w2.jsonl", "w3.jsonl"])  # no parts left
    return count


@pytest.fixture
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pieces of 3 lines, so that the parts are cut inside the records and the years too."""
    monkeypatch.setattr(province_explain, "PIECE_LINES", 3)


@needs_fork
@pytest.mark.parametrize("lang", ["vi", "en"])
def test_the_example_province(tmp_path: Path, small_pieces: None, lang: str) -> None:
    """The small example (with records rated one by one) and the columnar example (leaders)."""
    assert _same_for_all_workers(_run(_read(SMALL), tmp_path, lang), tmp_path) > 10
    (tmp_path / "b").mkdir()
    run = _run(_columnar_example(), tmp_path / "b", lang)
    assert run.leaders
    assert _same_for_all_workers(run, tmp_path / "b") > 100


@needs_fork
def test_with_the_advice(tmp_path: Path, small_pieces: None) -> None:
    _same_for_all_workers(_run(_read(SMALL), tmp_path), tmp_path, advice=True)


@needs_fork
@settings(max_examples=8, deadline=None)
@given(data=provinces())
def test_generated_provinces(data: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder)
        province_explain.PIECE_LINES, saved = 2, province_explain.PIECE_LINES
        try:
            _same_for_all_workers(_run(data, path), path)
        finally:
            province_explain.PIECE_LINES = saved


def _without_advice_same_lines(data: dict[str, Any], folder: Path, lang: str = "vi") -> None:
    """Rated with ``advice=False`` (items folded and dropped), the run writes the same file as
    with the items kept, and refuses what needs the advice."""
    kept = _run(data, folder / "kept", lang)
    write_province_tables(copy.deepcopy(data), folder / "s")
    streamed = evaluate_province_tables(_BUNDLE, load_province_tables(folder / "s"), explain=True, lang=lang,
                                        advice=False)
    assert all(b.advice for b in kept.batches.values())
    assert not any(b.advice for b in streamed.batches.values() if b.plan.checked.subject.inputs)
    write_explanations(kept, folder / "kept.jsonl")
    write_explanations(streamed, folder / "streamed.jsonl")
    assert (folder / "streamed.jsonl").read_bytes() == (folder / "kept.jsonl").read_bytes()
    with pytest.raises(ValueError, match="advice=False"):
        write_explanations(streamed, folder / "advice.jsonl", advice=True)
    with pytest.raises(ValueError, match="advice=False"):
        next(streamed.explanations())


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_without_the_advice_the_same_lines(tmp_path: Path, lang: str) -> None:
    _without_advice_same_lines(_read(SMALL), tmp_path / "small", lang)
    _without_advice_same_lines(_columnar_example(), tmp_path / "columnar", lang)


@settings(max_examples=6, deadline=None)
@given(data=provinces())
def test_without_the_advice_generated_provinces(data: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        _without_advice_same_lines(data, Path(folder))


@needs_fork
def test_a_device_as_the_output(tmp_path: Path) -> None:
    run = _run(_read(SMALL), tmp_path)
    count = write_explanations(run, tmp_path / "one.jsonl")
    assert write_explanations(run, os.devnull, workers=2) == count


def _lines(text: bytes, n: int) -> explain_workers.Piece:
    def write(out: BinaryIO) -> int:
        for _ in range(n):
            out.write(text)
        return n
    return write


def _fails(out: BinaryIO) -> int:
    out.write(b"half a line")
    raise ValueError("this piece fails")


@needs_fork
@pytest.mark.parametrize("where", [0, 1, 2])
def test_a_failing_piece_is_an_exception_and_no_file(tmp_path: Path, where: int) -> None:
    """In a child (1, 2): WorkerError with the child's traceback; in the parent (0): its own error.
    Either way the children are done with, and neither the output nor a part is left."""
    pieces = [_lines(b"a\n", 5), _lines(b"b\n", 5), _lines(b"c\n", 5)]
    pieces[where] = _fails
    out = tmp_path / "out.jsonl"
    expected = (WorkerError, "this piece fails") if where else (ValueError, "this piece fails")
    with pytest.raises(expected[0], match=expected[1]):
        write_pieces(out, pieces, [1, 1, 1], workers=3)
    assert os.listdir(tmp_path) == []


@needs_fork
def test_pieces_in_order_and_counted(tmp_path: Path) -> None:
    pieces = [_lines(bytes([65 + i]) * (i + 1) + b"\n", i) for i in range(12)]
    out = tmp_path / "out"
    assert write_pieces(out, pieces, list(range(12)), workers=1) == sum(range(12))
    expected = out.read_bytes()
    for workers in (2, 3, 5, 20):
        assert write_pieces(out, pieces, list(range(12)), workers=workers) == sum(range(12))
        assert out.read_bytes() == expected
    assert os.listdir(tmp_path) == ["out"]


@given(costs=st.lists(st.floats(min_value=0, max_value=1e6) | st.integers(0, 10), max_size=40),
       parts=st.integers(1, 8))
def test_split_costs_cuts_contiguous_balanced_parts(costs: list[float], parts: int) -> None:
    ranges = split_costs(costs, parts)
    assert [i for r in ranges for i in r] == list(range(len(costs)))
    assert all(len(r) > 0 for r in ranges)
    assert len(ranges) == min(parts, len(costs))
    if len(ranges) > 1:
        # each cut is within one piece of its share
        total, top = float(sum(costs)), max(costs)
        assert all(sum(costs[i] for i in r) <= total / len(ranges) + 2 * top + 1e-6 for r in ranges)
