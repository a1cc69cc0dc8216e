"""Choose how each detected box is read (its crop variants and how their reads combine) on *training* images,
for the float and the int8 models together, under paired draws of invisible input noise.

    python scripts/tune_reads.py --images 1-200 --seeds 3 --cache /tmp/reads_1_200.pkl [--proposals 100]
    python scripts/tune_reads.py --cache /tmp/reads_1_200.pkl          # scores a cache again, no reading

One pass per engine (fp32, int8: both models of each) and draw (seed 0: the clean images) detects the words at
the shipped read threshold and reads every box at every crop variant of :data:`VARIANTS` (margins along and
across the text, as fractions of the box height); each candidate of :data:`CANDIDATES` (a set of variants, a
rule of :func:`rosetta.ocr.combine_reads`) is then scored at each confidence floor from those reads, exactly as
``OCR`` would read with it. Prints one JSON line per candidate and floor: mean e2e hmean per engine and the
int8 gap (fp32 minus int8, points, with its standard error over the draws). Validation images are refused.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

Variant = tuple[float, float]  # (along, across) margins

VARIANTS: list[Variant] = ([(m, m) for m in (0.04, 0.08, 0.12, 0.16, 0.20, 0.24, 0.32)]
                           + [(a, 0.16) for a in (0.0, 0.08, 0.24, 0.32, 0.48)]
                           + [(0.16, c) for c in (0.04, 0.08, 0.24, 0.32)]
                           + [(0.32, 0.08), (0.08, 0.24), (0.24, 0.08)])

_THREE = [(0.16, 0.16), (0.08, 0.08), (0.24, 0.24)]  # the reads shipped before 2026-12-02 (crop 0.16, re-reads 0.08, 0.24)
CANDIDATES: dict[str, tuple[list[Variant], str]] = {
    "one read (0.16)": (_THREE[:1], "max"),
    "0.16/0.08/0.24, max": (_THREE, "max"),
    "0.16/0.08/0.24, vote": (_THREE, "vote"),
    "0.16/0.08/0.24 + (0.08,0.16), vote": (_THREE + [(0.08, 0.16)], "vote"),
    "0.16/0.08/0.24 + (0.32,0.16), vote": (_THREE + [(0.32, 0.16)], "vote"),
    "0.16/0.08/0.24 + (0.16,0.08), vote": (_THREE + [(0.16, 0.08)], "vote"),
    "0.16/0.08/0.24 + (0.08,0.16), (0.32,0.16), vote": (_THREE + [(0.08, 0.16), (0.32, 0.16)], "vote"),
    "0.16/0.08/0.24 + (0.08,0.16), (0.32,0.16), max": (_THREE + [(0.08, 0.16), (0.32, 0.16)], "max"),
    "0.16/0.08/0.24 + (0.08,0.16), (0.32,0.16), (0.16,0.24), vote": (
        _THREE + [(0.08, 0.16), (0.32, 0.16), (0.16, 0.24)], "vote"),
    "along 0.08/0.16/0.32 x across 0.08/0.16, vote": (
        [(0.08, 0.08), (0.16, 0.08), (0.32, 0.08), (0.08, 0.16), (0.16, 0.16), (0.32, 0.16)], "vote"),
    "along 0.08/0.16/0.24/0.32 x across 0.08/0.16, vote": (
        [(a, c) for c in (0.08, 0.16) for a in (0.08, 0.16, 0.24, 0.32)], "vote"),
    "along 0.0..0.48 x across 0.16, vote": ([(a, 0.16) for a in (0.0, 0.08, 0.16, 0.24, 0.32, 0.48)], "vote"),
    "across >= 0.12 (13), vote": ([v for v in VARIANTS if v[1] >= 0.12], "vote"),
    "uniform 0.04..0.32 (7), vote": ([(m, m) for m in (0.04, 0.08, 0.12, 0.16, 0.20, 0.24, 0.32)], "vote"),
    "all 19, vote": (VARIANTS, "vote"),
}


def read_all(images_spec: str, seeds: int, proposals: int | None) -> dict:
    """Every box of every (engine, draw) read at every variant: the cache the candidates are scored from."""
    from rosetta.cli_eval import ic15_training_rows
    from rosetta.eval import noisy_copies
    from rosetta.geometry import rotated_crop
    from rosetta.ocr import OCR
    from rosetta.result import RotatedBox

    rows, images = ic15_training_rows(images_spec, "tune_reads")
    data: dict = {"variants": VARIANTS, "gts": [r["words"] for r in rows], "runs": {}, "images": images_spec,
                  "proposals": proposals}
    for name, int8 in (("fp32", False), ("int8", True)):
        ocr = OCR(int8=int8, threads=1)
        if proposals:
            ocr.detector.model.rpn.cfg = replace(ocr.detector.model.rpn.cfg, post_nms_test=proposals)
        for seed in range(seeds):
            draw = images if seed == 0 else noisy_copies(images, seed)
            per_image = []
            for img, (boxes, scores) in zip(draw, ocr.detector(draw)):
                crops = [rotated_crop(img, b, v) for b in boxes for v in VARIANTS]
                reads = ocr.recognizer(crops) if crops else []
                n = len(VARIANTS)  # (box, variant) reads, box-major
                per_image.append([{"poly": RotatedBox(*(float(v) for v in b)).polygon(), "score": float(s),
                                   "reads": reads[i * n:(i + 1) * n]} for i, (b, s) in enumerate(zip(boxes, scores))])
            data["runs"][(name, seed)] = per_image
            print(json.dumps({"read": name, "seed": seed}), file=sys.stderr, flush=True)
    return data


def score(data: dict, variants: list[Variant], rule: str, floor: float) -> dict:
    """Mean e2e hmean per engine over the cached draws, and the paired int8 gap (points) with its SE."""
    from rosetta.eval import evaluate_images, paired_gap
    from rosetta.ocr import combine_reads

    at = [data["variants"].index(v) for v in variants]
    per: dict[str, list[float]] = {}
    for (name, _seed), run in sorted(data["runs"].items()):
        words = []
        for boxes in run:
            kept = []
            for b in boxes:
                text, conf = combine_reads([b["reads"][i] for i in at], rule)
                if text and conf >= floor:
                    kept.append({"points": b["poly"], "text": text})
            words.append(kept)
        per.setdefault(name, []).append(evaluate_images(data["gts"], words)["e2e"]["hmean"])
    gap, se = paired_gap([100 * v for v in per["fp32"]], [100 * v for v in per["int8"]], digits=2)  # in points
    return {"fp32": round(float(np.mean(per["fp32"])), 4), "int8": round(float(np.mean(per["int8"])), 4),
            "gap_points": gap, "gap_se": se}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", default="1-200", help="ICDAR 2015 dev image numbers (training images only)")
    ap.add_argument("--seeds", type=int, default=3, help="draws (seed 0: the clean images)")
    ap.add_argument("--proposals", type=int, default=None, help="RPN proposals per image (default: the card's)")
    ap.add_argument("--floors", default="0.8,0.85,0.9")
    ap.add_argument("--cache", required=True, help="pickle of the reads: read from if it exists, else written")
    a = ap.parse_args()
    cache = Path(a.cache)
    if cache.exists():
        data = pickle.loads(cache.read_bytes())
    else:
        data = read_all(a.images, a.seeds, a.proposals)
        cache.write_bytes(pickle.dumps(data))
    for name, (variants, rule) in CANDIDATES.items():
        for floor in (float(v) for v in a.floors.split(",")):
            print(json.dumps({"images": data["images"], "proposals": data["proposals"], "draws": len(data["runs"]) // 2,
                              "candidate": name, "floor": floor, **score(data, variants, rule, floor)}), flush=True)


if __name__ == "__main__":
    main()
