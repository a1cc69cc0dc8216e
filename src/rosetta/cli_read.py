"""``rosetta read``: images (or word crops) in, every word out, in the format asked for.

    rosetta read PATHS... [--format json|jsonl|text|tsv|hocr|alto] [-o OUT] [--viz DIR] [--list FILE]
                 [--threads N] [--crops]

Exit codes: 0 all read, 1 some inputs failed (each named on stderr), 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import IO, Iterator

from rosetta.inputs import STDIN, expand

EXTENSIONS = {"json": ".json", "jsonl": ".jsonl", "text": ".txt", "tsv": ".tsv", "hocr": ".hocr", "alto": ".xml"}
CHUNK = 8  # images per batch through the models


def add_min_confidence(p: argparse.ArgumentParser) -> None:
    """The ``--min-confidence`` option of read, batch and serve."""
    p.add_argument("--min-confidence", type=float, default=None,
                   help="drop words read with a lower confidence (default: the recognizer card's "
                        "min_confidence, 0.85 for the shipped one; 0 keeps all)")


def _in_range(kind, bounds: str):
    """An argparse type: ``kind`` values within the detector's ``bounds`` (``SCALE_RANGE`` or ``MAX_SIDE_RANGE``
    of :mod:`rosetta.detection.detector`, read when the option is given: the parser itself stays light),
    anything else a usage error (exit 2)."""
    def parse(text: str):
        from rosetta.detection import detector

        lo, hi = getattr(detector, bounds)
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"must be between {lo} and {hi}, not {text}")
        return v
    return parse


def add_detect_scale(p: argparse.ArgumentParser) -> None:
    """The ``--scale`` and ``--max-side`` options of read, batch and serve."""
    p.add_argument("--scale", type=_in_range(float, "SCALE_RANGE"), default=None,
                   help="the detector sees images at this multiple of their size (default: the model's, 1.25; "
                        "small print such as receipts: 2.5 with --max-side 2500)")
    p.add_argument("--max-side", type=_in_range(int, "MAX_SIDE_RANGE"), default=None,
                   help="cap on the long side the detector sees, in pixels (default: the model's, 1600)")


def scripts_arg(spec: str) -> tuple[str, ...] | None:
    """argparse type of ``--scripts``: "latin,cyrillic" -> ("latin", "cyrillic"), with a clean error."""
    from rosetta.charset import parse_scripts

    try:
        return parse_scripts(spec)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("read", help="read the text in images")
    r.add_argument("paths", nargs="*", help="image files, directories, globs, or - for stdin")
    r.add_argument("--format", "-f", default="json", choices=sorted(EXTENSIONS),
                   help="output format (default: json; README: Output formats)")
    r.add_argument("-o", "--output", default=None,
                   help="output file, or a directory (existing, or ending in /) for one file per image")
    r.add_argument("--viz", default=None, help="write overlay PNGs (boxes and texts) into this directory")
    r.add_argument("--list", default=None, help="a file of input paths, one per line")
    r.add_argument("--threads", type=int, default=None, help="intra-op threads (default: all cores)")
    r.add_argument("--crops", action="store_true", help="treat each input as one word crop (no detection)")
    r.add_argument("--engine", choices=["torch", "onnx"], default="onnx", help="inference engine (default: onnx)")
    r.add_argument("--int8", action="store_true", help="int8 detector and recognizer (ONNX Runtime; built by `rosetta quantize`)")
    r.add_argument("--models", default=None, help="folder with detector/recognizer files (default: shipped)")
    r.add_argument("--beam", type=int, default=1, help="CTC beam width (1 = greedy)")
    r.add_argument("--scripts", default=None, type=scripts_arg,
                   help="the scripts the text is in, e.g. cyrillic or latin,cyrillic (default: every script)")
    r.add_argument("--lexicon", default=None, help="a file of allowed words, one per line (beam search keeps to them)")
    add_min_confidence(r)
    add_detect_scale(r)
    r.add_argument("--no-progress", action="store_true", help="no progress bar (shown only on a terminal)")


def _inputs(args: argparse.Namespace) -> list[str]:
    if not args.paths and not args.list:  # nothing asked for: a usage error (exit 2), as argparse's own
        print("rosetta read: error: no input images (give paths, a directory, a glob, - or --list)", file=sys.stderr)
        raise SystemExit(2)
    items = expand(args.paths, args.list)
    if not items:  # asked, but nothing there: the inputs failed (exit 1)
        raise SystemExit(f"rosetta read: error: no images found in {' '.join(args.paths or [args.list])}")
    return items


def _load(item: str, stdin_bytes: bytes | None) -> object:
    return stdin_bytes if item == STDIN else item


def _progress(items: list[str], args: argparse.Namespace):
    from tqdm import tqdm

    quiet = args.no_progress or len(items) < 4 or not sys.stderr.isatty()  # no bar in logs and pipes
    return tqdm(total=len(items), unit="img", disable=quiet, file=sys.stderr, dynamic_ncols=True)


def _out_dir(args: argparse.Namespace, n: int) -> Path | None:
    if args.output and (args.output.endswith("/") or Path(args.output).is_dir()):
        return Path(args.output)
    if n > 1 and args.format in ("hocr", "alto"):
        raise SystemExit(f"rosetta read: error: --format {args.format} with several images needs -o DIR/ "
                         "(one document per image)")
    return None


def run(args: argparse.Namespace) -> int:
    items = _inputs(args)
    stdin_bytes = sys.stdin.buffer.read() if STDIN in items else None
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.crops:
        return _run_crops(args, items, stdin_bytes)
    from rosetta import export
    from rosetta.ocr import OCR

    out_dir = _out_dir(args, len(items))
    recognizer = _recognizer(args) if args.beam > 1 or args.lexicon or args.scripts else None
    ocr = OCR(recognizer=recognizer, threads=args.threads, engine=args.engine, int8=args.int8, folder=args.models,
              min_confidence=args.min_confidence, scale=args.scale, max_side=args.max_side)
    failed = 0
    bar = _progress(items, args)
    stream: IO[str] = sys.stdout if args.output in (None, "-") or out_dir else open(args.output, "w", encoding="utf-8")
    collected = []
    try:
        for chunk in _chunks(items, CHUNK):
            results = ocr.batch([_load(i, stdin_bytes) for i in chunk], names=["<stdin>" if i == STDIN else i for i in chunk])
            for item, res in zip(chunk, results):
                bar.update(1)
                if res.error:
                    failed += 1
                    print(f"rosetta read: error: {res.error}", file=sys.stderr)
                    if args.format == "jsonl":
                        stream.write(export.to_jsonl(res))
                    elif args.format == "json" and out_dir is None:  # the lossless formats keep every input
                        collected.append(res)
                    continue
                if args.viz:
                    _write_viz(Path(args.viz), item, res, stdin_bytes)
                if out_dir is not None:
                    out_dir.mkdir(parents=True, exist_ok=True)
                    name = Path(res.image or "stdin").stem + EXTENSIONS[args.format]
                    (out_dir / name).write_text(export.EXPORTERS[args.format](res), encoding="utf-8")
                elif args.format == "json":
                    collected.append(res)
                elif args.format == "text" and len(items) > 1:
                    stream.write(f"==> {res.image} <==\n{export.to_text(res)}")
                elif args.format == "tsv":
                    stream.write(export.to_tsv(res, header=not collected))
                    collected.append(res)
                else:
                    stream.write(export.EXPORTERS[args.format](res))
        if args.format == "json" and out_dir is None:
            stream.write(export.to_json(collected if len(items) > 1 else collected[0]) if collected else "[]\n")
    finally:
        _close(bar, stream)
    return _exit_code(failed, len(items))


def _recognizer(args: argparse.Namespace):
    from rosetta.train.predict import DecodeConfig, TorchRecognizer as Recognizer

    lexicon = None
    if args.lexicon:
        lexicon = [w.strip() for w in Path(args.lexicon).read_text(encoding="utf-8").splitlines() if w.strip()]
    return Recognizer.load(Path(args.models) if args.models else None, engine="int8" if args.int8 else args.engine,
                           decode=DecodeConfig(beam_width=max(1, args.beam), scripts=args.scripts),
                           lexicon=lexicon)


def _write_viz(folder: Path, item: str, res, stdin_bytes: bytes | None) -> None:
    from PIL import Image

    from rosetta.export import draw_overlay
    from rosetta.io import load_image

    folder.mkdir(parents=True, exist_ok=True)
    img = load_image(_load(item, stdin_bytes), item)
    Image.fromarray(draw_overlay(img, res)).save(folder / (Path(res.image or "stdin").stem + ".png"))


def _chunks(items: list[str], n: int) -> Iterator[list[str]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


def _run_crops(args: argparse.Namespace, items: list[str], stdin_bytes: bytes | None) -> int:
    """Each input is one word crop: one JSON line per image {"image", "text", "confidence"[, "error"]}."""
    from rosetta.ocr import load_all

    rec = _recognizer(args)
    failed = 0
    bar = _progress(items, args)
    stream: IO[str] = sys.stdout if args.output in (None, "-") else open(args.output, "w", encoding="utf-8")
    rows = []
    try:
        for chunk in _chunks(items, 256):
            arrays, _, errors = load_all([_load(i, stdin_bytes) for i in chunk], chunk)
            ok = [i for i, a in enumerate(arrays) if a is not None]
            texts = dict(zip(ok, rec([arrays[i] for i in ok]))) if ok else {}
            for i, item in enumerate(chunk):
                bar.update(1)
                if errors[i]:
                    failed += 1
                    print(f"rosetta read: error: {errors[i]}", file=sys.stderr)
                    row = {"image": item, "text": None, "confidence": None, "error": str(errors[i])}
                else:
                    text, conf = texts[i]
                    row = {"image": item, "text": text, "confidence": round(conf, 4)}
                if args.format == "json":
                    rows.append(row)
                elif args.format == "text":
                    if row.get("text") is not None:
                        stream.write(f"{row['text']}\n")
                else:  # jsonl (and any other format: one JSON line per crop)
                    stream.write(json.dumps(row, ensure_ascii=False) + "\n")
        if args.format == "json":
            stream.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
    finally:
        _close(bar, stream)
    return _exit_code(failed, len(items))


def _close(bar, stream: IO[str]) -> None:
    bar.close()
    if stream is not sys.stdout:
        stream.close()


def _exit_code(failed: int, total: int) -> int:
    """0 when every input was read, 1 when some failed (each was already named on stderr)."""
    if failed:
        print(f"rosetta read: {failed} of {total} inputs failed", file=sys.stderr)
    return 1 if failed else 0


__all__ = ["add_parser", "run"]
