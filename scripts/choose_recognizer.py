"""Score candidate recognizers on every validation set, beside the shipped one, and say which may replace it.

A candidate replaces the shipped recognizer only where it reads better on every clean validation set (docs/RESULTS.md,
"Recognizer"): ICDAR 2015 photo words img_1..200, VinText val, Arabic lines val (CER), synthetic Cyrillic. IIIT5K
and IC15-crop val are printed too, for information (the shipped model trained on most of them).

Candidates are model folders (``--models``) or blends of a training checkpoint with the model its run started from
(``--blend CKPT --alphas 0.5,0.7``: :mod:`rosetta.train.blend`, packaged into ``--work``), each also at the
dictionary bonuses ``--bonuses`` (:mod:`rosetta.runtime.dictionary`; the shipped model too)::

    python scripts/choose_recognizer.py --blend runs/rec5/last.pt --alphas 0.5,0.7,1 --out docs/results/rec_choice.jsonl

Each set's crops are loaded once; every model reads them with the runtime (ONNX Runtime, one thread), the product's
decoding. ``ms`` is the mean per crop over all sets (host load moves it: compare within one run).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from rosetta.cli_eval import score_recognizer, synthetic_val
from rosetta.runtime.recognizer import DecodeConfig, Recognizer
from rosetta.train.recognizer import validation_sets as real_validation_sets

# ic15_photo_val: the words of ICDAR 2015 img_1..200 (the older rows of rec_choice.jsonl call it photo_1_200)
CLEAN = {"ic15_photo_val": "word_acc", "vintext_val": "word_acc", "arabic_val": "cer", "cyrillic_synth": "word_acc"}
INFO = ("iiit5k_val", "ic15_val")


def validation_sets() -> dict[str, tuple[list, list[str]]]:
    """name -> (crops, texts) of every validation set: the trainer's, whole, and the synthetic Cyrillic one."""
    out = {k: (c.images, c.texts) for k, c in real_validation_sets().items()}
    out["cyrillic_synth"] = synthetic_val("cyrillic")
    return out


def blend_models(checkpoint: Path, alphas: list[float], work: Path) -> list[Path]:
    """One packaged model folder (weights and ONNX graph) per blend of ``checkpoint``."""
    folders = []
    for a in alphas:
        folder = work / f"blend_{a:g}"
        ck = work / f"blend_{a:g}.pt"
        for cmd in ([sys.executable, "-m", "rosetta", "models", "blend", str(checkpoint), "--alpha", str(a), "--out", str(ck)],
                    [sys.executable, "-m", "rosetta", "models", "package", "recognizer", str(ck), "--out", str(folder),
                     "--min-confidence", "0.85"],
                    [sys.executable, "-m", "rosetta.graphs.recognizer", str(folder)]):
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        ck.unlink()
        folders.append(folder)
    return folders


def score(folder: Path | None, sets: dict, bonus: float | None = None) -> dict:
    rec = Recognizer.load(folder, decode=DecodeConfig(dictionary_bonus=bonus))
    row: dict = {"model": str(folder or "shipped"), "version": rec.meta.get("version"),
                 "weights": rec.meta.get("weights"), "dictionary_bonus": rec.dictionary_bonus}
    n = dt = 0.0
    for name, (images, texts) in sets.items():
        t = time.perf_counter()
        s = score_recognizer(rec, images, texts)
        dt += time.perf_counter() - t
        n += len(texts)
        row[name] = s["cer"] if name == "arabic_val" else s["word_acc"]
    row["ms"] = round(1000 * dt / n, 2)
    return row


def beats(row: dict, ref: dict) -> bool:
    """Better than ``ref`` on every clean set (lower CER, higher accuracy)."""
    return all(row[k] < ref[k] if m == "cer" else row[k] > ref[k] for k, m in CLEAN.items())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="*", default=[], help="candidate model folders")
    ap.add_argument("--blend", default=None, help="a recognizer training checkpoint to blend")
    ap.add_argument("--alphas", default="0.5,0.7,1", help="blend weights of the checkpoint (0 = its start model)")
    ap.add_argument("--bonuses", default=None,
                    help="dictionary bonuses to score each candidate at, e.g. 0,2,3 (default: each model card's)")
    ap.add_argument("--work", default="/tmp/rosetta_choose", help="where blends are packaged")
    ap.add_argument("--out", default=None, help="append the rows (JSON lines) here")
    args = ap.parse_args(argv)
    candidates = [Path(m) for m in args.models]
    if args.blend:
        work = Path(args.work)
        work.mkdir(parents=True, exist_ok=True)
        candidates += blend_models(Path(args.blend), [float(a) for a in args.alphas.split(",")], work)
    sets = validation_sets()
    bonuses = [float(b) for b in args.bonuses.split(",")] if args.bonuses else [None]
    rows = [score(None, sets)]  # the shipped recognizer as shipped: the reference
    rows += [score(c, sets, b) for c in [None, *candidates] for b in bonuses if (c, b) != (None, None)]
    cols = list(CLEAN) + list(INFO) + ["ms"]
    print("| model | dictionary bonus | " + " | ".join(cols) + " | beats shipped |")
    print("|---" * (len(cols) + 3) + "|")
    stamp = time.strftime("%Y-%m-%d %H:%M")
    for r in rows:
        r["beats_shipped"] = r is not rows[0] and beats(r, rows[0])
        r["date"] = stamp
        print(f"| {r['model']} | {r['dictionary_bonus']:g} | " + " | ".join(f"{r[c]:.4f}" if c != "ms" else f"{r[c]}" for c in cols)
              + f" | {'yes' if r['beats_shipped'] else '-'} |")
    if args.out:
        with open(args.out, "a", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
