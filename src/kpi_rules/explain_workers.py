"""Ordered output written by forked workers (used by :func:`kpi_rules.province_batch.write_explanations`).

The output is a sequence of *pieces* (callables that write their bytes to a binary file and
return how many lines they wrote), each with an estimated cost. With ``workers > 1`` on a
platform with ``fork``, the pieces are split into ``workers`` contiguous parts of about equal
cost: the parent writes the first part straight to the output while forked children write the
others to temporary files (in a temporary folder next to the output, or in the system's when the
output is not a regular file, e.g. ``/dev/null``); the parent then appends them in order and
removes them. The children see the parent's memory copy-on-write: nothing is pickled.

A child that fails makes the parent raise :class:`WorkerError` (with the child's traceback);
the other children are stopped and a partial output file is removed.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sys
import tempfile
import traceback
from bisect import bisect_left
from collections.abc import Callable, Sequence
from itertools import accumulate
from pathlib import Path
from typing import BinaryIO

__all__ = ["Piece", "WorkerError", "can_fork", "split_costs", "write_pieces"]

#: Writes its lines to the file; returns how many.
Piece = Callable[[BinaryIO], int]

_COPY_BUFFER = 1 << 24


class WorkerError(RuntimeError):
    """A worker writing part of the output failed."""


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def split_costs(costs: Sequence[float], parts: int) -> list[range]:
    """``costs`` cut into at most ``parts`` contiguous non-empty ranges of about equal total cost
    (each cut at the boundary where the running total comes closest to its share)."""
    n = len(costs)
    parts = max(1, min(parts, n))
    ends = list(accumulate(float(c) for c in costs))  # ends[i]: the total of costs[:i + 1]
    total = ends[-1] if ends else 0.0
    cuts = [0]
    for k in range(1, parts):
        target = total * k / parts
        cut = bisect_left(ends, target) + 1  # the first boundary at or past the share
        if cut - 1 > 0 and target - ends[cut - 2] < ends[cut - 1] - target:
            cut -= 1  # the boundary before it is closer
        cut = min(max(cut, cuts[-1] + 1), n - (parts - k))
        cuts.append(cut)
    cuts.append(n)
    return [range(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]


def write_pieces(path: str | Path, pieces: Sequence[Piece], costs: Sequence[float], workers: int = 1) -> int:
    """Write every piece, in order, to ``path``; returns the total of their counts."""
    if len(costs) != len(pieces):
        raise ValueError("one cost per piece")
    groups = split_costs(costs, workers) if workers > 1 and can_fork() else []
    if len(groups) < 2:
        with open(path, "wb") as out:
            return sum(piece(out) for piece in pieces)
    folder = tempfile.mkdtemp(prefix=".kpi-parts-", dir=_temp_parent(Path(path)))
    context = multiprocessing.get_context("fork")
    sys.stdout.flush()  # (a child flushes the standard streams it inherits when it ends)
    sys.stderr.flush()
    children: list[tuple[multiprocessing.process.BaseProcess, str]] = []
    try:
        for k, group in enumerate(groups[1:], 1):
            base = os.path.join(folder, f"part{k:04d}")
            started = context.Process(target=_child, args=(base, [pieces[i] for i in group]),
                                      name=f"kpi-explain-{k}")
            started.start()
            children.append((started, base))
        with open(path, "wb") as out:
            count = sum(pieces[i](out) for i in groups[0])
            for child, base in children:
                child.join()
                done = _read_text(base + ".n")
                if child.exitcode != 0 or not done:
                    raise WorkerError(f"worker {child.name} failed (exit code {child.exitcode}):\n"
                                      + _read_text(base + ".err"))
                count += int(done)
                with open(base + ".jsonl", "rb") as part:
                    shutil.copyfileobj(part, out, _COPY_BUFFER)
                os.remove(base + ".jsonl")
        return count
    except BaseException:
        for child, _ in children:
            if child.is_alive():
                child.terminate()
            child.join()
        if os.path.isfile(path):
            os.remove(path)
        raise
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _child(base: str, pieces: list[Piece]) -> None:
    try:
        with open(base + ".jsonl", "wb") as out:
            count = sum(piece(out) for piece in pieces)
        with open(base + ".n", "w", encoding="utf-8") as done:
            done.write(str(count))
    except BaseException:
        with open(base + ".err", "w", encoding="utf-8") as err:
            err.write(traceback.format_exc())
        sys.exit(1)


def _read_text(name: str) -> str:
    try:
        with open(name, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return ""


def _temp_parent(path: Path) -> str | None:
    """The output's folder if the output is (or will be) a regular file there, else None (the
    system's temporary folder)."""
    if path.exists() and not path.is_file():
        return None
    parent = path.parent if str(path.parent) else Path(".")
    return str(parent) if os.access(parent, os.W_OK) else None
