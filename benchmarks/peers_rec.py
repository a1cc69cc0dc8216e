"""Rosetta's recognizer beside RapidOCR 1.4's and rapidocr 3.x's on the same real word crops: word accuracy
(case-insensitive, letters and digits only: :func:`rosetta.metrics.text_scores`) and ms per crop at one thread.

    python benchmarks/peers_rec.py [--data iiit5k_train,icdar2015_wordrec_train,vintext_rec_train]
                                   [--systems rosetta,rapidocr,rapidocr3] [--model PATH] [--engine onnx|torch|int8]
                                   [--out docs/results]

The crops are each data set's validation split as :func:`rosetta.data.splits.crop_split` defines it (so a new
split is picked up by itself); a data set without a validation split is reported as such. ``--model``: another
recognizer instead of the shipped one: a model folder (``recognizer.safetensors`` + ``recognizer.json``), such a
``.safetensors`` file, or a training checkpoint (``.pt``, packaged on the fly with its weight average, as
``rosetta models package`` does).

Each peer reads every crop as its own pipeline reads a line crop (``benchmarks/rapidocr_worker.py``: turned 90
degrees when at least 1.5x taller than wide, no direction classifier); rapidocr 3.x runs from its own venv
(``--rapidocr3-python``). Rosetta reads the crops as ``rosetta read --crops`` does (the image file as it is).
The systems run one after the other on a host shared with other work: compare accuracy freely, times only
within one run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

log = logging.getLogger("peers_rec")

DATASETS = "iiit5k_train,icdar2015_wordrec_train,vintext_rec_train"
RAPIDOCR3_PYTHON = "/work/venvs/rapidocr3/bin/python"
WORKER = Path(__file__).with_name("rapidocr_worker.py")
NAMES = {"rosetta": "Rosetta", "rapidocr": "RapidOCR 1.4.4 (PP-OCRv4 mobile)",
         "rapidocr3": "rapidocr 3.10 (PP-OCRv6 small)"}


def load_recognizer(model: str | None, engine: str, tmp: Path):
    """The shipped recognizer, or the one at ``model`` (folder, ``.safetensors`` or ``.pt`` checkpoint)."""
    from rosetta.train.predict import TorchRecognizer as Recognizer

    if model is None:
        return Recognizer.load(None, engine=engine)
    path = Path(model)
    if path.is_dir():
        return Recognizer.load(path, engine=engine)
    if path.suffix == ".safetensors":
        if path.name != "recognizer.safetensors" or not path.with_suffix(".json").exists():
            raise SystemExit(f"peers_rec: {path}: a model file must be recognizer.safetensors with its recognizer.json")
        return Recognizer.load(path.parent, engine=engine)
    if path.suffix == ".pt":
        from rosetta.models import package

        package("recognizer", path, folder=tmp)
        return Recognizer.load(tmp, engine=engine)
    raise SystemExit(f"peers_rec: {path}: not a model folder, .safetensors file or .pt checkpoint")


def photo_pairs(spec: str, tmp: Path) -> list[tuple[Path, str]]:
    """``icdar2015_dev:201-250``: the ground-truth words of those photos (no recognizer here trained on them), cut
    out in colour at the photo's resolution and written as PNG files for every system to read alike."""
    import cv2

    from rosetta.cli_eval import parse_range
    from rosetta.data.crops import photo_word_crops

    name, numbers = spec.split(":", 1)
    crops = photo_word_crops(name, parse_range(numbers) or set(), height=None)
    out = []
    for i, (im, text) in enumerate(zip(crops.images, crops.texts)):
        path = tmp / f"{name}_{i:05d}.png"
        cv2.imwrite(str(path), np.ascontiguousarray(im[..., ::-1]))
        out.append((path, text))
    return out


def run_rosetta(paths: list[Path], rec) -> tuple[list[str], float]:
    from rosetta.io import load_image

    images = [load_image(p) for p in paths]
    rec(images[:1])  # warm up
    t = time.perf_counter()
    preds = [text for text, _ in rec(images)]
    return preds, time.perf_counter() - t


def run_peer(paths: list[Path], python: str) -> tuple[list[str], float]:
    req = json.dumps({"mode": "rec", "paths": [str(p) for p in paths]})
    p = subprocess.run([python, str(WORKER)], input=req, capture_output=True, text=True,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    if p.returncode != 0:
        raise SystemExit(f"peers_rec: {python} {WORKER.name} failed: {p.stderr.strip()[-2000:]}")
    ans = json.loads(p.stdout)
    return ans["results"], ans["seconds"]


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DATASETS, help="comma-separated crop data sets (their 'val' split), or photos' "
                    "ground-truth words as NAME:RANGE, e.g. icdar2015_dev:201-250")
    ap.add_argument("--systems", default="rosetta,rapidocr,rapidocr3")
    ap.add_argument("--model", default=None, help="Rosetta recognizer: model folder, .safetensors or .pt checkpoint")
    ap.add_argument("--engine", choices=["onnx", "torch", "int8"], default="onnx", help="Rosetta's engine")
    ap.add_argument("--rapidocr3-python", default=RAPIDOCR3_PYTHON)
    ap.add_argument("--limit", type=int, default=None, help="only the first N crops of each set (a quick check)")
    ap.add_argument("--out", default=None, help="folder for bench_peers_rec.jsonl (appended)")
    a = ap.parse_args()

    import torch

    from rosetta.data.splits import crop_split
    from rosetta.metrics import text_scores

    torch.set_num_threads(1)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    systems = a.systems.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        rec = load_recognizer(a.model, a.engine, Path(tmp)) if "rosetta" in systems else None
        version = rec.meta.get("version") if rec is not None else None
        rows = []
        for ds in a.data.split(","):
            pairs = photo_pairs(ds, Path(tmp)) if ":" in ds else crop_split(ds, "val")[:a.limit]
            if not pairs:
                rows.append({"data": ds, "error": "no validation split defined (rosetta.data.splits)"})
                log.info(json.dumps(rows[-1]))
                continue
            paths, texts = [p for p, _ in pairs], [t for _, t in pairs]
            for s in systems:
                if s == "rosetta":
                    preds, dt = run_rosetta(paths, rec)
                elif s in ("rapidocr", "rapidocr3"):
                    preds, dt = run_peer(paths, sys.executable if s == "rapidocr" else a.rapidocr3_python)
                else:
                    raise SystemExit(f"peers_rec: unknown system {s!r}")
                sc = text_scores(preds, texts)
                row = {"data": ds, "split": "val", "system": s, "n": sc["n"], "word_acc": round(sc["word_acc"], 4),
                       "cer": round(sc["cer"], 4), "ms_per_crop": round(1000 * dt / len(paths), 2), "date": stamp}
                if s == "rosetta":
                    row.update(model=a.model or "shipped", version=version, engine=a.engine)
                rows.append(row)
                log.info(json.dumps(row, ensure_ascii=False))
        if a.out:
            with open(Path(a.out) / "bench_peers_rec.jsonl", "a", encoding="utf-8") as fh:
                fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    print("\n| validation set | system | crops | word accuracy | CER | ms/crop (1 thread) |\n|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['data']} | - | - | {r['error']} | | |")
        else:
            name = f"Rosetta ({r['model']}, {r['version']}, {r['engine']})" if r["system"] == "rosetta" else NAMES[r["system"]]
            print(f"| {r['data']} | {name} | {r['n']} | {r['word_acc']:.3f} | "
                  f"{r['cer']:.3f} | {r['ms_per_crop']:.1f} |")


if __name__ == "__main__":
    main()
