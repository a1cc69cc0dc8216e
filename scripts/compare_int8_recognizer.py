"""Compare int8 recognizers end to end, behind the fp32 detector, under paired draws of invisible input noise.

ICDAR 2015 img_1..200 are not the recognizer's training data (it trains on word crops of other sets), so all
200 serve; the fp32 detector runs once per draw and every recognizer reads the same boxes. Each argument is
NAME:CALIBRATION (minmax, minmax-mean, entropy, percentile), built from 400 real training crops into
/tmp/rosetta-int8-rec-NAME, besides the shipped int8 recognizer and the fp32 one.

    python scripts/compare_int8_recognizer.py --images 1-200 --draws 4 mm:minmax mean:minmax-mean
"""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np


def main() -> None:
    import torch

    from rosetta.cli_eval import ic15_training_rows
    from rosetta.detection.detector import Detector
    from rosetta.eval import evaluate_images, noisy_copies, paired_gap, scored_words
    from rosetta.models import MODEL_DIR
    from rosetta.ocr import OCR
    from rosetta.quant.ort_int8 import RECOGNIZER_INT8, real_calibration_crops
    from rosetta.quant.recognizer import build_int8
    from rosetta.train.predict import TorchRecognizer as Recognizer

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("variants", nargs="*", help="NAME:CALIBRATION")
    ap.add_argument("--images", default="1-200")
    ap.add_argument("--draws", type=int, default=4, help="the clean images, then draws - 1 noisy copies")
    a = ap.parse_args()
    rows, images = ic15_training_rows(a.images, "compare_int8_recognizer")
    torch.set_num_threads(1)
    recognizers = {"fp32": Recognizer.load(engine="onnx"), "shipped": Recognizer.load(engine="int8")}
    for spec in a.variants:
        name, calibration = spec.split(":")
        out = Path(f"/tmp/rosetta-int8-rec-{name}")
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(MODEL_DIR, out)
        build_int8(out, real_calibration_crops(400), replace(RECOGNIZER_INT8, calibration=calibration))
        recognizers[name] = Recognizer.load(out, engine="int8")
    gts = [r["words"] for r in rows]
    detector = OCR(Detector.load(engine="onnx"), recognizers["fp32"], threads=1).detector  # at its read threshold
    per_draw = []
    for seed in range(a.draws):
        batch = noisy_copies(images, seed) if seed else images
        boxes = [detector([im]) for im in batch]
        row: dict = {"draw": seed}
        for name, rec in recognizers.items():
            ocr = OCR(detector, rec, threads=1)
            words = [scored_words(ocr.read_boxes(im, b, sc))
                     for im, [(b, sc)] in zip(batch, boxes)]
            row[name] = round(evaluate_images(gts, words)["e2e"]["hmean"], 4)
        per_draw.append(row)
        print(json.dumps(row), flush=True)
    def gap(name: str) -> dict:  # paired by draw: fp32 minus this one
        mean, se = paired_gap([r["fp32"] for r in per_draw], [r[name] for r in per_draw])
        return {"gap_to_fp32": mean, "gap_se": se}

    summary = {name: {"mean": round(float(np.mean([r[name] for r in per_draw])), 4), **gap(name)}
               for name in recognizers}
    print(json.dumps({"images": len(rows), "draws": a.draws, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
