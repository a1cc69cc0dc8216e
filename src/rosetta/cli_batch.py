"""``rosetta batch INPUT -o OUTPUT``: OCR at scale, resumable, every input exactly once.

    rosetta batch photos/ -o out/ocr                       # local engine, one worker per core
    rosetta batch listing.parquet -o s3dump/ --engine ray  # Ray Data; RAY_ADDRESS selects a cluster

Names each input that failed on stderr (its row carries the error too), prints a summary (done, failed,
skipped, images/s) and exits 1 when any image failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from rosetta.cli_options import add_read_arguments, read_config_from_args
from rosetta.engine.batch import BatchConfig, check_manifest, list_inputs, make_shards, pending
from rosetta.engine.runners import run_local, run_ray


def add_parser(sub: argparse._SubParsersAction) -> None:
    b = sub.add_parser("batch", help="OCR a directory, glob, list or table of images into Parquet/JSONL parts")
    b.add_argument("input", help="a directory (recursive), a glob, a .txt list of paths, or a .parquet/.jsonl "
                                 "table with a 'path' or 'bytes' column")
    b.add_argument("-o", "--output", required=True, help="output folder (part files + _manifest.json)")
    b.add_argument("--engine", choices=["local", "ray"], default="local")
    b.add_argument("--workers", type=int, default=None, help="worker processes / Ray actors (default: cores)")
    b.add_argument("--batch-size", type=int, default=16, help="images per shard and per part file")
    b.add_argument("--format", choices=["parquet", "jsonl"], default="parquet", help="part files (default: parquet)")
    add_read_arguments(b, threads_help="intra-op threads per worker (default: 1)")
    b.add_argument("--no-progress", action="store_true", help="no progress bar (shown only on a terminal)")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    workers = args.workers or os.cpu_count() or 1
    cfg = BatchConfig(output=args.output, fmt=args.format, batch_size=max(1, args.batch_size), workers=workers,
                      read=read_config_from_args(args))
    ids, sources = list_inputs(args.input)
    if not ids:
        raise SystemExit(f"rosetta batch: error: no images found in {args.input}")
    out = Path(cfg.output)
    check_manifest(out, ids, cfg)
    shards = make_shards(ids, sources, cfg.batch_size)
    todo = pending(shards, out, cfg.fmt)
    skipped = sum(len(s.ids) for s in shards) - sum(len(s.ids) for s in todo)
    total = sum(len(s.ids) for s in todo)
    runner = run_ray if args.engine == "ray" else run_local
    done = failed = 0
    t0 = time.perf_counter()
    quiet = args.no_progress or not sys.stderr.isatty()  # a progress bar for people at a terminal, not for logs
    bar = tqdm(total=total, unit="img", disable=quiet, file=sys.stderr, dynamic_ncols=True)
    interrupted = False
    try:
        for s in runner(todo, cfg):
            done += s["images"]
            failed += s["failed"]
            for error in s.get("errors", ()):  # as `read` does: each failed input named, with the reason
                bar.write(f"rosetta batch: error: {error}", file=sys.stderr)
            bar.update(s["images"])
            bar.set_postfix(failed=failed)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
    dt = max(1e-9, time.perf_counter() - t0)
    summary = {"done": done, "failed": failed, "skipped": skipped, "remaining": total - done,
               "images_per_s": round(done / dt, 3), "seconds": round(dt, 2), "engine": args.engine,
               "workers": workers, "output": str(out)}
    print(json.dumps(summary))
    if interrupted:
        print("rosetta batch: interrupted; run the same command again to finish (done parts are kept)", file=sys.stderr)
        return 130
    return 1 if failed else 0


__all__ = ["add_parser", "run"]
