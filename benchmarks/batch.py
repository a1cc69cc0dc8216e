"""Batch throughput: images/s of the local and Ray engines with 1 and 2 workers, in one run.

    python benchmarks/batch.py [--images 100] [--batch-size 4]

Input: ICDAR 2015 dev images (1280x720), written to fresh output folders. Each worker runs at one
thread. The rate is wall clock over the whole job, worker start and model loading included (Ray's
one-time ``ray.init`` is excluded by a warm-up job); ``first_shard_s`` shows the start-up part and
``after_first_shard_images_per_s`` the rate once the workers run (an explanatory figure, not the verdict).
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--engines", default="local,ray")
    a = ap.parse_args()
    folder = data_root() / "icdar2015_dev" / "images"
    paths = [str(folder / f"img_{i}.jpg") for i in range(1, a.images + 1)]
    rows = []
    for engine in a.engines.split(","):
        if engine == "ray":
            measure("ray", 1, paths[:2], 1)  # ray.init and Ray Data's first-use costs, not counted
        for w in (1, 2):
            rows.append(measure(engine, w, paths, a.batch_size))
            print(json.dumps(rows[-1]), flush=True)
    by = {(r["engine"], r["workers"]): r["images_per_s"] for r in rows}
    summary = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
               "batch_size": a.batch_size}
    if ("local", 2) in by:
        summary["local_2_over_1"] = round(by[("local", 2)] / by[("local", 1)], 2)
    if ("ray", 1) in by and ("local", 1) in by:
        summary["ray_over_local_1w"] = round(by[("ray", 1)] / by[("local", 1)], 2)
        summary["ray_over_local_2w"] = round(by[("ray", 2)] / by[("local", 2)], 2)
        st = {(r["engine"], r["workers"]): r["after_first_shard_images_per_s"] for r in rows}
        summary["after_first_shard_ray_over_local"] = [round(st[("ray", w)] / st[("local", w)], 2) for w in (1, 2)]
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
