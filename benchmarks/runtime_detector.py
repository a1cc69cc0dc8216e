"""The detector runtime (ONNX Runtime + NumPy, no PyTorch) against today's engines: speed, equal boxes, memory.

    python benchmarks/runtime_detector.py compare [--first 201 --last 250]   # s/image interleaved, equal boxes
    python benchmarks/runtime_detector.py memory --arena off|on [--pattern on|off]   # peak RSS, mixed sizes (no torch)
    python benchmarks/runtime_detector.py e2e [--int8]                        # end-to-end, the runtime's detector swapped in

``compare``: on ICDAR 2015 img_FIRST..LAST at one thread, each image through the runtime and through
``rosetta.train.predict.TorchDetector.load(engine=...)`` in turn (fp32: "onnx", int8: "int8"; the order alternates
per image), so both see the same machine load; also the PyTorch path ("torch") for the equality count. Prints one
JSON line per engine pair. ``memory``: the runtime alone in this process (no PyTorch imported) over the same
photos at five scales and two crops (so nearly every call has a new shape), ONNX Runtime's CPU memory arena on or
off; peak RSS (ru_maxrss). ``e2e``: ``rosetta.OCR`` with its detector replaced by the runtime's (same settings).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def photos(first: int, last: int) -> list[np.ndarray]:
    from rosetta.data.splits import data_root
    from rosetta.io import load_image

    folder = data_root() / "icdar2015_dev" / "images"
    return [load_image(folder / f"img_{i}.jpg") for i in range(first, last + 1)]


def machine() -> dict:
    return {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
            "AMD EPYC Zen 1 (AVX2+FMA, no AVX-512/VNNI), shared with a training run", "threads": 1}


def compare(first: int, last: int) -> None:
    import torch

    from rosetta.runtime.detector import Detector
    from rosetta.train.predict import TorchDetector
    from test_runtime_detector import match

    torch.set_num_threads(1)
    images = photos(first, last)
    for int8, engine in ((False, "onnx"), (True, "int8")):
        run, ref = Detector.load(int8=int8, threads=1), TorchDetector.load(engine=engine)
        run(images[:1]), ref(images[:1])  # warm: sessions built, first-call allocations
        t_run = t_ref = 0.0
        identical = matched = same_count = boxes = boxes_matched = 0
        for i, im in enumerate(images):
            order = ((run, "run"), (ref, "ref")) if i % 2 == 0 else ((ref, "ref"), (run, "run"))
            got = {}
            for det, key in order:
                t0 = time.perf_counter()
                got[key] = det([im])[0]
                dt = time.perf_counter() - t0
                if key == "run":
                    t_run += dt
                else:
                    t_ref += dt
            (a, sa), (b, sb) = got["ref"], got["run"]
            identical += int(a.shape == b.shape and np.array_equal(a, b) and np.array_equal(sa, sb))
            m = match(a, sa, b, sb, 0.5, 0.5, 1e-3)
            same_count += int(len(a) == len(b))
            matched += int(len(a) == len(b) and m == len(a))
            boxes, boxes_matched = boxes + len(a), boxes_matched + m
        row = {**machine(), "images": f"ic15 img_{first}..{last}", "runtime": "int8" if int8 else "fp32",
               "versus": f"TorchDetector.load(engine={engine!r})", "s_per_image_runtime": round(t_run / len(images), 4),
               f"s_per_image_{engine}": round(t_ref / len(images), 4), "ratio_runtime_over_engine": round(t_run / t_ref, 3),
               "images_identical": identical, "images_same_boxes_0.5px": matched, "images_same_count": same_count,
               "boxes": boxes, "boxes_matched_0.5px": boxes_matched}
        if not int8:  # the PyTorch path, the tests' reference
            ref = TorchDetector.load(engine="torch")
            same = 0
            for im in images:
                (a, sa), (b, sb) = ref([im])[0], run([im])[0]
                same += int(len(a) == len(b) and match(a, sa, b, sb, 0.5, 0.5, 1e-3) == len(a))
            row["images_same_boxes_0.5px_as_torch"] = same
        print(json.dumps(row), flush=True)


def memory(first: int, last: int, arena: bool, pattern: bool) -> None:
    import cv2

    from rosetta.runtime import detector as runtime_detector
    from rosetta.runtime.detector import Detector

    runtime_detector.MEMORY.update(mem_arena=arena, mem_pattern=pattern)  # read when a session is made

    det = Detector.load(threads=1)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    from rosetta.data.splits import data_root
    from rosetta.io import load_image

    folder = data_root() / "icdar2015_dev" / "images"
    t0 = time.perf_counter()
    words, trace, shapes = 0, [], set()
    for i in range(first, last + 1):  # one photo in memory at a time: the peak is the detector's
        im = load_image(folder / f"img_{i}.jpg")
        s = (0.5, 0.75, 1.0, 1.5, 2.0)[i % 5]
        v = cv2.resize(im, None, fx=s, fy=s, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
        if i % 7 == 3:
            v = np.ascontiguousarray(v[:, : v.shape[1] // 2])  # portrait
        shapes.add(v.shape)
        words += len(det([v])[0][0])
        del im, v
        trace.append(round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
    dt = time.perf_counter() - t0
    assert "torch" not in sys.modules
    print(json.dumps({**machine(), "images": f"ic15 img_{first}..{last} at 5 scales and 2 crops", "arena": arena,
                      "mem_pattern": pattern, "peak_rss_mb_after_load": round(base),
                      "peak_rss_mb_after_10_25": [trace[min(9, len(trace) - 1)], trace[min(24, len(trace) - 1)]], "peak_rss_mb": round(resource.getrusage(
                          resource.RUSAGE_SELF).ru_maxrss / 1024), "s_per_image": round(dt / len(trace), 4),
                      "words": words, "shapes": len(shapes)}), flush=True)


def e2e(first: int, last: int, int8: bool) -> None:
    import torch

    import rosetta.ocr
    from rosetta.eval import evaluate_images, scored_words
    from rosetta.runtime.detector import Detector

    torch.set_num_threads(1)

    class AsOCRDetector(Detector):  # what rosetta.OCR loads, until it loads the runtime's itself
        @classmethod
        def load(cls, folder=None, engine="onnx", **kw):
            d = Detector.load(folder, int8=engine == "int8", threads=1)
            return cls(d.network, d.config, d.meta)

    gt = {}
    from rosetta.data.splits import data_root

    with open(data_root() / "icdar2015_dev" / "gt.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            gt[Path(row["image"]).name] = row["words"]
    gts = [gt[f"img_{i}.jpg"] for i in range(first, last + 1)]
    images = photos(first, last)
    out = {**machine(), "images": f"ic15 img_{first}..{last}", "int8": int8}
    for name in ("engine", "runtime"):
        if name == "runtime":
            rosetta.ocr.Detector = AsOCRDetector
        ocr = rosetta.ocr.OCR(int8=int8, threads=1)
        r = evaluate_images(gts, [scored_words(ocr(im)) for im in images])
        out[name] = {"det_hmean": round(r["det"]["hmean"], 4), "e2e_hmean": round(r["e2e"]["hmean"], 4)}
    print(json.dumps(out), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=("compare", "memory", "e2e"))
    ap.add_argument("--first", type=int, default=201)
    ap.add_argument("--last", type=int, default=250)
    ap.add_argument("--arena", choices=("on", "off"), default="off")
    ap.add_argument("--pattern", choices=("on", "off"), default="on", help="ONNX Runtime's memory patterns")
    ap.add_argument("--int8", action="store_true")
    a = ap.parse_args()
    if a.what == "compare":
        compare(a.first, a.last)
    elif a.what == "memory":
        memory(a.first, a.last, a.arena == "on", a.pattern == "on")
    else:
        e2e(a.first, a.last, a.int8)


if __name__ == "__main__":
    main()
