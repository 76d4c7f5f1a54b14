"""Explanations at scale: full explanations vs the plain batch on criteria/nd335/individual.kpi.

    python bench/explain.py --people 2000,20000 --items-per-person 20

For each size: the plain columnar batch; the batch with explain=True (traced) plus every
explanation as a JSON line (the bytes of ``Explanation.model_dump_json()``, without the
next-level advice), filled column by column from the columnar run (``explain_columns.py``).
The headline ratio is the form a province writes, a file of JSON lines: the traced batch plus
``BatchResult.explanation_bytes()`` written line by line to a file object (``os.devnull``
through a 1 MB buffer: the disk is left out, the copying into the file's buffer is counted).
Also shown: all the lines kept in memory as a list of texts (``list(explanation_lines())``),
which costs more (fresh memory pages for every line). Then the same lines the record-by-record way (a ``Result``
object and its trace per row, then ``explain_plan.explanation_lines``), checked equal; and,
on a sample, the pydantic models (``explain_plan.explanation_model``), the explainer as it was
before the skeletons (``tests/reference_explainer.py``) and the next-level advice. Every figure
is the best of ``--repeat`` runs in CPU seconds of this process (``time.process_time``: on a
shared machine wall time mostly measures the other jobs). The lines are checked against
``model_dump_json()`` of the reference explainer on the sample.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from collections.abc import Callable
from itertools import islice
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

import kpi_rules  # noqa: E402
from generate import individual_tables  # noqa: E402
from kpi_rules.batch import evaluate_batch  # noqa: E402
from kpi_rules.explain_plan import explanation_lines, explanation_model  # noqa: E402


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        out = None
        gc.collect()
        t0 = time.process_time()
        out = fn()
        best = min(best, time.process_time() - t0)
    return best, out


def run(people: int, items_per_person: int, sample: int, repeat: int, advice_sample: int) -> dict[str, float]:
    rules = kpi_rules.load(ROOT / "criteria" / "nd335" / "individual.kpi")
    plan = rules.plan
    persons, items = individual_tables(people, items_per_person, seed=people)
    t_plain, _ = best_of(lambda: evaluate_batch(plan, persons, items=items), repeat)

    def full() -> list[str]:
        outcome = evaluate_batch(plan, persons, items=items, explain=True)
        return list(outcome.explanation_lines())

    t_full, lines = best_of(full, repeat)
    sink = open(os.devnull, "wb", buffering=1 << 20)  # noqa: SIM115 - closed below

    def full_file() -> None:
        outcome = evaluate_batch(plan, persons, items=items, explain=True)
        sink.writelines(outcome.explanation_bytes())
        sink.flush()

    t_file, _ = best_of(full_file, repeat)
    # The plain batch again, just after (a burst of load on the shared machine hits both).
    t_plain = min(t_plain, best_of(lambda: evaluate_batch(plan, persons, items=items), repeat)[0])
    outcome = evaluate_batch(plan, persons, items=items, explain=True)
    assert list(outcome.explanation_bytes()) == [line.encode() for line in lines], "bytes lines differ from the texts"
    t_traced, outcome = best_of(lambda: evaluate_batch(plan, persons, items=items, explain=True), repeat)
    t_lines, _ = best_of(lambda: list(outcome.explanation_lines()), repeat)
    t_bytes, _ = best_of(lambda: (sink.writelines(outcome.explanation_bytes()), sink.flush()), repeat)
    sink.close()
    t_results, _ = best_of(lambda: outcome.results, 1)
    pairs_of = outcome._explained  # noqa: SLF001 - (result, record) pairs, the record-by-record path
    t_rows, row_lines = best_of(lambda: list(explanation_lines(pairs_of(lists=False), plan, "vi")), repeat)
    assert row_lines == lines, "column-filled lines differ from the record-by-record lines"
    pairs = list(islice(outcome._explained(lists=False), sample))  # noqa: SLF001 - (result, record) pairs
    t_models, _ = best_of(lambda: [explanation_model(r, plan, "vi", record=rec, advice=False) for r, rec in pairs],
                          repeat)
    import reference_explainer

    t_old, old = best_of(lambda: [reference_explainer.explain(r, plan, "vi") for r, _ in pairs], 1)
    full_pairs = list(islice(outcome._explained(), advice_sample))  # noqa: SLF001 - records with their items
    t_advice, _ = best_of(lambda: [explanation_model(r, plan, "vi", record=rec) for r, rec in full_pairs], 1)
    assert [e.model_dump_json() + "\n" for e in old] == lines[:sample], "lines differ from the reference"
    return {
        "people": people, "items": items.num_rows, "plain": t_plain, "full": t_full, "file": t_file,
        "traced": t_traced, "file_lines": t_bytes,
        "results": t_results, "lines": t_lines, "rows": t_rows, "models_per": t_models / len(pairs),
        "old_per": t_old / len(pairs), "advice_per": t_advice / len(full_pairs),
        "bytes": sum(len(line.encode()) for line in lines) / people,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", default="2000,20000")
    parser.add_argument("--items-per-person", type=int, default=20)
    parser.add_argument("--sample", type=int, default=200, help="people for the slow contenders")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--advice-sample", type=int, default=5, help="people explained with the next-level advice")
    args = parser.parse_args()
    print(f"Command: `python bench/explain.py {' '.join(sys.argv[1:])}`\n")
    print("| people | task items | plain batch CPU s | full explanations written to a file s (traced batch +"
          " `explanation_bytes()` into a file) | **ratio** | of which: traced batch / lines to the file (s)"
          " | in memory: traced batch + `list(explanation_lines())` s, ratio (lines alone s)"
          " | record by record: Results / JSON lines (s) |"
          " µs per person: lines to the file, lines in a list, row lines, models, old explainer, with advice"
          " | bytes per line |")
    print("|---:|---:|---:|---:|---:|---|---|---|---|---:|")
    for n in (int(x) for x in args.people.split(",") if x):
        m = run(n, args.items_per_person, min(args.sample, n), args.repeat, min(args.advice_sample, n))
        us = 1e6
        print(f"| {n:,} | {m['items']:,} | {m['plain']:.3f} | {m['file']:.3f} | **{m['file'] / m['plain']:.1f}×** "
              f"| {m['traced']:.3f} / {m['file_lines']:.3f} "
              f"| {m['full']:.3f}, {m['full'] / m['plain']:.1f}× ({m['lines']:.3f}) "
              f"| {m['results']:.3f} / {m['rows']:.3f} "
              f"| {m['file_lines'] / n * us:,.1f}, {m['lines'] / n * us:,.1f}, {m['rows'] / n * us:,.0f}, "
              f"{m['models_per'] * us:,.0f}, "
              f"{m['old_per'] * us:,.0f}, "
              f"{m['advice_per'] * us:,.0f} | {m['bytes']:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
