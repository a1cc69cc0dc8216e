"""``rosetta read``: images (or word crops) in, every word out, in the format asked for.

    rosetta read PATHS... [--format json|jsonl|text|tsv|hocr|alto] [-o OUT] [--viz DIR] [--list FILE]
                 [--crops] [reading options: --threads N --int8 --scripts S --scale X --max-side N ...]

Exit codes: 0 all read, 1 some inputs failed (each named on stderr), 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import IO, Iterator

from rosetta import export
from rosetta.cli_options import add_read_arguments, read_config_from_args
from rosetta.export import draw_overlay
from rosetta.inputs import STDIN, expand
from rosetta.io import load_image

EXTENSIONS = {"json": ".json", "jsonl": ".jsonl", "text": ".txt", "tsv": ".tsv", "hocr": ".hocr", "alto": ".xml"}
CHUNK = 8  # images per batch through the models


def add_parser(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("read", help="read the text in images")
    r.add_argument("paths", nargs="*", help="image files, directories, globs, or - for stdin")
    r.add_argument("--format", "-f", default="json", choices=sorted(EXTENSIONS),
                   help="output format (default: json; README: Output formats)")
    r.add_argument("-o", "--output", default=None,
                   help="output file, or a directory (existing, or ending in /) for one file per image")
    r.add_argument("--viz", default=None, help="write overlay PNGs (boxes and texts) into this directory")
    r.add_argument("--list", default=None, help="a file of input paths, one per line")
    r.add_argument("--crops", action="store_true", help="treat each input as one word crop (no detection)")
    add_read_arguments(r)
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
    config = read_config_from_args(args)
    if args.crops:
        return _run_crops(args, config, items, stdin_bytes)
    from rosetta.ocr import OCR

    out_dir = _out_dir(args, len(items))
    ocr = OCR(config)
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


def _write_viz(folder: Path, item: str, res, stdin_bytes: bytes | None) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    img = load_image(_load(item, stdin_bytes), item)
    Image.fromarray(draw_overlay(img, res)).save(folder / (Path(res.image or "stdin").stem + ".png"))


def _chunks(items: list[str], n: int) -> Iterator[list[str]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


def _run_crops(args: argparse.Namespace, config, items: list[str], stdin_bytes: bytes | None) -> int:
    """Each input is one word crop: one JSON line per image {"image", "text", "confidence"[, "error"]}."""
    from rosetta.ocr import load_all, load_recognizer

    rec = load_recognizer(config)
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
