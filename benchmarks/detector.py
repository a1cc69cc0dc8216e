"""Detector speed and memory: ms per 1280x720 image at 1 thread, fp32, eager PyTorch and ONNX Runtime; peak RSS.

    python benchmarks/detector.py [--images 10] [--size N]

The shipped detector runs with its own settings (its card's image scale and size cap: 1280x720 images
are seen at 1600x900 by the step-12818 model); --size N sees them at N instead.

Images are ICDAR 2015 validation photos (1280x720) when ../shared/data is present, else synthetic
1280x720 scenes. Peak RSS is the process maximum after loading the model and running every image.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time

import numpy as np
import torch


def images(n: int) -> tuple[list[np.ndarray], str]:
    from rosetta.data.splits import data_root
    from rosetta.io import load_image

    folder = data_root() / "icdar2015_dev" / "images"
    if folder.exists():
        return [load_image(folder / f"img_{i}.jpg") for i in range(201, 201 + n)], "icdar2015_dev img_201.."
    from rosetta.synth.scenes import SceneSynth, SceneSynthConfig

    g = SceneSynth.create(SceneSynthConfig(seed=5, size=(1280, 720)))
    return [np.asarray(g.sample(i).image.convert("RGB")) for i in range(n)], "synthetic 1280x720"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=10)
    ap.add_argument("--size", type=int, default=None, help="long side the network sees (default: the model's)")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    from rosetta.train.predict import TorchDetector

    imgs, source = images(a.images)
    out = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
           "threads": a.threads, "source": source, "images": len(imgs), "image_size": "1280x720"}
    for engine in ("torch", "onnx"):
        det = TorchDetector.load(engine=engine)
        if a.size:
            det = det.with_config(size=a.size, min_size=a.size, upscale=1.0)
        net = int(min(det.config.size, max(det.config.min_size, round(1280 * det.config.upscale))))
        out["network_long_side"] = net
        det(imgs[:1])  # warm up
        t = time.perf_counter()
        n_boxes = sum(len(b) for b, _ in det(imgs))
        dt = time.perf_counter() - t
        x = torch.zeros(1, 3, (net * 9 // 16 + 31) // 32 * 32, net)
        features = det.model.features_engine or det.model.features  # the engine's trunk + neck (+ RPN head in ONNX)
        with torch.inference_mode():
            features(x)
            t = time.perf_counter()
            for _ in range(3):
                features(x)
            trunk = (time.perf_counter() - t) / 3
        out.update({f"{engine}_ms_per_image": round(1000 * dt / len(imgs), 1),
                    f"{engine}_trunk_neck_ms": round(1000 * trunk, 1), "boxes_per_image": round(n_boxes / len(imgs), 1)})
    out.update({"model": det.meta.get("version"), "model_step": det.meta.get("step"),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
