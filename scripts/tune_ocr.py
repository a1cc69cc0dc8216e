"""Choose the OCR's reading settings on *training* images (never the validation ones): the detector's word-score
threshold when reading and the recognizer's confidence floor, jointly, by end-to-end hmean.

    python scripts/tune_ocr.py [--models FOLDER] [--images 1-200] [--thresholds 0.5,0.6,0.7]
        [--floors 0,0.5,0.6,0.7,0.8] [--margins 0.16] [--rereads ';0.12']

One OCR pass per crop margin and set of re-read margins, with boxes down to the lowest threshold and every word kept; each
(threshold, floor) pair is then a filter on those words. Exact: rotated NMS keeps the higher-scored of two
boxes, so boxes above a threshold do not depend on the boxes below it. Prints one JSON line per margin (e2e
hmean per threshold and floor) and, last, the best triple. Ship the threshold in the detector's card
(``read_score_thresh``) and the floor in the recognizer's (``min_confidence``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rosetta.config import ReadConfig
from rosetta.data.icdar2015 import training_images
from rosetta.eval import evaluate_images
from rosetta.ocr import OCR
from rosetta.train.predict import TorchDetector
from rosetta.train.predict import TorchRecognizer as Recognizer


def floats(spec: str) -> list[float]:
    return [float(v) for v in spec.split(",")]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=None, help="model folder (default: the shipped models)")
    ap.add_argument("--images", default="1-200", help="training images (ICDAR 2015 dev img_1..img_200)")
    ap.add_argument("--thresholds", default="0.5,0.6,0.7")
    ap.add_argument("--floors", default="0,0.5,0.6,0.7,0.8")
    ap.add_argument("--margins", default="0.16")
    ap.add_argument("--rereads", default="", help="';'-separated sets of extra margins to also read each box "
                    "at (the most confident read kept), e.g. ';0.12;0.12,0.20' ('' = read once)")
    ap.add_argument("--engine", default="onnx")
    a = ap.parse_args()
    rows, images = training_images(a.images, "tune_ocr")
    folder = Path(a.models) if a.models else None
    thresholds, floors = floats(a.thresholds), floats(a.floors)
    det = TorchDetector.load(folder, engine=a.engine)  # ReadConfig.score_thresh below keeps its boxes down to the lowest
    rec = Recognizer.load(folder, engine=a.engine)
    gts = [r["words"] for r in rows]
    best = None
    rereads = [tuple(floats(r)) if r else () for r in a.rereads.split(";")]
    for margin, reread in ((m, r) for m in floats(a.margins) for r in rereads):
        ocr = OCR(ReadConfig(crop_margin=margin, reread_margins=reread, score_thresh=min(thresholds),
                             min_confidence=0.0), detector=det, recognizer=rec)
        words = [[{"points": w.box.polygon(), "text": w.text, "score": w.score, "conf": w.confidence}
                  for w in ocr(img, name=r["image"]).words] for img, r in zip(images, rows)]
        table = {}
        for t in thresholds:
            for f in floors:
                kept = [[w for w in ws if w["score"] >= t and w["conf"] >= f] for ws in words]
                e2e = evaluate_images(gts, kept)["e2e"]
                table[f"{t}/{f}"] = round(e2e["hmean"], 4)
                if best is None or e2e["hmean"] > best["e2e_hmean"]:
                    best = {"margin": margin, "reread_margins": reread, "score_thresh": t, "min_confidence": f, "e2e_hmean": round(e2e["hmean"], 4),
                            "precision": round(e2e["precision"], 4), "recall": round(e2e["recall"], 4), "images": a.images}
        print(json.dumps({"margin": margin, "reread_margins": reread, "e2e_hmean (threshold/floor)": table}), flush=True)
    print(json.dumps({"best": best}))


if __name__ == "__main__":
    main()
