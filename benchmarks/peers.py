"""Rosetta beside its peers on the same images: detection hmean, end-to-end hmean, s/image at 1 thread, peak RSS.

    pip install 'rosetta-ocr[peers]'; apt-get install tesseract-ocr   # the peers
    python benchmarks/peers.py [--images 201-250] [--systems rosetta,rosetta-int8,rapidocr,tesseract]

Each system runs in its own process (so peak RSS is its own) at one thread, over ICDAR 2015 dev
images, scored word by word with the ICDAR 2015 protocol (rosetta.eval). RapidOCR (PP-OCRv4 on ONNX
Runtime) finds text lines; its per-character boxes (``return_word_box``) split each line into words.
Tesseract (LSTM, English) gives word boxes in its TSV output.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def _images(spec: str) -> list[tuple[Path, list[dict]]]:
    from rosetta.data.splits import data_root

    a, b = (int(x) for x in spec.split("-"))
    folder = data_root() / "icdar2015_dev"
    rows = {r["image"]: r for r in (json.loads(line) for line in (folder / "gt.jsonl").read_text().splitlines() if line)}
    return [(folder / f"images/img_{i}.jpg", rows[f"images/img_{i}.jpg"]["words"]) for i in range(a, b + 1)]


def _rosetta(int8: bool = False):
    from rosetta import OCR
    from rosetta.eval import scored_words

    ocr = OCR(threads=1, int8=int8)
    return lambda p: scored_words(ocr(str(p)))


def _split_line(quad, text: str, char_boxes) -> list[dict]:
    q = np.float32(quad)
    words = text.split()
    if len(words) <= 1 or not char_boxes:
        return [{"points": q.tolist(), "text": text.strip()}] if text.strip() else []
    u = q[1] - q[0]
    length = float(np.hypot(*u)) or 1.0
    u = u / length
    chars = [c for c in text if not c.isspace()]
    if len(char_boxes) != len(chars):
        return [{"points": q.tolist(), "text": text.strip()}]
    out, k = [], 0
    for w in words:
        bs = np.float32(char_boxes[k:k + len(w)]).reshape(-1, 2)
        k += len(w)
        t = (bs - q[0]) @ u
        t0, t1 = max(0.0, float(t.min()) / length), min(1.0, float(t.max()) / length)
        top = [q[0] + (q[1] - q[0]) * t0, q[0] + (q[1] - q[0]) * t1]
        bottom = [q[3] + (q[2] - q[3]) * t1, q[3] + (q[2] - q[3]) * t0]
        out.append({"points": [p.tolist() for p in (*top, *bottom)], "text": w})
    return out


def _rapidocr():
    from rapidocr_onnxruntime import RapidOCR

    eng = RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1)

    def run(p):
        res, _ = eng(str(p), return_word_box=True)
        out = []
        for item in res or []:
            quad, text = item[0], item[1]
            boxes = item[3] if len(item) > 3 else None
            out += _split_line(quad, text, boxes)
        return out
    return run


def _tesseract():
    def run(p):
        tsv = subprocess.run(["tesseract", str(p), "-", "--psm", "11", "-l", "eng", "tsv"], capture_output=True,
                             text=True, env={**os.environ, "OMP_THREAD_LIMIT": "1"}).stdout
        out = []
        for line in tsv.splitlines()[1:]:
            f = line.split("\t")
            if len(f) < 12 or f[0] != "5" or not f[11].strip():
                continue
            x, y, w, h = (int(v) for v in f[6:10])
            out.append({"points": [[x, y], [x + w, y], [x + w, y + h], [x, y + h]], "text": f[11].strip()})
        return out
    return run


SYSTEMS = {"rosetta": _rosetta, "rosetta-int8": lambda: _rosetta(int8=True), "rapidocr": _rapidocr,
           "tesseract": _tesseract}


def run_one(system: str, spec: str) -> dict:
    os.environ["OMP_NUM_THREADS"] = "1"
    from rosetta.eval import evaluate_images

    items = _images(spec)
    fn = SYSTEMS[system]()
    fn(items[0][0])  # warm up (model load, first-run allocations)
    gts, dets = [], []
    t = time.perf_counter()
    for path, gt in items:
        dets.append(fn(path))
        gts.append(gt)
    dt = time.perf_counter() - t
    res = evaluate_images(gts, dets)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if system == "tesseract":
        rss = max(rss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return {"system": system, "images": len(items), "det_hmean": round(res["det"]["hmean"], 4),
            "e2e_hmean": round(res["e2e"]["hmean"], 4), "e2e_precision": round(res["e2e"]["precision"], 4),
            "e2e_recall": round(res["e2e"]["recall"], 4), "s_per_image": round(dt / len(items), 3),
            "peak_rss_mb": round(rss / 1024, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", default="201-250")
    ap.add_argument("--systems", default="rosetta,rosetta-int8,rapidocr,tesseract")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(run_one(a.one, a.images)))
        return
    rows = []
    for s in a.systems.split(","):
        p = subprocess.run([sys.executable, __file__, "--one", s, "--images", a.images], capture_output=True, text=True)
        if p.returncode != 0:
            rows.append({"system": s, "error": p.stderr.strip().splitlines()[-1] if p.stderr.strip() else "failed"})
        else:
            rows.append(json.loads(p.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    print("\n| system | det hmean | e2e hmean | s/image (1 thread) | peak RSS MB |\n|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['system']} | error: {r['error']} | | | |")
        else:
            print(f"| {r['system']} | {r['det_hmean']:.3f} | {r['e2e_hmean']:.3f} | {r['s_per_image']:.3f} | {r['peak_rss_mb']:.0f} |")


if __name__ == "__main__":
    main()
