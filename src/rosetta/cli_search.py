"""``rosetta index | search | tag``: find images by the text in them, and classes for images.

    rosetta batch photos/ -o ocr_out/ && rosetta index ocr_out/ --db photos.db   # re-run: adds new parts only
    rosetta search 'pharmacy "open 24"' --db photos.db --limit 5 --viz hits/
    rosetta tag ocr_out/ --lexicon shops.toml --db photos.db                    # then: search --class pharmacy
    rosetta index ocr_out/ --db postgresql://user@host/ocr                      # shared index (pip install 'rosetta-ocr[pg]')

Exit codes: 0 done, 2 a usage error or an index/input that cannot be used (the message names it and says why).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import IO, Iterator

from rosetta.export import draw_overlay
from rosetta.io import ImageError, load_image
from rosetta.result import Result, RotatedBox, Word
from rosetta.search.index import Index, SearchConfig, part_files, read_part
from rosetta.search.records import ImageDoc
from rosetta.search.store import SearchIndexError
from rosetta.search.tag import Lexicon, tag

log = logging.getLogger(__name__)
COMMANDS = ("index", "search", "tag")
DB_HELP = "the index: an SQLite file (made by `rosetta index`) or a PostgreSQL DSN postgresql://user@host/db"


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("index", help="index `rosetta batch` output for search (incremental, resumable)")
    p.add_argument("folders", nargs="+", metavar="OUT_FOLDER", help="`rosetta batch` output folder(s)")
    p.add_argument("--db", required=True, help=DB_HELP)
    p.add_argument("--no-progress", action="store_true", help="no progress bar (shown only on a terminal)")

    s = sub.add_parser("search", help="find images by their text (fuzzy, case- and accent-insensitive)")
    s.add_argument("query", help='words and "quoted phrases"; may be empty with --class')
    s.add_argument("--db", required=True, help=DB_HELP)
    s.add_argument("--limit", type=int, default=10, help="images to return (default 10)")
    s.add_argument("--format", choices=["json", "text"], default="text")
    s.add_argument("--class", dest="label", default=None, metavar="CLASS",
                   help="only images tagged with this class or entity (see `rosetta tag --db`)")
    s.add_argument("--exact", action="store_true", help="no fuzzy matching (exact normalised terms only)")
    s.add_argument("--viz", default=None, metavar="DIR",
                   help="draw the hit words' boxes on the images (when their paths are reachable) into DIR")

    t = sub.add_parser("tag", help="classes (from a lexicon) and entities (URLs, phones, prices...) for images")
    t.add_argument("input", nargs="?", default=None,
                   help="`rosetta batch` output folder, or a JSONL file of results (`rosetta read --format jsonl`); "
                        "default: every image of --db")
    t.add_argument("--db", default=None, help=DB_HELP + "; the tags are written into it")
    t.add_argument("--lexicon", default=None, metavar="FILE",
                   help="class lexicon (TOML: class -> words, phrases, patterns); default: the example one shipped")
    t.add_argument("--min-score", type=float, default=0.5, help="classes scoring less are left out (default 0.5)")
    t.add_argument("--no-entities", action="store_true", help="classes only")
    t.add_argument("-o", "--output", default=None, help="JSONL of tags per image (default: stdout)")


def run(args: argparse.Namespace) -> int:
    try:
        return {"index": _index, "search": _search, "tag": _tag}[args.command](args)
    except (SearchIndexError, ValueError) as exc:
        print(f"rosetta {args.command}: error: {exc}", file=sys.stderr)
        return 2


def _index(args: argparse.Namespace) -> int:
    total = {"parts_added": 0, "parts_skipped": 0, "images_added": 0}
    with Index(args.db, create=True) as idx:
        for folder in args.folders:
            got = idx.add_parts(folder, progress=not args.no_progress and sys.stderr.isatty())
            total = {k: total[k] + got[k] for k in total}
        print(json.dumps({**total, **{f"index_{k}": v for k, v in idx.counts().items()}, "db": idx.store.where}))
    return 0


def _search(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise ValueError(f"--limit must be at least 1, got {args.limit}")
    with Index(args.db, create=False, config=SearchConfig(fuzzy=not args.exact)) as idx:
        hits = idx.search(args.query, limit=args.limit, label=args.label)
    if args.format == "json":
        print(json.dumps([h.to_dict() for h in hits], ensure_ascii=False, indent=1))
    else:
        for h in hits:
            words = " ".join(f"{w.text}({w.confidence:.2f})" for w in h.words)
            tags = ",".join(t.label for t in h.tags)
            print(f"{h.score:7.3f}  {h.image}  {words}" + (f"  [{tags}]" if tags else ""))
    if args.viz:
        drawn = draw_hits(hits, Path(args.viz))
        log.info("drew %d of %d hits into %s", drawn, len(hits), args.viz)
    return 0


def draw_hits(hits, folder: Path) -> int:
    """Overlay PNGs of the hit words on their images (those whose path can be read); returns how many."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    done = 0
    for rank, h in enumerate(hits, 1):
        if not h.path or not Path(h.path).is_file():
            log.warning("%s: image not reachable at %r; no overlay", h.image, h.path)
            continue
        try:
            img = load_image(h.path, h.path)
        except ImageError as exc:
            log.warning("%s: %s; no overlay", h.image, exc)
            continue
        words = [Word(w.text, w.confidence, 1.0, RotatedBox(*w.box)) for w in h.words]
        res = Result.build(img.shape[1], img.shape[0], words, image=h.path)
        Image.fromarray(draw_overlay(img, res)).save(folder / f"{rank:03d}_{Path(h.path).stem}.png")
        done += 1
    return done


def _docs(spec: str) -> Iterator:
    """ImageDocs from a batch output folder or a JSONL file of Results / batch rows."""
    p = Path(spec)
    if p.is_dir():
        files = part_files(p)
        if not files:
            raise ValueError(f"{p}: no part files (part-*.parquet or part-*.jsonl) in it")
        for f in files:
            yield from read_part(f)
        return
    if not p.is_file():
        raise ValueError(f"{p}: no such file or folder")
    with open(p, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                yield ImageDoc.from_result(Result.from_dict(d)) if "schema" in d else ImageDoc.from_row(d)
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{p}:{n}: not a result or a batch row ({exc})") from exc


def _tag(args: argparse.Namespace) -> int:
    if args.input is None and args.db is None:
        raise ValueError("give a batch output folder or results file to tag, or --db INDEX to tag its images")
    lexicon = Lexicon.load(args.lexicon) if args.lexicon else Lexicon.example()
    matcher = lexicon.matcher()
    idx = Index(args.db, create=False) if args.db else None
    out: IO[str] = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    pending: dict = {}
    tagged = written = 0
    try:
        for doc in _docs(args.input) if args.input else idx.docs():
            tags = tag(doc, lexicon, args.min_score, not args.no_entities, _matcher=matcher)
            out.write(json.dumps({"image": doc.key, "tags": [{"label": t.label, "kind": t.kind, "score": t.score,
                                                              "words": list(t.words)} for t in tags]},
                                 ensure_ascii=False) + "\n")
            tagged += 1
            if idx is not None:
                pending[doc.key] = tags
                if len(pending) >= 1000:
                    written += idx.set_tags(pending)
                    pending = {}
        if idx is not None and pending:
            written += idx.set_tags(pending)
    finally:
        if args.output:
            out.close()
        if idx is not None:
            idx.close()
    log.info("tagged %d images%s", tagged, f"; {written} of them in {args.db}" if idx is not None else "")
    return 0


__all__ = ["add_parsers", "run", "draw_hits", "COMMANDS"]
