"""Compare int8 detector graphs on training images under paired draws of invisible input noise.

One e2e hmean moves by 1-2 points under +-1 grey level of noise, and so does an int8 graph rebuilt from the
same weights with calibration ranges that differ in the ninth digit (docs/RESULTS.md), so a single figure
cannot choose between int8 variants. This scores the float detector and each folder's int8 detector (the
recognizer in float throughout, so that only the detector differs) on the same noisy copies of the images.
Validation images (img_201..250) are refused: choose on training images, measure once on validation.
The shipped detector never trained on img_181..200 (``holdout=20``): on its training images img_1..180 an
int8 graph loses nothing measurable (it fits them confidently), while on img_181..200 it loses about as much
as on validation, so int8 variants are chosen there, with many draws (docs/RESULTS.md):

    python benchmarks/int8_compare.py --images 181-200 --seeds 24 --first-seed 1 /tmp/int8_a /tmp/int8_b
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from rosetta.config import ReadConfig
from rosetta.data.icdar2015 import training_images
from rosetta.eval import e2e_hmean, noisy_copies, paired_gap
from rosetta.ocr import OCR
from rosetta.train.predict import TorchDetector
from rosetta.train.predict import TorchRecognizer as Recognizer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="+", help="model folders holding a detector.int8.onnx each")
    ap.add_argument("--images", default="1-200", help="ICDAR 2015 dev image numbers (training images only)")
    ap.add_argument("--seeds", type=int, default=3, help="noise draws (seed 0 is the clean images)")
    ap.add_argument("--first-seed", type=int, default=0, help="draws first-seed .. first-seed+seeds-1 (to split runs)")
    ap.add_argument("--amplitude", type=float, default=1.0)
    ap.add_argument("--float", dest="float_folder", default=None,
                    help="model folder of the float detector the folders' int8 graphs are built from (default: shipped)")
    ap.add_argument("--proposals", type=int, default=None, help="RPN proposals per image for every detector (default: each card's)")
    ap.add_argument("--refine-steps", type=int, default=None,
                    help="RoI head passes over its own boxes for every detector (RoIConfig.refine_steps; default: 0)")
    a = ap.parse_args()
    rows, images = training_images(a.images, "int8_compare")
    gts = [r["words"] for r in rows]
    rec = Recognizer.load(engine="onnx")
    one = ReadConfig(threads=1)
    float_folder = Path(a.float_folder) if a.float_folder else None
    engines = {"fp32": OCR(one, detector=TorchDetector.load(float_folder, engine="onnx"), recognizer=rec)}
    engines.update({f: OCR(one, detector=TorchDetector.load(Path(f), engine="int8"), recognizer=rec)
                    for f in a.folders})
    if a.proposals:
        for ocr in engines.values():
            ocr.detector.model.rpn.cfg = replace(ocr.detector.model.rpn.cfg, post_nms_test=a.proposals)
    if a.refine_steps is not None:
        for ocr in engines.values():
            heads = ocr.detector.model.roi_heads
            heads.cfg = replace(heads.cfg, refine_steps=a.refine_steps)
    per_seed = []
    for seed in range(a.first_seed, a.first_seed + a.seeds):
        noisy = images if seed == 0 else noisy_copies(images, seed, a.amplitude)
        row: dict = {"seed": seed}
        for name, ocr in engines.items():
            row[name] = round(e2e_hmean(ocr, noisy, gts), 4)
        per_seed.append(row)
        print(json.dumps(row), flush=True)
    def gap(name: str) -> dict:  # paired by draw: fp32 minus this one
        mean, se = paired_gap([r["fp32"] for r in per_seed], [r[name] for r in per_seed])
        return {"gap_to_fp32": mean, "gap_se": se}

    summary = {name: {"mean": round(float(np.mean([r[name] for r in per_seed])), 4), **gap(name)} for name in engines}
    print(json.dumps({"images": len(images), "seeds": a.seeds, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
