"""The recognizer runtime (ONNX Runtime + NumPy, no PyTorch) against the PyTorch predictor's ONNX engine.

    python benchmarks/runtime_recognizer.py [--crops 500] [--repeats 5]

One thread each. Reports, as one JSON line:
- speed: ms per crop of ``rosetta.runtime.recognizer.Recognizer``, of the same with ONNX Runtime's memory arena on,
  and of ``TorchRecognizer.load(engine="onnx")`` (the engine ``OCR`` used before the runtime) reading the same real
  crops (IIIT5K + IC15 validation files) in calls of ``--call`` crops, interleaved (A, B, C, C, B, A, ...), and the
  medians of the per-round ratios (a shared host slows all alike);
- ready: seconds from a fresh interpreter to a loaded recognizer (imports included), median of 3 subprocesses each;
- memory: peak RSS of a fresh process reading the crops in calls of random sizes, with ONNX Runtime's memory arena
  off (the runtime's setting) and on, and its ms per crop.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from rosetta.runtime.files import cpu_model

READY = {"runtime": "import rosetta.runtime.recognizer as r; r.Recognizer.load()",
         "torch_onnx": "import torch; torch.set_num_threads(1); from rosetta.train.predict import TorchRecognizer as R; "
                       "R.load(engine='onnx')"}



def real_crops(n: int) -> list:
    """The first ``n`` / 2 validation crops of IIIT5K and of IC15, as their files hold them (colour)."""
    import cv2

    from rosetta.data.splits import crop_split

    half = n // 2
    paths = crop_split("iiit5k_train", "val")[:half] + crop_split("icdar2015_wordrec_train", "val")[:n - half]
    return [cv2.imread(str(p), cv2.IMREAD_COLOR_RGB) for p, _ in paths]


def arena_recognizer(arena: bool):
    """The runtime recognizer on a session made as :func:`rosetta.runtime.sessions.session` makes it, but with
    ONNX Runtime's memory arena ``arena``."""
    import onnxruntime as ort

    from rosetta.charset import Charset
    from rosetta.models import MODEL_DIR
    from rosetta.runtime.files import read_meta
    from rosetta.runtime.recognizer import Recognizer

    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = 1, 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.enable_cpu_mem_arena = arena
    sess = ort.InferenceSession(str(MODEL_DIR / "recognizer.onnx"), so, providers=["CPUExecutionProvider"])
    return Recognizer(lambda x: sess.run(None, {"x": x})[0], Charset.from_text(read_meta("recognizer")["charset"]))


def rss_mb(field: str = "VmRSS") -> float:
    """This process's resident memory (``VmHWM``: its peak; not ``ru_maxrss``, which keeps the parent's peak across
    the fork and exec that start a subprocess)."""
    for line in open("/proc/self/status", encoding="utf-8"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory_child(n: int, arena: bool) -> dict:
    """Read ``n`` crops in calls of 1..39 crops (an image's words), in a random order: RSS before, peak RSS."""
    import numpy as np

    images = real_crops(n)
    rec = arena_recognizer(arena)
    before = rss_mb()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(images))
    t, i = time.perf_counter(), 0
    while i < len(order):
        k = int(rng.integers(1, 40))
        rec([images[j] for j in order[i:i + k]])
        i += k
    ms = 1000 * (time.perf_counter() - t) / len(images)
    peak = rss_mb("VmHWM")
    return {"rss_before_mb": round(before, 1), "peak_rss_mb": round(peak, 1), "rss_after_mb": round(rss_mb(), 1),
            "ms_per_crop": round(ms, 3)}




def speed(n: int, repeats: int, call: int) -> dict:
    import torch

    torch.set_num_threads(1)
    from rosetta.runtime.recognizer import Recognizer
    from rosetta.train.predict import TorchRecognizer

    images = real_crops(n)
    recs = {"runtime": Recognizer.load(threads=1), "runtime_arena_on": arena_recognizer(True),
            "torch_onnx": TorchRecognizer.load(engine="onnx")}
    reads = {}
    for rec in recs.values():
        rec(images[:64])  # warm up
    times: dict[str, list[float]] = {k: [] for k in recs}
    for r in range(repeats):
        for name in (list(recs) if r % 2 == 0 else list(recs)[::-1]):
            t = time.perf_counter()
            reads[name] = [x for i in range(0, len(images), call) for x in recs[name](images[i:i + call])]
            times[name].append(1000 * (time.perf_counter() - t) / len(images))
    ratios = [a / b for a, b in zip(times["torch_onnx"], times["runtime"])]
    arena = [a / b for a, b in zip(times["runtime_arena_on"], times["runtime"])]
    same = sum(a[0] == b[0] for a, b in zip(reads["runtime"], reads["torch_onnx"])) / len(images)
    return {"crops": len(images), "call": call, "repeats": repeats,
            **{f"{k}_ms_per_crop": round(min(v), 3) for k, v in times.items()},
            "speedup_median": round(statistics.median(ratios), 3),
            "arena_on_over_off_median": round(statistics.median(arena), 3), "same_text": round(same, 4)}


def ready() -> dict:
    out = {}
    for name, code in READY.items():
        runs = []
        for _ in range(3):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            runs.append(time.perf_counter() - t)
        out[f"{name}_ready_s"] = round(statistics.median(runs), 3)
    return out


def memory(n: int) -> dict:
    out = {}
    for arena in (False, True):
        res = subprocess.run([sys.executable, __file__, "--crops", str(n), "--memory-child", "on" if arena else "off"],
                             check=True, capture_output=True, text=True)
        facts = json.loads(res.stdout.strip().splitlines()[-1])
        out.update({f"arena_{'on' if arena else 'off'}_{k}": v for k, v in facts.items()})
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--crops", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--call", type=int, default=20, help="crops per recognizer call (an image's words)")
    ap.add_argument("--memory-child", choices=("on", "off"), help=argparse.SUPPRESS)  # one memory run, arena on/off
    a = ap.parse_args()
    if a.memory_child:
        print(json.dumps(memory_child(a.crops, a.memory_child == "on")))
        return
    out = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
           "cpu": cpu_model(), "threads": 1}
    out.update(speed(a.crops, a.repeats, a.call))
    out.update(ready())
    out.update(memory(a.crops))
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
