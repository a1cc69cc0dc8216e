"""Batch throughput: images/s of the local and Ray engines with 1 and 2 workers, in one run.

    python benchmarks/batch.py [--images 100] [--batch-size 4] [--repeats 3]

Input: ICDAR 2015 dev images (1280x720), written to fresh output folders. Each worker runs at one
thread. The rate is wall clock over the whole job, worker start and model loading included (Ray's
one-time ``ray.init`` is excluded by a warm-up job); ``first_shard_s`` shows the start-up part and
``after_first_shard_images_per_s`` the rate once the workers run (an explanatory figure, not the verdict).
With ``--repeats N`` the four jobs run N times, interleaved (this 2-core machine's rates vary by about 10%
from run to run); the ratios are those of the median rates, and each run's ratios are listed too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from rosetta.data.splits import data_root
from rosetta.engine.batch import BatchConfig, check_manifest, make_shards
from rosetta.engine.runners import run_local, run_ray


def measure(engine: str, workers: int, paths: list[str], batch_size: int) -> dict:
    """Wall-clock images/s of one job over ``paths``: worker (actor) start and model loading included,
    Ray's one-time ``ray.init`` excluded (a warm-up job runs first in the same process)."""
    out = Path(tempfile.mkdtemp(prefix=f"rosetta-bench-{engine}-{workers}-"))
    cfg = BatchConfig(output=str(out), batch_size=batch_size, workers=workers)
    check_manifest(out, paths, cfg)
    shards = make_shards(paths, paths, batch_size)
    runner = run_ray if engine == "ray" else run_local
    t0 = time.perf_counter()
    first = None
    for s in runner(shards, cfg):
        first = first or time.perf_counter() - t0
    dt = time.perf_counter() - t0
    shutil.rmtree(out, ignore_errors=True)
    steady = (len(paths) - batch_size) / max(1e-9, dt - (first or 0))  # after the first shard: start-up excluded
    return {"engine": engine, "workers": workers, "images": len(paths), "seconds": round(dt, 2),
            "first_shard_s": round(first or 0, 2), "images_per_s": round(len(paths) / dt, 3),
            "after_first_shard_images_per_s": round(steady, 3)}


def ratios(rows: list[dict], key: str) -> dict:
    """local 2/1 workers and Ray/local at 1 and 2 workers, from the median ``key`` of each setting."""
    import statistics

    med = {}
    for r in rows:
        med.setdefault((r["engine"], r["workers"]), []).append(r[key])
    med = {k: statistics.median(v) for k, v in med.items()}
    out = {}
    if ("local", 1) in med and ("local", 2) in med:
        out["local_2_over_1"] = round(med[("local", 2)] / med[("local", 1)], 2)
    for w in (1, 2):
        if ("ray", w) in med and ("local", w) in med:
            out[f"ray_over_local_{w}w"] = round(med[("ray", w)] / med[("local", w)], 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--engines", default="local,ray")
    ap.add_argument("--repeats", type=int, default=1)
    a = ap.parse_args()
    folder = data_root() / "icdar2015_dev" / "images"
    paths = [str(folder / f"img_{i}.jpg") for i in range(1, a.images + 1)]
    rows = []
    for rep in range(a.repeats):
        for engine in a.engines.split(","):
            if engine == "ray":  # a fresh local Ray per run, so the local engine never shares the cores with it
                measure("ray", 1, paths[:2], 1)  # ray.init and Ray Data's first-use costs, not counted
            for w in (1, 2):
                rows.append({**measure(engine, w, paths, a.batch_size), "run": rep + 1})
                print(json.dumps(rows[-1]), flush=True)
            if engine == "ray":
                import ray

                ray.shutdown()
    summary = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
               "batch_size": a.batch_size, "repeats": a.repeats,
               **ratios(rows, "images_per_s"),
               "after_first_shard": ratios(rows, "after_first_shard_images_per_s")}
    if a.repeats > 1:
        summary["per_run"] = [ratios([r for r in rows if r["run"] == k], "images_per_s") for k in range(1, a.repeats + 1)]
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
