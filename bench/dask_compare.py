"""In-process against a local Dask cluster (2 worker processes x 1 thread): same runs, same results.

    python bench/dask_compare.py 20000

Times ``evaluate_batch`` and ``evaluate_province`` in-process, then ``evaluate_batch_dask`` and
``evaluate_province_dask`` on a ``LocalCluster``, and asserts the results are equal. The person
table repeats the records of ``examples/nd335_individual.json``; values are given as text
columns, as a CSV export would give them.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from distributed import Client, LocalCluster

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import kpi_rules  # noqa: E402
from kpi_rules.batch import evaluate_batch  # noqa: E402
from kpi_rules.bundle import load_bundle  # noqa: E402
from kpi_rules.distributed import evaluate_batch_dask, evaluate_province_dask  # noqa: E402
from kpi_rules.org import load_province  # noqa: E402
from kpi_rules.province import evaluate_province  # noqa: E402


def timed(run: Callable[[], Any], repeat: int) -> tuple[Any, list[float]]:
    out, times = None, []
    for _ in range(repeat):
        start = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - start)
    return out, times


def tables(people: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    raws = json.loads((ROOT / "examples" / "nd335_individual.json").read_text(encoding="utf-8"))["records"]
    persons, items = [], []
    for k in range(people):
        raw = raws[k % len(raws)]
        rid = f"p{k}"
        persons.append({"id": rid, **{n: str(v) for n, v in raw["inputs"].items() if n != "tasks"}})
        items += [{"id": rid, **{n: str(v) for n, v in t.items()}} for t in raw["inputs"]["tasks"]]
    return pd.DataFrame(persons), pd.DataFrame(items)


def main(people: int) -> None:
    warnings.filterwarnings("ignore")
    rules = kpi_rules.load(ROOT / "criteria" / "nd335" / "individual.kpi")
    persons, items = tables(people)
    bundle = load_bundle(ROOT / "examples" / "province" / "bundle.yaml")
    province = load_province(ROOT / "examples" / "province" / "province.json")
    print("load average before:", os.getloadavg())
    single_b, tb = timed(lambda: evaluate_batch(rules.plan, persons, items=items), 3)
    single_p, tp = timed(lambda: evaluate_province(bundle, province), 3)
    start = time.perf_counter()
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=logging.ERROR)
    client = Client(cluster)
    started = time.perf_counter() - start
    dist_b, db = timed(lambda: evaluate_batch_dask(rules, persons, items=items, client=client, npartitions=4), 4)
    dist_p, dp = timed(lambda: evaluate_province_dask(bundle, province, client=client), 4)
    assert dist_b.totals() == single_b.totals() and dist_b.levels() == single_b.levels()
    assert dist_p.years == single_p.years and dist_p.results == single_p.results
    assert dist_p.quota_reports == single_p.quota_reports
    print(f"batch {people} people, {len(items)} items: in-process {['%.2f' % x for x in tb]} s; "
          f"dask {['%.2f' % x for x in db]} s (the first includes compiling on the workers)")
    print(f"province {len(province.records)} records: in-process {['%.2f' % x for x in tp]} s; "
          f"dask {['%.2f' % x for x in dp]} s")
    print(f"cluster start {started:.2f} s; load average after: {os.getloadavg()}")
    client.close()
    cluster.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20000)
