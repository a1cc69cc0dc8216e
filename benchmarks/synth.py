"""Synthetic data throughput: word crops/s and 1280x720 scenes/s with 1 and 2 DataLoader workers.

    python benchmarks/synth.py [--crops 2000] [--scenes 100]

Generation happens in the workers exactly as in training (``SynthWords`` / ``SynthScenes``);
the figures exclude worker start-up (fonts, word lists, photographs loaded once per worker).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

from torch.utils.data import DataLoader

from rosetta.synth.dataset import SynthScenes, SynthWords
from rosetta.synth.scenes import SceneSynthConfig
from rosetta.synth.words import WordSynthConfig


def _identity(x):
    return x  # hand numpy arrays over as they are (no per-item shared-memory tensor)


def rate(ds, n: int, workers: int, warm: int) -> float:
    it = iter(DataLoader(ds, batch_size=None, num_workers=workers, prefetch_factor=8 if workers else None,
                         collate_fn=_identity))
    for _ in range(warm):  # start-up and first loads
        next(it)
    t = time.perf_counter()
    for _ in range(n):
        next(it)
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--crops", type=int, default=2000)
    ap.add_argument("--scenes", type=int, default=100)
    a = ap.parse_args()
    out = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"}
    for w in (1, 2):
        out[f"crops_per_s_{w}w"] = round(rate(SynthWords(WordSynthConfig(seed=1)), a.crops, w, 40 * w), 1)
        out[f"scenes_per_s_{w}w"] = round(rate(SynthScenes(SceneSynthConfig(seed=1, size=(1280, 720))), a.scenes, w, 4 * w), 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
