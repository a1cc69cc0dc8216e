"""int8 versus fp32, measured in one run: recognizer speed at 1 and 2 threads, accuracy, the trick ablation,
and end to end on ICDAR 2015 dev images.

    python benchmarks/int8.py [--e2e-images 201-250] [--skip-e2e]

Recognizer: the shipped weights; calibration on 400 real training crops (IIIT5K + IC15 train splits);
accuracy on the IIIT5K and IC15 validation splits. Ablation: each trick turned off in turn
(rosetta.quant.ort_int8.Int8Config). End to end: `OCR()` (fp32, ONNX Runtime) versus `OCR(int8=True)` (int8 recognizer; the detector stays fp32).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from rosetta.data.crops import load_crops
from rosetta.engine.onnx import session
from rosetta.metrics import text_scores
from rosetta.quant.ort_int8 import Int8Config, quantize_recognizer, real_calibration_crops
from rosetta.recognition.recognizer import Recognizer


def timed(rec: Recognizer, images, repeats: int = 2) -> tuple[list[str], float]:
    rec(images[:32])
    best, preds = float("inf"), []
    for _ in range(repeats):
        t = time.perf_counter()
        preds = [p for p, _ in rec(images)]
        best = min(best, time.perf_counter() - t)
    return preds, 1000 * best / len(images)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--e2e-images", default="201-250")
    ap.add_argument("--skip-e2e", action="store_true")
    a = ap.parse_args()
    calib = real_calibration_crops(400)
    vals = {"iiit5k": load_crops("iiit5k_train", "val", case_sensitive=False),
            "ic15": load_crops("icdar2015_wordrec_train", "val")}
    report: dict = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} cores"}
    fp32 = Recognizer.load()
    tmp = Path(tempfile.mkdtemp(prefix="rosetta-int8-bench-"))

    def int8_recognizer(cfg: Int8Config) -> Recognizer:
        path = quantize_recognizer(fp32.model, calib, tmp / f"{abs(hash(cfg))}.onnx", cfg)
        r = Recognizer.load()
        r._session = session(path)  # the quantized graph under test
        return r

    variants = {"int8 (all tricks)": Int8Config(),
                "no exact zero / symmetric weights": Int8Config(symmetric_weights=False),
                "no conv+relu fusion": Int8Config(fuse_relu=False),
                "min-max ranges": Int8Config(calibration="minmax"),
                "first layer int8": Int8Config(keep_first_fp32=False)}
    rows = []

    def measure(rec: Recognizer, row: dict) -> None:
        """Accuracy and ms/crop of ``rec`` on every validation set, as one row."""
        for k, v in vals.items():
            preds, ms = timed(rec, v.images)
            row[f"{k}_acc"] = round(text_scores(preds, v.texts)["word_acc"], 4)
            row[f"{k}_ms_per_crop"] = round(ms, 3)
        rows.append(row)
        print(json.dumps(row), flush=True)

    for threads in (1, 2):
        torch.set_num_threads(threads)
        for name, rec in (("fp32 torch", fp32), ("fp32 onnx", Recognizer.load(engine="onnx"))):
            rec._session = session(rec._session._model_path, threads) if rec._session is not None else None
            measure(rec, {"variant": name, "threads": threads})
        for name, cfg in variants.items():
            if threads == 2 and name != "int8 (all tricks)":
                continue
            rec = int8_recognizer(cfg)
            rec._session = session(Path(rec._session._model_path), threads)
            measure(rec, {"variant": name, "threads": threads, "config": dataclasses.asdict(cfg)})
    report["recognizer"] = rows
    if not a.skip_e2e:
        from rosetta.cli_eval import eval_images
        from rosetta.data.splits import data_root

        torch.set_num_threads(1)
        lo, hi = (int(x) for x in a.e2e_images.split("-"))
        nums = set(range(lo, hi + 1))
        data = data_root() / "icdar2015_dev"
        report["e2e_fp32"] = eval_images(data, nums, True, None, "onnx")  # the default fp32 path
        report["e2e_int8"] = eval_images(data, nums, True, None, "int8")
        report["e2e_speedup"] = round(report["e2e_fp32"]["s_per_image"] / report["e2e_int8"]["s_per_image"], 2)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
