"""The evaluation order and the dependency layers of a province, over subject codes.

:func:`kpi_rules.province.dependency_order` orders every subject after those it reads (ties in
file order) with dicts and lists of ``(relation, id)`` pairs keyed by id: at a million people,
millions of pairs and a Python step per subject that grew faster than the province. Here the
same order (Kahn's algorithm taking the ready subject of the lowest position, a position being a
:class:`~kpi_rules.related_view.SubjectCodes` code) is computed over integer codes, from the
relations' codes the run needs anyway (:class:`~kpi_rules.related_view.RelatedCodes`, worked out
once), and so are the dependency layers (``_layers`` in ``province_batch.py``). When anything is
off (a subject reading itself, a cycle, an id that is not a subject) the caller goes the
reference way, whose diagnostics are then the ones raised.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import Any

import numpy as np

from kpi_rules.related_view import RelatedCodes

__all__ = ["CodedOrder", "coded_order"]


class CodedOrder:
    """The order (codes and ids) and the layer of each subject code."""

    def __init__(self, codes: np.ndarray[Any, Any], ids: tuple[str, ...], depth: np.ndarray[Any, Any]) -> None:
        #: Subject codes in evaluation order.
        self.codes = codes
        #: Subject ids in evaluation order (``dependency_order``'s value).
        self.ids = ids
        #: Dependency layer by subject code: 0 reads nobody, else one more than the deepest it reads.
        self.depth = depth


def coded_order(bundle: Any, province: Any, related: RelatedCodes, subject_role: np.ndarray[Any, Any],
                roles: Sequence[str]) -> CodedOrder | None:
    """``dependency_order(bundle, province)`` and the layers, or None to go the reference way.
    ``subject_role``: the role code (an index of ``roles``) of each subject code."""
    codes = related.codes
    ids, code = codes.ids, codes.code
    size = codes.size
    settings = bundle.settings
    src: list[np.ndarray[Any, Any]] = []
    dst: list[np.ndarray[Any, Any]] = []
    for role_code, role in enumerate(roles):
        rules = bundle.rules_for(role)
        relations = rules.plan.checked.subject.relations if rules is not None else ()
        if not relations:
            continue
        readers = np.flatnonzero(subject_role == role_code)
        for s in readers.tolist():
            subject = ids[s]
            for rel in relations:
                try:
                    many = related.of(subject, rel.name)
                except KeyError:
                    return None  # an id that is not a subject
                if many is None:
                    other = province.related_ids(subject, rel.name, settings)
                    if other is None:
                        continue
                    k = code.get(other)
                    if k is None:
                        return None
                    many = np.array([k], dtype=np.int64)
                if len(many):
                    src.append(np.full(len(many), s, dtype=np.int64))
                    dst.append(many)
    if src:
        pairs = np.sort(np.concatenate(src) * size + np.concatenate(dst))
        pairs = pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))]  # distinct (np.unique hashes: slower)
        reader, target = pairs // size, pairs % size
    else:
        reader = target = np.zeros(0, dtype=np.int64)
    if bool((reader == target).any()):
        return None  # a subject reading itself: the reference way names it
    order = _kahn(size, reader, target)
    if order is None:
        return None
    # layers: readers in evaluation order, each one more than the deepest it reads
    depth = np.zeros(size, dtype=np.int64)
    if len(reader):
        by_reader = np.argsort(reader, kind="stable")
        reads = target[by_reader]
        bounds = np.searchsorted(reader[by_reader], np.arange(size + 1))
        is_reader = np.zeros(size, dtype=np.bool_)
        is_reader[reader] = True
        for s in order[is_reader[order]].tolist():
            depth[s] = int(depth[reads[bounds[s]:bounds[s + 1]]].max()) + 1
    return CodedOrder(order, tuple(ids[k] for k in order.tolist()), depth)


def _kahn(size: int, reader: np.ndarray[Any, Any], target: np.ndarray[Any, Any]) -> np.ndarray[Any, Any] | None:
    """Every code after the codes it reads (``reader`` reads ``target``, pairs distinct), the ready
    code of the lowest value first; None on a cycle."""
    waiting_arr = np.bincount(reader, minlength=size)
    initial = np.flatnonzero(waiting_arr == 0)
    if not len(reader):
        return initial
    by_target = np.argsort(target, kind="stable")
    readers_of: list[int] = reader[by_target].tolist()
    bounds: list[int] = np.searchsorted(target[by_target], np.arange(size + 1)).tolist()
    waiting: list[int] = waiting_arr.tolist()
    has_readers = np.zeros(size, dtype=np.bool_)
    has_readers[target] = True
    # runs of the initial codes that free nobody are emitted whole
    marks: list[int] = np.flatnonzero(has_readers[initial]).tolist() + [len(initial)]
    out: list[int] = []
    ready: list[int] = []
    k = 0
    m = 0  # index into marks: the next initial index (>= k) that frees someone
    n_initial = len(initial)
    initial_list: list[int] = initial.tolist()
    push, pop = heapq.heappush, heapq.heappop

    def free(s: int) -> None:
        for r in readers_of[bounds[s]:bounds[s + 1]]:
            waiting[r] -= 1
            if waiting[r] == 0:
                push(ready, r)

    while k < n_initial or ready:
        if ready and (k == n_initial or ready[0] < initial_list[k]):
            s = pop(ready)
            out.append(s)
            if has_readers[s]:
                free(s)
            continue
        while marks[m] < k:
            m += 1
        stop = marks[m]
        if ready:
            # initial codes below the lowest ready one go first
            limit = int(np.searchsorted(initial, ready[0], side="left"))
            stop = min(stop, limit)
        if stop > k:
            out.extend(initial_list[k:stop])
            k = stop
            continue
        s = initial_list[k]
        k += 1
        out.append(s)
        free(s)
    if len(out) < size:
        return None
    return np.array(out, dtype=np.int64)
