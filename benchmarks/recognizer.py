"""Recognizer speed: ms per crop at 1 thread, batches of 32 crops of mixed widths, fp32, per engine.

    python benchmarks/recognizer.py [--crops 512] [--threads 1] [--models DIR ...]

``--models``: also time these model folders (candidates), beside the shipped recognizer in the same run, keys
prefixed with the folder's name.

Crops are real word crops (IIIT5K and IC15 validation) when ../shared/data is present, otherwise
synthetic words; each engine reads the same crops, in the same order, in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch


def crops(n: int):
    try:
        from rosetta.data.crops import load_crops

        imgs = load_crops("iiit5k_train", "val").images + load_crops("icdar2015_wordrec_train", "val").images
        return imgs[:n], "iiit5k+ic15 val"
    except FileNotFoundError:
        import numpy as np

        from rosetta.synth.words import WordSynth, WordSynthConfig

        g = WordSynth.create(WordSynthConfig(seed=3))
        return [np.asarray(g.sample(i).image) for i in range(n)], "synthetic"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--crops", type=int, default=512)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--models", nargs="*", default=[], help="candidate model folders timed beside the shipped one")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    from rosetta.train.predict import TorchRecognizer as Recognizer

    images, source = crops(a.crops)
    out = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
           "threads": a.threads, "crops": len(images), "source": source, "batch": 32,
           "mean_width_px_at_h32": round(sum(32 * im.shape[1] / max(1, im.shape[0]) for im in images) / len(images), 1)}
    for folder in [None, *a.models]:
        tag = "" if folder is None else f"{Path(folder).name}_"
        for engine in ("torch", "onnx"):
            rec = Recognizer.load(folder and Path(folder), engine=engine)
            rec(images[:64])  # warm up
            best = float("inf")
            for _ in range(a.repeats):
                t = time.perf_counter()
                rec(images)
                best = min(best, time.perf_counter() - t)
            out[f"{tag}{engine}_ms_per_crop"] = round(1000 * best / len(images), 3)
        out[f"{tag}onnx_speedup"] = round(out[f"{tag}torch_ms_per_crop"] / out[f"{tag}onnx_ms_per_crop"], 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
