"""Engines that run :func:`rosetta.engine.batch.process_shard` over pending shards.

``local``: N worker processes (``multiprocessing``, spawn), each loading the models once; at most
2N shards in flight, so memory stays bounded however long the listing.
``ray``: Ray Data ``map_batches`` with an actor pool of N actors (models loaded once per actor),
connecting to ``RAY_ADDRESS`` when set, starting a local Ray otherwise.
Both yield one summary dict per finished shard, as shards finish.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import threading
import time
from pathlib import Path
from typing import Iterator, Sequence

from rosetta.engine.batch import BatchConfig, Shard, make_ocr, process_shard

_worker_state: dict = {}


def _init_worker(cfg: BatchConfig) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops the pool
    os.environ["OMP_NUM_THREADS"] = str(cfg.threads_per_worker)
    parent = os.getppid()
    threading.Thread(target=_exit_with, args=(parent,), daemon=True, name="rosetta-parent-watch").start()
    _worker_state["ocr"] = make_ocr(cfg)
    _worker_state["cfg"] = cfg
    _worker_state["parent"] = parent


def _exit_with(parent: int, every_s: float = 0.2) -> None:
    """Exit quietly as soon as the parent is gone (killed): an orphan would finish its shard for nobody and
    die on the closed result pipe with a BrokenPipeError traceback. Its unfinished part file is redone by the
    next run (part files are written under a temporary name, renamed when complete)."""
    while os.getppid() == parent:
        time.sleep(every_s)
    os._exit(0)


def _run_shard(shard: Shard) -> dict:
    cfg: BatchConfig = _worker_state["cfg"]
    summary = process_shard(shard, _worker_state["ocr"], Path(cfg.output), cfg.fmt)
    if os.getppid() != _worker_state["parent"]:  # orphaned while reading: nobody to send the summary to
        os._exit(0)
    return summary


def run_local(shards: Sequence[Shard], cfg: BatchConfig) -> Iterator[dict]:
    ctx = mp.get_context("spawn")
    with ctx.Pool(cfg.workers, initializer=_init_worker, initargs=(cfg,)) as pool:
        pending = list(shards)
        in_flight = []
        limit = 2 * cfg.workers
        while pending or in_flight:
            while pending and len(in_flight) < limit:
                in_flight.append(pool.apply_async(_run_shard, (pending.pop(0),)))
            done = next((r for r in in_flight if r.ready()), None)
            if done is None:
                in_flight[0].wait(0.05)
                continue
            in_flight.remove(done)
            yield done.get()


class _RayShardActor:
    """A Ray Data actor: models loaded once in __init__, one shard per call."""

    def __init__(self, cfg: BatchConfig):
        self.cfg = cfg
        self.ocr = make_ocr(cfg)

    def __call__(self, batch: dict) -> dict:
        import pickle

        out = {"summary": []}
        for blob in batch["shard"]:
            s = process_shard(pickle.loads(blob), self.ocr, Path(self.cfg.output), self.cfg.fmt)
            out["summary"].append(json.dumps(s))
        return out


def run_ray(shards: Sequence[Shard], cfg: BatchConfig) -> Iterator[dict]:
    import os
    import pickle

    try:
        import ray
    except ImportError as exc:  # an optional extra
        raise SystemExit("rosetta batch: error: --engine ray needs Ray Data: pip install 'rosetta-ocr[ray]'") from exc
    if not ray.is_initialized():
        address = os.environ.get("RAY_ADDRESS")
        ray.init(address=address, num_cpus=None if address else max(cfg.workers, os.cpu_count() or 1),
                 include_dashboard=False,
                 log_to_driver=False, ignore_reinit_error=True)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ds = ray.data.from_items([{"shard": pickle.dumps(s)} for s in shards], override_num_blocks=max(1, len(shards)))
    ds = ds.map_batches(_RayShardActor, fn_constructor_args=(cfg,), batch_size=1,
                        compute=ray.data.ActorPoolStrategy(size=max(1, cfg.workers)), num_cpus=cfg.threads_per_worker)
    for row in ds.iter_rows():
        yield json.loads(row["summary"])


__all__ = ["run_local", "run_ray"]
