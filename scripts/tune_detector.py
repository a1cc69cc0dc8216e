"""Choose a detector's score threshold and image scale on its *training* images (never the validation ones).

    python scripts/tune_detector.py MODEL_FOLDER [--images 101-200] [--upscales 1.0,1.25,1.5]
        [--thresholds 0.5,0.6,0.7,0.8]

Prints one JSON line per scale (hmean at every threshold) and, last, the best pair; ship it with
`rosetta models package detector CKPT --score-thresh T --upscale S --size N`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rosetta.cli_eval import eval_images
from rosetta.data import icdar2015


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("models")
    ap.add_argument("--images", default="101-200", help="training images (ICDAR 2015 dev img_1..img_200)")
    ap.add_argument("--upscales", default="1.0,1.25,1.5")
    ap.add_argument("--thresholds", default="0.5,0.6,0.7,0.8")
    ap.add_argument("--max-size", type=int, default=1920)
    a = ap.parse_args()
    thresholds = [float(t) for t in a.thresholds.split(",")]
    numbers = icdar2015.parse_range(a.images) or set()
    icdar2015.refuse_validation(numbers, "tune_detector")
    best = None
    for up in (float(u) for u in a.upscales.split(",")):
        res = eval_images(icdar2015.folder(), numbers, False, Path(a.models), "onnx", a.max_size,
                          thresholds, up)
        row = {"upscale": up, "size": a.max_size, "s_per_image": res["s_per_image"],
               "hmean": {t: round(r["hmean"], 4) for t, r in res["thresholds"].items()}}
        print(json.dumps(row), flush=True)
        for t, h in row["hmean"].items():
            if best is None or h > best["hmean"]:
                best = {"upscale": up, "score_thresh": float(t), "hmean": h, "images": a.images}
    print(json.dumps({"best": best}))


if __name__ == "__main__":
    main()
