"""The ``rosetta`` command: read | batch | serve | eval | train | synth | models | quantize.

Each subcommand lives in its own module; this file only wires argparse to them (``python -m rosetta`` runs it too).
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from rosetta import __version__, cli_batch, cli_eval, cli_read, cli_search, cli_serve
from rosetta.data.icdar2015 import parse_range
from rosetta.models import MODEL_DIR, MODEL_NAMES, load_weights, model_paths, package, write_card
from rosetta.synth.errors import SynthSetupError
from rosetta.synth.scenes import SceneSynthConfig
from rosetta.synth.sheet import write_sheets
from rosetta.synth.words import WordSynthConfig
from rosetta.synth.writer import write_scenes, write_words

log = logging.getLogger("rosetta")


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model")
    tsub = p.add_subparsers(dest="what", required=True)
    r = tsub.add_parser("recognizer", help="train the CTC word recognizer (synthetic + real crops)")
    r.add_argument("--out", default="runs/rec", help="run folder: checkpoints, log, evals")
    r.add_argument("--steps", type=int, default=40_000, help="schedule horizon in steps")
    r.add_argument("--batch-size", type=int, default=48)
    r.add_argument("--lr", type=float, default=2e-3)
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--workers", type=int, default=1, help="data-generating processes")
    r.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--eval-every", type=int, default=1000)
    r.add_argument("--max-minutes", type=float, default=None, help="stop (with a checkpoint) after this long")
    r.add_argument("--resume", action="store_true", help="continue from OUT/last.pt if present")
    r.add_argument("--init", default=None, help="start from the weights of this checkpoint (fine-tuning)")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a TrainConfig field (model.widths=64,128,192 for model fields)")
    _add_train_detector(tsub)


def _add_synth(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="generate synthetic training data")
    ssub = p.add_subparsers(dest="what", required=True)
    for name, helptext in (("words", "word crops: OUT/crops + OUT/labels.jsonl"),
                           ("scenes", "full scenes: OUT/images + OUT/gt.jsonl")):
        q = ssub.add_parser(name, help=helptext)
        q.add_argument("--out", "-o", required=True)
        q.add_argument("--count", "-n", type=int, default=1000)
        q.add_argument("--seed", type=int, default=0)
        q.add_argument("--scripts", default="latin,cyrillic,arabic", help="comma-separated: latin,cyrillic,arabic")
        q.add_argument("--difficulty", type=float, default=1.0, help="0 (easy) .. 1 (hard)")
        q.add_argument("--workers", type=int, default=2)
        q.add_argument("--no-progress", action="store_true")
    q = ssub.add_parser("sheet", help="contact sheets of samples per script and of scenes (PNG)")
    q.add_argument("--out", "-o", default="docs")


def _run_synth(args: argparse.Namespace) -> int:
    try:
        if args.what == "sheet":
            for p in write_sheets(args.out):
                print(p)
            return 0
        scripts = tuple(s.strip() for s in args.scripts.split(",") if s.strip())
        if args.what == "words":
            idx = write_words(args.out, WordSynthConfig(scripts=scripts, seed=args.seed, difficulty=args.difficulty),
                              args.count, args.workers, progress=not args.no_progress)
        else:
            idx = write_scenes(args.out, SceneSynthConfig(scripts=scripts, seed=args.seed, difficulty=args.difficulty),
                               args.count, args.workers, progress=not args.no_progress)
        print(idx)
        return 0
    except SynthSetupError as exc:
        print(f"rosetta synth: error: {exc}", file=sys.stderr)
        return 2


def _add_train_detector(tsub: argparse._SubParsersAction) -> None:
    d = tsub.add_parser("detector", help="train the rotated Faster R-CNN detector (synthetic scenes + real images)")
    d.add_argument("--out", default="runs/det")
    d.add_argument("--steps", type=int, default=60_000)
    d.add_argument("--batch-size", type=int, default=2)
    d.add_argument("--lr", type=float, default=1e-3)
    d.add_argument("--threads", type=int, default=1)
    d.add_argument("--workers", type=int, default=1)
    d.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    d.add_argument("--seed", type=int, default=1)
    d.add_argument("--eval-every", type=int, default=2000)
    d.add_argument("--max-minutes", type=float, default=None)
    d.add_argument("--resume", action="store_true")
    d.add_argument("--init", default=None)
    d.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a DetTrainConfig field")


def _parse_sets(items: Sequence[str]) -> dict:
    out: dict = {}
    for it in items:
        if "=" not in it:
            raise SystemExit(f"--set expects KEY=VALUE, got {it!r}")
        k, v = it.split("=", 1)
        val: object
        if "," in v:
            val = tuple(float(x) if "." in x else int(x) for x in v.split(","))
        else:
            try:
                val = int(v)
            except ValueError:
                try:
                    val = float(v)
                except ValueError:
                    val = v
        if k.startswith("model."):
            out.setdefault("model", {})[k[6:]] = val
        else:
            out[k] = val
    return out


def _run_train(args: argparse.Namespace) -> int:
    if args.what == "recognizer":
        from rosetta.train.recognizer import TrainConfig, train

        cfg = TrainConfig(out=args.out, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                          threads=args.threads, workers=args.workers, device=args.device, seed=args.seed,
                          eval_every=args.eval_every, **_parse_sets(args.set))
        train(cfg, resume=args.resume, max_minutes=args.max_minutes, init=args.init)
        return 0
    if args.what == "detector":
        from rosetta.train.detector import DetTrainConfig
        from rosetta.train.detector import train as train_det

        dcfg = DetTrainConfig(out=args.out, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                              threads=args.threads, workers=args.workers, device=args.device, seed=args.seed,
                              eval_every=args.eval_every, **_parse_sets(args.set))
        train_det(dcfg, resume=args.resume, max_minutes=args.max_minutes, init=args.init)
        return 0
    raise SystemExit(f"unknown training target {args.what}")


DESCRIPTION = ("Read the text in images: every word with its rotated box, transcription and confidence "
               "(Latin, Cyrillic, Arabic), on the CPU. `rosetta read photo.jpg` to start.")


def version_line() -> str:
    """The package's version and the shipped models' (from their cards; no weights are loaded).

    >>> version_line().startswith("rosetta-ocr ")
    True
    """
    import json

    models = []
    for name in ("detector", "recognizer"):
        card = model_paths(name)[1]
        version = json.loads(card.read_text()).get("version", "?") if card.exists() else "missing"
        models.append(f"{name} {version}")
    return f"rosetta-ocr {__version__} ({', '.join(models)})"


class _Version(argparse.Action):
    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, help="print the version and the shipped models' and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        print(version_line())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rosetta", description=DESCRIPTION)
    p.add_argument("-v", "--verbose", action="store_true", help="log what the models and engines do")
    p.add_argument("--version", action=_Version)
    sub = p.add_subparsers(dest="command", required=True)

    cli_read.add_parser(sub)
    cli_batch.add_parser(sub)
    cli_search.add_parsers(sub)
    cli_serve.add_parser(sub)
    cli_eval.add_parser(sub)
    _add_train(sub)
    _add_synth(sub)
    _add_models(sub)
    q = sub.add_parser("quantize", help="build the int8 models (ONNX Runtime, calibrated on real crops and photos)")
    q.add_argument("models", nargs="*", metavar="MODEL", help="recognizer and/or detector (default: both)")
    q.add_argument("--out", default=None, help="model folder (default: the shipped models)")
    q.add_argument("--calibration", choices=["minmax", "minmax-mean", "entropy", "percentile"], default=None,
                   help="activation ranges (default: each model's measured choice)")
    q.add_argument("--crops", type=int, default=400, help="recognizer calibration crops (real training crops)")
    q.add_argument("--images", default=None, metavar="N|A-B",
                   help="detector calibration photos: ICDAR 2015 img_1..N, or the numbers A-B (training images; "
                        "default 32; percentile histograms of 1600 px maps take ~0.6 GB each)")
    q.add_argument("--first-layer-int8", action="store_true",
                   help="quantize each model's first convolution too: faster, less accurate (docs/RESULTS.md)")
    q.add_argument("--float-scope", action="append", default=None, metavar="PART",
                   help="leave the layers whose ONNX node names contain PART in float (repeatable; e.g. /head/cls "
                        "for the RPN's objectness convolution): to measure a layer's share of the int8 error")
    q.add_argument("--balanced-rpn-outputs", action="store_true",
                   help="detector: floor the RPN's logits and equalize its box-delta components before their "
                        "int8 rounding (closer boxes, no e2e gain measured; docs/RESULTS.md)")
    q.add_argument("--normalized-input", action="store_true",
                   help="detector with a patch4 stem: the int8 graph reads the normalized image and keeps its first "
                        "convolution in float, instead of reading the uint8 pixels with the normalization folded "
                        "into an int8 first convolution (the default for such stems; docs/RESULTS.md)")
    q.add_argument("--weights-8bit", action="store_true",
                   help="8-bit weights instead of 7 (exact only on CPUs with VNNI; AVX2 without it may saturate)")
    q.add_argument("--detector-weights", default=None, metavar="CHECKPOINT",
                   help="build the int8 detector from this quantization-aware fine-tuned checkpoint of the same "
                        "detector (`rosetta train detector --set qat=1 --set qat_distill=1`); the float model stays")
    return p


def _calibration_images(spec: str | None, default: int) -> int | list[int]:
    """``--images``: "N" (img_1..N) or "A-B" (and comma-separated parts) -> a count or image numbers.

    >>> _calibration_images(None, 32), _calibration_images("12", 32), _calibration_images("33-35", 32)
    (32, 12, [33, 34, 35])
    """
    if not spec:
        return default
    return int(spec) if spec.isdigit() else sorted(parse_range(spec) or ())


def _run_quantize(args: argparse.Namespace) -> int:
    from dataclasses import replace
    from pathlib import Path

    from rosetta.quant.detector import build_int8 as build_detector
    from rosetta.quant.ort_int8 import (DETECTOR_CALIBRATION_IMAGES, DETECTOR_INT8, RECOGNIZER_INT8, real_calibration_crops,
                                        real_calibration_images)
    from rosetta.quant.recognizer import build_int8 as build_recognizer

    folder = Path(args.out) if args.out else MODEL_DIR
    which = args.models or ["recognizer", "detector"]
    unknown = sorted(set(which) - {"recognizer", "detector"})
    if unknown:
        raise SystemExit(f"rosetta quantize: error: unknown model(s) {', '.join(unknown)} (recognizer, detector)")
    changes = {k: v for k, v in (("calibration", args.calibration),
                                 ("keep_first_fp32", False if args.first_layer_int8 else None),
                                 ("float_scopes", tuple(args.float_scope) if args.float_scope else None),
                                 ("reduce_range", False if args.weights_8bit else None)) if v is not None}
    det_changes = {"balance_rpn_outputs": True} if args.balanced_rpn_outputs else {}
    if args.normalized_input:
        det_changes["pixel_input"] = False
    if "recognizer" in which:
        print(build_recognizer(folder, real_calibration_crops(args.crops), replace(RECOGNIZER_INT8, **changes)))
    if "detector" in which:
        numbers = _calibration_images(args.images, DETECTOR_CALIBRATION_IMAGES)
        named = f"ICDAR 2015 img_{min(numbers)}..img_{max(numbers)}" if isinstance(numbers, list) and numbers else None
        print(build_detector(folder, real_calibration_images(numbers), replace(DETECTOR_INT8, **changes, **det_changes),
                             args.detector_weights, named))
    return 0


def _add_models(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="shipped models: list them, or package a training checkpoint")
    msub = p.add_subparsers(dest="what", required=True)
    msub.add_parser("list", help="print the shipped models' cards")
    msub.add_parser("card", help="write MODEL_CARD.md beside the shipped models from their JSON sidecars")
    b = msub.add_parser("blend", help="recognizer checkpoint blended in weight space toward the model its run "
                                      "started from (rosetta.train.blend), written as a checkpoint to package")
    b.add_argument("checkpoint")
    b.add_argument("--alpha", type=float, required=True, help="0 = the start model, 1 = the checkpoint")
    b.add_argument("--base", default="shipped", help="the run's --init: shipped, a model folder or a checkpoint")
    b.add_argument("--out", required=True, help="the blended checkpoint (.pt)")
    q = msub.add_parser("package", help="checkpoint -> fp16 safetensors + JSON card in the package")
    q.add_argument("name", choices=["recognizer", "detector"])
    q.add_argument("checkpoint")
    q.add_argument("--scores", default=None, help="a JSON file of measured scores to put on the card")
    q.add_argument("--notes", default="")
    q.add_argument("--out", default=None, help="model folder (default: src/rosetta/models)")
    q.add_argument("--score-thresh", type=float, default=None,
                   help="detector: the word score threshold to ship with it (choose it on training images "
                        "with `rosetta eval detector --thresholds`)")
    q.add_argument("--read-score-thresh", type=float, default=None,
                   help="detector: the word score threshold when the OCR reads its words (chosen with the "
                        "recognizer's --min-confidence by scripts/tune_ocr.py on training images)")
    q.add_argument("--size", type=int, default=None, help="detector: largest long side the network sees")
    q.add_argument("--upscale", type=float, default=None, help="detector: scale images are seen at (up to --size)")
    q.add_argument("--proposals", type=int, default=None,
                   help="detector: region proposals per image its second stage scores (default 200; choose on training images)")
    q.add_argument("--min-confidence", type=float, default=None,
                   help="recognizer: the confidence below which the OCR drops a word (choose it on training images)")
    q.add_argument("--dictionary-bonus", type=float, default=None,
                   help="recognizer: how much an English word outranks likelier non-words (rosetta.runtime.dictionary; "
                        "choose it on validation crops with scripts/choose_recognizer.py --bonuses)")


def _run_models(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    if args.what == "card":
        print(write_card())
        return 0
    if args.what == "list":
        for name in MODEL_NAMES:
            try:
                _, meta = load_weights(name)
            except FileNotFoundError as exc:
                print(f"{name}: {exc}")
                continue
            meta.pop("charset", None)
            print(json.dumps(meta, indent=2))
        return 0
    if args.what == "blend":
        from rosetta.train.blend import blended_checkpoint
        from rosetta.train.common import save_checkpoint

        save_checkpoint(Path(args.out), blended_checkpoint(Path(args.checkpoint), args.alpha, args.base))
        print(args.out)
        return 0
    scores = json.loads(Path(args.scores).read_text()) if args.scores else None
    print(package(args.name, Path(args.checkpoint), scores, Path(args.out) if args.out else None, args.notes,
                  **({"score_thresh": args.score_thresh, "read_score_thresh": args.read_score_thresh, "size": args.size,
                     "upscale": args.upscale, "proposals": args.proposals}
                     if args.name == "detector" else {"min_confidence": args.min_confidence,
                                                      "dictionary_bonus": args.dictionary_bonus})))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING if args.command == "read"
                        else logging.INFO, format="%(levelname)s %(message)s")
    if args.command == "train":
        return _run_train(args)
    if args.command == "synth":
        return _run_synth(args)
    if args.command == "read":
        return cli_read.run(args)
    if args.command == "eval":
        return cli_eval.run(args)
    if args.command == "models":
        return _run_models(args)
    if args.command == "quantize":
        return _run_quantize(args)
    if args.command == "serve":
        return cli_serve.run(args)
    if args.command == "batch":
        return cli_batch.run(args)
    if args.command in ("index", "search", "tag"):
        return cli_search.run(args)
    raise SystemExit(f"unknown command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
