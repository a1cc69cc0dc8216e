"""Choose the OCR's reading settings on *training* images (never the validation ones): the detector's word-score
threshold when reading and the recognizer's confidence floor, jointly, by end-to-end hmean; optionally the crop
margins, the small-words pass (``ReadConfig.small_height`` / ``small_target``) and the dictionary bonus
(``--bonuses``, :mod:`rosetta.runtime.dictionary`) too.

    python scripts/tune_ocr.py [--models FOLDER] [--data ic15:1-200,bd:1-260] [--thresholds 0.5,0.6,0.7]
        [--floors 0,0.5,0.6,0.7,0.8] [--margins 0.16,0/0.08] [--rereads '0.08,0.24;'] [--small '20/28;24/32']

``--data``: training images of ICDAR 2015 (``ic15``, img_1..200) and of the born-digital graphics (``bd``,
img_1..260); with both, settings are ranked by the mean of their end-to-end hmeans (photos and graphics count
alike). One OCR pass per crop margin, set of re-read margins and small-words setting, with boxes down to the
lowest threshold and every word kept; each (threshold, floor) pair is then a filter on those words. Exact: rotated
NMS keeps the higher-scored of two boxes, so boxes above a threshold do not depend on the boxes below it. Prints
one JSON line per pass (e2e hmean per threshold and floor, per data set) and, last, the best. Ship the threshold
in the detector's card (``read_score_thresh``) and the floor in the recognizer's (``min_confidence``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rosetta.cli_options import margin_arg
from rosetta.config import ReadConfig
from rosetta.data.icdar2015 import DATASET, load_images, parse_range, refuse_validation
from rosetta.data.splits import BD_DATASET
from rosetta.eval import evaluate_images
from rosetta.ocr import OCR
from rosetta.train.predict import TorchDetector
from rosetta.runtime.recognizer import DecodeConfig
from rosetta.train.predict import TorchRecognizer as Recognizer

DATA = {"ic15": DATASET, "bd": BD_DATASET}


def floats(spec: str) -> list[float]:
    return [float(v) for v in spec.split(",")]


def margins(spec: str) -> list[float | tuple[float, float]]:
    """Crop margins: comma-separated, each one number for every side or ALONG/ACROSS the text (0.16,0/0.08)."""
    return [margin_arg(m) for m in spec.split(",")]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=None, help="model folder (default: the shipped models)")
    ap.add_argument("--data", default="ic15:1-200", help="comma-separated NAME:IMAGES, NAME ic15 (training images "
                    "1-200) or bd (born-digital, 1-260)")
    ap.add_argument("--thresholds", default="0.5,0.6,0.7")
    ap.add_argument("--floors", default="0,0.5,0.6,0.7,0.8")
    ap.add_argument("--margins", default="0.16", help="first-read crop margins to try, comma-separated, each one "
                    "number or ALONG/ACROSS the text (e.g. 0.16,0/0.08)")
    product = ",".join(str(m) for m in ReadConfig().reread_margins)  # what OCR() reads each box at besides
    ap.add_argument("--rereads", default=product, help="';'-separated sets of extra margins to also read each box "
                    f"at (the most confident read kept), e.g. ';0.12;0.12,0.04/0.2' ('' = read once; default {product}, "
                    "as the product reads)")
    ap.add_argument("--small", default="", help="';'-separated small-words settings HEIGHT/TARGET to try "
                    "(ReadConfig.small_height / small_target; 'off' = no small-words pass; '' = the default)")
    ap.add_argument("--engine", default="onnx")
    ap.add_argument("--bonuses", default="", help="comma-separated dictionary bonuses to try, one pass each "
                    "(DecodeConfig.dictionary_bonus; default: the recognizer card's)")
    a = ap.parse_args()
    wanted = [item.partition(":")[::2] for item in a.data.split(",")]  # (name, images)
    for name, images in wanted:  # every set's validation images refused before any is loaded
        if name not in DATA:
            raise SystemExit(f"tune_ocr: unknown data {name!r} (ic15, bd)")
        refuse_validation(parse_range(images) or set(), "tune_ocr", DATA[name])
    sets = {name: load_images(parse_range(images) or set(), dataset=DATA[name]) for name, images in wanted}
    folder = Path(a.models) if a.models else None
    thresholds, floors = floats(a.thresholds), floats(a.floors)
    det = TorchDetector.load(folder, engine=a.engine)  # ReadConfig.score_thresh below keeps its boxes down to the lowest
    bonuses = floats(a.bonuses) if a.bonuses else [None]
    recs = {b: Recognizer.load(folder, engine=a.engine, decode=DecodeConfig(dictionary_bonus=b)) for b in bonuses}
    best = None
    rereads = [tuple(margins(r)) if r else () for r in a.rereads.split(";")]
    smalls: list[dict] = []
    for spec in a.small.split(";"):
        if spec == "off":
            smalls.append({"small_words": None})
        elif spec:
            h, t = floats(spec.replace("/", ","))
            smalls.append({"small_height": h, "small_target": t})
        else:
            smalls.append({})
    for margin, reread, small, bonus in ((m, r, s, b) for m in margins(a.margins) for r in rereads for s in smalls
                                         for b in bonuses):
        rec = recs[bonus]
        ocr = OCR(ReadConfig(crop_margin=margin, reread_margins=reread, score_thresh=min(thresholds),
                             min_confidence=0.0, **small), detector=det, recognizer=rec)
        words = {name: [[{"points": w.box.polygon(), "text": w.text, "score": w.score, "conf": w.confidence}
                         for w in ocr(img, name=r["image"]).words] for img, r in zip(images, rows)]
                 for name, (rows, images) in sets.items()}
        table: dict[str, dict[str, float]] = {name: {} for name in sets}
        for t in thresholds:
            for f in floors:
                per_set = {}
                for name, (rows, _) in sets.items():
                    kept = [[w for w in ws if w["score"] >= t and w["conf"] >= f] for ws in words[name]]
                    per_set[name] = evaluate_images([r["words"] for r in rows], kept)["e2e"]["hmean"]
                    table[name][f"{t}/{f}"] = round(per_set[name], 4)
                mean = sum(per_set.values()) / len(per_set)
                if best is None or mean > best["e2e_hmean"]:
                    best = {"margin": margin, "reread_margins": reread, **small,
                            "dictionary_bonus": rec.dictionary_bonus, "score_thresh": t,
                            "min_confidence": f, "e2e_hmean": round(mean, 4),
                            "per_set": {k: round(v, 4) for k, v in per_set.items()}, "data": a.data}
        print(json.dumps({"margin": margin, "reread_margins": reread, **small, "dictionary_bonus": rec.dictionary_bonus,
                          "e2e_hmean (threshold/floor)": table}), flush=True)
    print(json.dumps({"best": best}))


if __name__ == "__main__":
    main()
