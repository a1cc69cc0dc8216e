"""``rosetta eval recognizer|detector|ocr``: score the shipped (or given) models on labelled data.

    rosetta eval recognizer --data ../shared/data/iiit5k_train --split val
    rosetta eval detector --data ../shared/data/icdar2015_dev --images 201-250
    rosetta eval ocr --data ../shared/data/icdar2015_dev --images 201-250

Prints one JSON object (metrics, counts, timing). ``--split`` uses the fixed validation split
of :mod:`rosetta.data.splits` for the shared data sets; ``all`` scores every row.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from rosetta.cli_options import margin_arg, scripts_arg
from rosetta.config import ReadConfig
from rosetta.data.crops import PHOTO_WORDS_MARGIN, load_crops, photo_word_crops
from rosetta.data.icdar2015 import load_gt_rows, parse_range
from rosetta.data.splits import SYNTH_CYRILLIC_VAL_SEED, SYNTH_CYRILLIC_VAL_SIZE, SYNTH_VAL_DIFFICULTY
from rosetta.eval import evaluate_images, scored_words
from rosetta.eval_explain import explain_images, explain_table
from rosetta.geometry import boxes_to_quads
from rosetta.io import load_image
from rosetta.metrics import text_scores
from rosetta.synth.words import WordSynth, WordSynthConfig


EXPLAIN_WEAK_SCORE = 0.3  # --explain: the detector's boxes from this score up to its read threshold are "weak"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate models on labelled data")
    esub = p.add_subparsers(dest="what", required=True)
    r = esub.add_parser("recognizer", help="word accuracy, case-sensitive accuracy, 1-NED, CER (labels.jsonl)")
    src = r.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help="folder with crops/ + labels.jsonl")
    src.add_argument("--synthetic", choices=["latin", "cyrillic", "arabic"],
                     help="the seeded synthetic validation set of a script (1000 crops, never trained on)")
    r.add_argument("--split", choices=["val", "train", "all"], default="all")
    r.add_argument("--images", default=None,
                   help="with --data of full images (gt.jsonl): their words' ground-truth boxes cut out, e.g. 201-250")
    r.add_argument("--crop-margin", default=None, type=margin_arg,
                   help="with --images: the margin the words are cut at, in box heights, one number or ALONG/ACROSS the "
                   "text (default: the reader's first margin, 0.16)")
    r.add_argument("--case-sensitive", action="store_true", help="use IIIT5K's text_cs labels where present")
    r.add_argument("--beam", type=int, default=1, help="beam width (1 = greedy)")
    r.add_argument("--scripts", default=None, type=scripts_arg, help="the scripts the text is in, e.g. cyrillic (default: all)")
    for name, helptext in (("detector", "ICDAR 2015 detection precision/recall/hmean (gt.jsonl)"),
                           ("ocr", "detection and end-to-end precision/recall/hmean (gt.jsonl)")):
        q = esub.add_parser(name, help=helptext)
        q.add_argument("--data", required=True, help="folder with images/ + gt.jsonl")
        q.add_argument("--images", default=None, help="image numbers to use, e.g. 201-250 (img_N names)")
        q.add_argument("--size", type=int, default=None, help="detector: largest long side (default: the model's)")
        q.add_argument("--upscale", type=float, default=None, help="detector: image scale (default: the model's)")
        if name == "ocr":
            q.add_argument("--explain", action="store_true",
                           help="also say why each missed word was missed and each false positive happened "
                                "(rosetta.eval_explain; the table goes to stderr)")
        if name == "detector":
            q.add_argument("--thresholds", default=None,
                           help="also score these word-score thresholds, e.g. 0.5,0.6,0.7 (one pass over the images)")
    for q in esub.choices.values():
        q.add_argument("--models", default=None, help="model folder (default: the shipped models)")
        q.add_argument("--threads", type=int, default=1)
        q.add_argument("--engine", choices=["torch", "onnx", "int8"], default="onnx")
        q.add_argument("-o", "--output", default=None, help="also write the JSON here")


def run(args: argparse.Namespace) -> int:
    from rosetta.train.common import set_threads  # the evaluation runs the PyTorch predictors too

    set_threads(args.threads)
    folder = Path(args.models) if args.models else None
    if args.what == "recognizer":
        from rosetta.runtime.recognizer import DecodeConfig

        decode = DecodeConfig(beam_width=max(1, args.beam), scripts=args.scripts)
    if args.what == "recognizer" and args.synthetic:
        res = eval_synthetic(args.synthetic, folder, args.engine, decode)
    elif args.what == "recognizer":
        res = eval_recognizer(Path(args.data), args.split, args.case_sensitive, folder, args.engine, decode,
                              args.images, args.crop_margin)
    else:
        sweep = [float(t) for t in args.thresholds.split(",")] if getattr(args, "thresholds", None) else None
        res = eval_images(Path(args.data), parse_range(args.images), args.what == "ocr", folder, args.engine,
                          args.size, sweep, args.upscale, getattr(args, "explain", False))
    text = json.dumps(res, indent=2, ensure_ascii=False)
    print(text)
    if "explain" in res:
        print(explain_table(res["explain"]), file=sys.stderr)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
    return 0


def eval_recognizer(data: Path, split: str, case_sensitive: bool, folder: Path | None, engine: str,
                    decode=None, images: str | None = None, margin: float | tuple[float, float] | None = None) -> dict:
    """Scores of the recognizer on a crop set's ``split``, or (``images``, e.g. "201-250") on the words of full
    images cut out at their ground-truth boxes (rosetta.data.crops.photo_word_crops) with ``margin`` (default: the
    reader's first margin)."""
    from rosetta.train.predict import DecodeConfig, TorchRecognizer as Recognizer

    margin = PHOTO_WORDS_MARGIN if margin is None else margin
    if images:
        crops = photo_word_crops(data.name, parse_range(images) or set(), root=data.parent, margin=margin)
    else:
        crops = load_crops(data.name, split, root=data.parent, case_sensitive=case_sensitive)
    decode = decode or DecodeConfig()
    rec = Recognizer.load(folder, engine=engine, decode=decode)
    where = {"split": f"images {images}", "crop_margin": margin} if images else {"split": split}
    return {"data": str(data), **where, "scripts": decode.scripts, **score_recognizer(rec, crops.images, crops.texts)}


def score_recognizer(rec, images: list, texts: list[str]) -> dict:
    """Text scores of ``rec`` on labelled crops, with its speed and model version."""
    t = time.perf_counter()
    preds = [p for p, _ in rec(images)]
    dt = time.perf_counter() - t
    return {**text_scores(preds, texts), "ms_per_crop": round(1000 * dt / max(1, len(preds)), 3),
            "model": rec.meta.get("version")}


def synthetic_val(script: str, n: int | None = None, difficulty: float | None = None) -> tuple[list, list[str]]:
    """The seeded synthetic validation crops of ``script`` (seed ``SYNTH_CYRILLIC_VAL_SEED`` + script offset),
    rendered at ``SYNTH_VAL_DIFFICULTY``: distorted as photos are, but legible to a careful reader (at the
    curriculum's top difficulty, ``difficulty=1.0``, about a quarter of the crops were not: docs/audit)."""
    import numpy as np

    seed = SYNTH_CYRILLIC_VAL_SEED + {"cyrillic": 0, "latin": 1, "arabic": 2}[script]
    level = SYNTH_VAL_DIFFICULTY if difficulty is None else difficulty
    gen = WordSynth.create(WordSynthConfig(scripts=(script,), seed=seed, difficulty=level))
    samples = [gen.sample(i) for i in range(n or SYNTH_CYRILLIC_VAL_SIZE)]
    return [np.asarray(s.image) for s in samples], [s.text for s in samples]


def eval_synthetic(script: str, folder: Path | None, engine: str, decode=None) -> dict:
    from rosetta.train.predict import DecodeConfig, TorchRecognizer as Recognizer

    images, texts = synthetic_val(script)
    decode = decode or DecodeConfig()
    rec = Recognizer.load(folder, engine=engine, decode=decode)
    return {"data": f"synthetic {script} validation", "scripts": decode.scripts, **score_recognizer(rec, images, texts)}


def eval_images(data: Path, numbers: set[int] | None, end_to_end: bool, folder: Path | None, engine: str,
                size: int | None = None, thresholds: list[float] | None = None, upscale: float | None = None,
                explain: bool = False) -> dict:
    """ICDAR 2015 scores of the detector (or the whole OCR) on ``data``'s images. ``thresholds`` (detector
    only): also the scores at these word-score thresholds, from the same pass (boxes are kept down to the
    lowest; rotated NMS keeps the higher-scored of two boxes, so filtering afterwards is exact). ``explain``
    (OCR only): also the reasons for every end-to-end miss and false positive (:mod:`rosetta.eval_explain`);
    every word is then read down to confidence 0 (empty reads kept) and the OCR's floor applied afterwards, which
    gives the same kept words."""
    import resource

    rows = load_gt_rows(data, numbers)
    if not rows:
        raise SystemExit(f"rosetta eval: error: no images selected in {data}")
    from rosetta.train.predict import TorchDetector

    det = TorchDetector.load(folder, engine=engine)
    if size:
        det = det.with_config(size=size, min_size=min(det.config.min_size, size))
    if upscale:
        det = det.with_config(upscale=upscale)
    keep_at = det.config.score_thresh  # the model's own threshold: the main figures
    if thresholds and end_to_end:
        raise SystemExit("rosetta eval: error: --thresholds is for `eval detector`")
    if thresholds:  # boxes down to the lowest threshold, the higher ones filtered from them (exact, see RoI head)
        det = det.with_config(score_thresh=min(min(thresholds), keep_at))
    ocr = None
    if end_to_end:
        from rosetta.ocr import OCR
        from rosetta.train.predict import TorchRecognizer as Recognizer

        ocr = OCR(detector=det, recognizer=Recognizer.load(folder, engine=engine))
        keep_at = ocr.detector.config.score_thresh  # the threshold words are read at (the card's read_score_thresh)
        floor = ocr.config.min_confidence
        if explain:  # every read, the floor applied below

            ocr = OCR(ReadConfig(keep_empty=True, min_confidence=0.0), detector=det, recognizer=ocr.recognizer)
            weak_det = ocr.detector.with_config(score_thresh=min(EXPLAIN_WEAK_SCORE, keep_at))
    elif explain:
        raise SystemExit("rosetta eval: error: --explain is for `eval ocr`")

    gts, dets, scored, read, weak = [], [], [], [], []
    t = time.perf_counter()
    for r in rows:
        img = load_image(data / r["image"])
        if ocr is not None:
            res = ocr(img, name=r["image"])
            if explain:
                read.append([{"points": w.box.polygon(), "text": w.text, "confidence": w.confidence}
                             for w in res.words])
                dets.append([{"points": w["points"], "text": w["text"]} for w in read[-1]
                             if w["text"] and w["confidence"] >= floor])
                boxes, scores = weak_det([img])[0]
                weak.append([{"points": q.tolist()} for q, s in zip(boxes_to_quads(boxes), scores) if s < keep_at])
            else:
                dets.append(scored_words(res))
        else:
            boxes, scores = det([img])[0]
            scored.append((boxes_to_quads(boxes), scores))
            dets.append([{"points": q.tolist()} for q, s in zip(*scored[-1]) if s >= keep_at])
        gts.append(r["words"])
    dt = time.perf_counter() - t
    res = evaluate_images(gts, dets)
    out = {"data": str(data), "images": len(rows), "score_thresh": keep_at, "size": det.config.size,
           "upscale": det.config.upscale, "det": res["det"], "counts": res["counts"],
           "s_per_image": round(dt / len(rows), 4),
           "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if end_to_end:
        out["e2e"] = res["e2e"]
    if explain:
        out["min_confidence"] = floor
        out["weak_score"] = EXPLAIN_WEAK_SCORE
        out["explain"] = explain_images(gts, read, floor, weak)
    for th in thresholds or []:
        kept = [[{"points": q.tolist()} for q, s in zip(quads, scores) if s >= th] for quads, scores in scored]
        out.setdefault("thresholds", {})[str(th)] = evaluate_images(gts, kept)["det"]
    return out


__all__ = ["add_parser", "run", "eval_recognizer", "eval_images"]
