"""Which boxes need reading again: e2e hmean and reading time when only boxes whose first read is less sure
than a threshold are re-read (``OCRConfig.reread_below``), fp32 and int8, on training images (validation
images are refused). Each engine detects once per image (and noise draw); every setting reads the same boxes.

    python scripts/tune_reread.py --images 1-200 --thresholds none,0.99,0.98,0.95,0.9 --draws 2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time


def main() -> None:
    import torch

    from rosetta.cli_eval import ic15_training_rows
    from rosetta.eval import evaluate_images, noisy_copies, scored_words
    from rosetta.ocr import OCR

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", default="1-200")
    ap.add_argument("--thresholds", default="none,0.99,0.98,0.95,0.9")
    ap.add_argument("--draws", type=int, default=1, help="the clean images, then draws - 1 noisy copies")
    ap.add_argument("--engines", default="fp32,int8")
    a = ap.parse_args()
    torch.set_num_threads(1)
    rows, images = ic15_training_rows(a.images, "tune_reread")
    gts = [r["words"] for r in rows]
    settings = [None if t == "none" else float(t) for t in a.thresholds.split(",")]
    for engine in a.engines.split(","):
        ocr = OCR(threads=1, int8=engine == "int8")
        base = ocr.config
        for draw in range(a.draws):
            batch = noisy_copies(images, draw) if draw else images
            found = [ocr.detector([im])[0] for im in batch]  # at the threshold words are read at
            for below in settings:
                ocr.config = dataclasses.replace(base, reread_below=below)
                t = time.perf_counter()
                words = [scored_words(ocr.read_boxes(im, b, s)) for im, (b, s) in zip(batch, found)]
                ms = 1000 * (time.perf_counter() - t) / len(batch)
                res = evaluate_images(gts, words)["e2e"]
                print(json.dumps({"engine": engine, "draw": draw, "reread_below": below, "e2e_hmean": round(res["hmean"], 4),
                                  "precision": round(res["precision"], 4), "recall": round(res["recall"], 4),
                                  "read_ms": round(ms, 1)}), flush=True)


if __name__ == "__main__":
    main()
