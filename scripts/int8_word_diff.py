"""Why an int8 detector loses e2e words: each cared word classed under the fp32 and the int8 detector.

Both detectors feed the fp32 recognizer with no confidence floor; each cared ground-truth word is then

* ``OK``: matched by a box (IoU > 0.5, the protocol's greedy matching) read right at or above the floor,
* ``F``: read right but under the recognizer card's confidence floor (the OCR would drop it),
* ``R``: matched but misread,
* ``D``: no box,

and the script counts the transitions fp32 -> int8 over the clean images and ``--draws - 1`` paired draws of
+-1 grey-level noise, plus the false positives over the floor, and lists the words that changed. A diagnosis: it
may run on the validation images, but nothing is to be chosen by it.

    python scripts/int8_word_diff.py --images 201-250 --draws 4 [INT8_MODEL_FOLDER]
"""

from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path


def classify(gt: list[dict], words: list, floor: float) -> tuple[dict[int, tuple], int]:
    """(class, confidence, text) per cared word index, and the unmatched kept words over ``floor``
    (matched as the protocol matches: :func:`rosetta.eval.match_pairs`)."""
    from rosetta.eval import e2e_form, match_pairs

    care, kept, pairs = match_pairs(gt, [{"points": w.box.polygon()} for w in words])
    out: dict[int, tuple] = {i: ("D", None, None) for i in care}
    for i, j in pairs:
        w = words[j]
        right = e2e_form(gt[i]["text"]) == e2e_form(w.text)
        out[i] = ("OK" if right and w.confidence >= floor else "F" if right else "R", round(w.confidence, 3), w.text)
    matched = {j for _, j in pairs}
    return out, sum(1 for j in kept if j not in matched and words[j].confidence >= floor)


def main() -> None:
    import torch

    from rosetta.cli_eval import parse_range, ic15_rows
    from rosetta.detection.detector import Detector
    from rosetta.eval import noisy_copies
    from rosetta.ocr import OCR
    from rosetta.train.predict import TorchRecognizer as Recognizer

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", nargs="?", default=None, help="model folder of the int8 detector (default: shipped)")
    ap.add_argument("--images", default="201-250", help="ICDAR 2015 dev image numbers")
    ap.add_argument("--draws", type=int, default=4, help="the clean images, then draws - 1 noisy copies")
    a = ap.parse_args()
    torch.set_num_threads(1)
    rows, images = ic15_rows(parse_range(a.images))  # validation images allowed: it measures, chooses nothing
    rec = Recognizer.load(engine="onnx")
    floor = float(rec.meta.get("min_confidence", 0.0))
    engines = {"fp32": OCR(Detector.load(engine="onnx"), rec, threads=1, min_confidence=0.0),
               "int8": OCR(Detector.load(Path(a.folder) if a.folder else None, engine="int8"), rec, threads=1,
                           min_confidence=0.0)}
    moves: collections.Counter = collections.Counter()
    false_pos: collections.Counter = collections.Counter()
    changed = []
    for seed in range(a.draws):
        batch = noisy_copies(images, seed) if seed else images
        for im, r in zip(batch, rows):
            res = {name: classify(r["words"], ocr(im).words, floor) for name, ocr in engines.items()}
            for name in engines:
                false_pos[name] += res[name][1]
            for i, before in res["fp32"][0].items():
                after = res["int8"][0][i]
                moves[f"{before[0]}->{after[0]}"] += 1
                if (before[0] == "OK") != (after[0] == "OK"):
                    changed.append({"draw": seed, "image": r["image"], "word": r["words"][i]["text"],
                                    "fp32": before, "int8": after})
    print(json.dumps({"images": len(rows), "draws": a.draws, "floor": floor, "transitions": dict(sorted(moves.items())),
                      "false_positives": dict(false_pos), "changed": changed}, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
