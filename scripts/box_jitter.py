"""How reading settings hold up when boxes move as much as the int8 detector moves them, on training images.

The fp32 detector's boxes on img_1..200 are jittered with the spread measured between int8 and fp32 boxes
(docs/RESULTS.md: log width sd 0.062, log height sd 0.072, shift along the word 0.12 and across 0.015 of its
height, angle sd 1.3 degrees), then read with each set of re-read margins (the crop margin stays 0.16). Draw 0 is
the boxes as found. e2e hmean per draw and setting, one JSON line per draw:

    python scripts/box_jitter.py --draws 4 '0.12' '0.08,0.24' '0.12,0.08'
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

import numpy as np

SPREAD = {"log_w": 0.062, "log_h": 0.072, "along": 0.12, "across": 0.015, "angle": 1.3}


def jitter(boxes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(N, 5) boxes (cx, cy, w, h, angle in degrees) moved by :data:`SPREAD`.

    >>> b = np.array([[50., 20., 40., 10., 0.]], np.float32)
    >>> j = jitter(b, np.random.default_rng(0))
    >>> j.shape, bool(abs(j[0, 0] - 50) < 5 and abs(j[0, 1] - 20) < 1)
    ((1, 5), True)
    """
    b = boxes.astype(np.float64).copy()
    n, a, h = len(b), np.deg2rad(b[:, 4]), b[:, 3].copy()
    along, across = rng.normal(0, SPREAD["along"], n) * h, rng.normal(0, SPREAD["across"], n) * h
    b[:, 0] += along * np.cos(a) + across * np.sin(a)
    b[:, 1] += -along * np.sin(a) + across * np.cos(a)
    b[:, 2] *= np.exp(rng.normal(0, SPREAD["log_w"], n))
    b[:, 3] *= np.exp(rng.normal(0, SPREAD["log_h"], n))
    b[:, 4] += rng.normal(0, SPREAD["angle"], n)
    return b.astype(boxes.dtype)


def main() -> None:
    import torch

    from rosetta.cli_eval import ic15_training_rows
    from rosetta.detection.detector import Detector
    from rosetta.eval import evaluate_images, scored_words
    from rosetta.ocr import OCR
    from rosetta.train.predict import TorchRecognizer as Recognizer

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("rereads", nargs="+", help="comma-separated re-read margins per setting ('' reads once)")
    ap.add_argument("--images", default="1-200")
    ap.add_argument("--draws", type=int, default=4)
    a = ap.parse_args()
    rows, images = ic15_training_rows(a.images, "box_jitter")
    torch.set_num_threads(1)
    gts = [r["words"] for r in rows]
    rec = Recognizer.load(engine="onnx")
    det = OCR(Detector.load(engine="onnx"), rec, threads=1).detector  # at its read threshold
    found = [det([im]) for im in images]
    for draw in range(a.draws):
        rng = np.random.default_rng(100 + draw)
        moved = [[(jitter(b, rng) if draw else b, s) for b, s in d] for d in found]
        row: dict = {"draw": draw}
        for spec in a.rereads:
            ocr = OCR(det, rec, threads=1)
            ocr.config = replace(ocr.config, reread_margins=tuple(float(m) for m in spec.split(",") if m))
            words = [scored_words(ocr.read_boxes(im, b, sc)) for im, [(b, sc)] in zip(images, moved)]
            row[spec] = round(evaluate_images(gts, words)["e2e"]["hmean"], 4)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
