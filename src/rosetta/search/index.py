"""``Index``: find images by the text in them. Build from Results or `rosetta batch` output, search, tag.

    from rosetta.search import Index
    idx = Index("photos.db")                  # an SQLite file (made on first add), or "postgresql://..."
    idx.add(results)                          # Results (their image names are the keys) or batch rows
    idx.add_parts("ocr_out/")                 # `rosetta batch` output; re-running adds only new parts
    for hit in idx.search('pharmacy "open 24"', limit=10):
        print(hit.image, hit.score, [w.text for w in hit.words])

>>> import tempfile, os
>>> from rosetta.result import Result, RotatedBox, Word
>>> idx = Index(os.path.join(tempfile.mkdtemp(), "i.db"))
>>> words = [Word(t, 0.9, 0.9, RotatedBox(40 + 50 * i, 20, 40, 14, 0)) for i, t in enumerate(["ПЕТ", "Аптека", "24"])]
>>> idx.add([Result.build(300, 40, words, image="sign.jpg")])
1
>>> [(h.image, [w.text for w in h.words]) for h in idx.search("аптека")]
[('sign.jpg', ['Аптека'])]
>>> [h.image for h in idx.search("aптека")], [h.image for h in idx.search('"аптека 24"')], idx.search("кафе")
(['sign.jpg'], ['sign.jpg'], [])
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from rosetta.result import RotatedBox
from rosetta.search.fuzzy import distance, max_edits, pieces
from rosetta.search.query import collect, parse, rank
from rosetta.search.records import ImageDoc, WordDoc
from rosetta.search.store import SearchIndexError, Store, Tag
from rosetta.search.store_postgres import PostgresStore, is_dsn
from rosetta.search.store_sqlite import SQLiteStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchConfig:
    fuzzy: bool = True  # match OCR errors (edit distance) besides the exact terms
    one_edit_from: int = 5  # query terms of this many letters match terms 1 edit away
    two_edits_from: int = 9  # ... and of this many, 2 edits away
    postings_cap: int = 200_000  # most word matches read per query
    common_cap: int = 1_000  # a term in more words than this is common: read in the images other terms found
    # (a clause of common terms only: among the first common_cap words of its rarest term)
    complete_words: int = 100_000  # most words of common terms read to complete the images found


@dataclass(frozen=True)
class HitWord:
    text: str
    confidence: float
    box: tuple[float, ...]  # (cx, cy, w, h, angle)
    query: str  # the query term it matched (normalised)
    distance: int  # edits between the two

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "confidence": self.confidence, "box": list(self.box),
                "points": RotatedBox(*self.box).polygon(), "query": self.query, "distance": self.distance}


@dataclass(frozen=True)
class Hit:
    image: str  # the image's key (batch row id or Result image name)
    path: str | None
    score: float
    matched: int  # query clauses matched
    words: tuple[HitWord, ...]  # in reading order
    tags: tuple[Tag, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"image": self.image, "path": self.path, "score": round(self.score, 4), "matched": self.matched,
                "words": [w.to_dict() for w in self.words],
                "tags": [{"label": t.label, "kind": t.kind, "score": t.score, "words": list(t.words)}
                         for t in self.tags]}


def open_store(where: str | Path, create: bool = False) -> Store:
    """The store behind ``where``: a PostgreSQL DSN (``postgresql://...``) or an SQLite file path."""
    if isinstance(where, str) and is_dsn(where):
        return PostgresStore.open(where, create)

    return SQLiteStore.open(where, create)


def part_files(folder: Path) -> list[Path]:
    """The finished part files of a `rosetta batch` output folder, in order."""
    files = sorted(folder.glob("part-*.parquet")) + sorted(folder.glob("part-*.jsonl"))
    return [f for f in files if ".tmp-" not in f.name]


def read_part(path: Path) -> list[ImageDoc]:
    """The images of one part file (only the columns an index needs)."""
    if path.suffix == ".parquet":
        return _parquet_docs(path)
    with open(path, encoding="utf-8") as fh:
        return [ImageDoc.from_row(json.loads(line)) for line in fh if line.strip()]


def _parquet_docs(path: Path) -> list[ImageDoc]:
    """A Parquet part's images, its nested word lists flattened column-wise (5x faster than row dicts)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    t = pq.read_table(path, columns=["id", "path", "width", "height", "words"])
    words = t.column("words").combine_chunks()
    offsets = pc.list_value_length(words).fill_null(0).to_pylist()
    flat = pc.list_flatten(words)
    texts = pc.struct_field(flat, "text").to_pylist()
    confs = pc.struct_field(flat, "confidence").to_pylist()
    boxes = pc.struct_field(flat, "box")
    vals = pc.list_flatten(boxes).to_numpy(zero_copy_only=False).astype(float).round(2).tolist()
    starts = pc.list_value_length(boxes).to_pylist()
    out, k, b = [], 0, 0
    for key, p, w, h, n in zip(t.column("id").to_pylist(), t.column("path").to_pylist(), t.column("width").to_pylist(),
                               t.column("height").to_pylist(), offsets):
        ws = []
        for j in range(k, k + n):
            ws.append(WordDoc.make(texts[j], confs[j], vals[b:b + starts[j]]))
            b += starts[j]
        k += n
        out.append(ImageDoc(str(key), p, w, h, tuple(ws)))
    return out


class Index:
    """A search index over images' words: SQLite file (default) or PostgreSQL database."""

    def __init__(self, where: str | Path, create: bool = True, config: SearchConfig = SearchConfig()):
        self.store = open_store(where, create)
        self.config = config

    def __enter__(self) -> "Index":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.store.close()

    # ------------------------------------------------------------------ building
    def add(self, results: Iterable[Any], part: str | None = None) -> int:
        """Add Results, ImageDocs or batch rows (dicts), replacing images already indexed under the same key,
        in one transaction (with ``part``: recorded, and skipped if already recorded). Returns images added."""
        docs = [r if isinstance(r, ImageDoc) else ImageDoc.from_row(r) if isinstance(r, dict)
                else ImageDoc.from_result(r) for r in results]
        return self.store.add(docs, part)

    def add_parts(self, folder: str | Path, progress: bool = False) -> dict[str, int]:
        """Index the part files of a `rosetta batch` output folder that this index has not seen, each part in
        its own transaction. Returns counts: parts added and skipped, images added."""
        folder = Path(folder)
        if not folder.is_dir():
            raise SearchIndexError(f"{folder}: not a folder of `rosetta batch` output")
        files = part_files(folder)
        if not files:
            raise SearchIndexError(f"{folder}: no part files (part-*.parquet or part-*.jsonl) in it")
        prefix = _folder_id(folder)
        from tqdm import tqdm

        added = skipped = images = 0
        for f in tqdm(files, unit="part", disable=not progress):
            name = f"{prefix}/{f.name}"
            if self.store.has_part(name):
                skipped += 1
                continue
            try:
                rows = read_part(f)
            except Exception as exc:  # noqa: BLE001 - named and re-raised with the file
                raise SearchIndexError(f"{f}: cannot read this part ({type(exc).__name__}: {exc})") from exc
            n = self.store.add(rows, part=name)
            added, images = added + (1 if n or not rows else 0), images + n
        return {"parts_added": added, "parts_skipped": skipped, "images_added": images}

    def set_tags(self, tags: dict[str, Sequence[Tag]]) -> int:
        """Replace the tags of images (by key); returns how many images were in the index."""
        return self.store.set_tags(tags)

    def docs(self) -> Iterable[ImageDoc]:
        """Every indexed image with its words."""
        return self.store.iter_docs()

    def counts(self) -> dict[str, int]:
        try:
            return self.store.counts()
        finally:
            self.store.release()

    # ------------------------------------------------------------------ searching
    def expand(self, term: str) -> dict[str, int]:
        """Index terms a query term matches -> edit distance (the term itself at 0, even if absent)."""
        out = {term: 0}
        k = max_edits(term, self.config.one_edit_from, self.config.two_edits_from) if self.config.fuzzy else 0
        if k:
            ps = pieces(term, k)
            for c in self.store.candidates(ps[0], ps[-1], ps[1:-1], len(term) - k, len(term) + k):
                d = distance(term, c, k)
                if d <= k and c not in out:
                    out[c] = d
        return out

    def search(self, query: str, limit: int = 10, label: str | None = None) -> list[Hit]:
        """The ``limit`` best images for ``query`` (see :mod:`rosetta.search.query`); ``label`` keeps only
        images tagged with it (an empty query then lists them by tag score)."""
        clauses = parse(query)
        allowed = self.store.labelled(label) if label else None
        if not clauses:
            if allowed is None:
                return []
            top = sorted(allowed.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
            try:
                return self._hits([(i, 0, s, []) for i, s in top])
            finally:
                self.store.release()
        qterms = list(dict.fromkeys(t for c in clauses for t in c.terms))
        expansions = {t: self.expand(t) for t in qterms}
        every = list(dict.fromkeys(t for e in expansions.values() for t in e))
        counts = self.store.term_counts(every)
        postings = self._postings(clauses, expansions, counts)
        if len(postings) >= self.config.postings_cap:
            log.warning("query %r: more than %d matching words; ranking the first ones", query,
                        self.config.postings_cap)

        found = collect(postings, expansions, counts, self.store.size())
        try:
            return self._hits(rank(clauses, found, limit, set(allowed) if allowed is not None else None))
        finally:
            self.store.release()

    def _postings(self, clauses: list, expansions: dict[str, dict[str, int]], counts: dict[str, int]) -> list:
        """The words holding the query's terms (expansions included). Ordinary terms: all their words.
        Common terms (in more than ``common_cap`` words): their words in the images the ordinary terms found;
        a clause of common terms only also gets the first ``common_cap`` words of its rarest term."""
        cfg = self.config
        every = list(dict.fromkeys(t for e in expansions.values() for t in e))
        common = {t for t in every if counts.get(t, 0) > cfg.common_cap}
        rare = [t for t in every if t not in common]
        got = {p.word: p for p in self.store.postings(rare, cfg.postings_cap)} if rare else {}
        if common and got:  # common terms: only their words in the images the other terms found
            images = {p.image for p in got.values()}
            got.update((p.word, p) for p in self.store.postings(sorted(common), cfg.complete_words, images))
        for c in clauses:
            if all(t in common for q in c.terms for t in expansions[q]):
                anchor = min(c.terms, key=lambda q: sum(counts.get(t, 0) for t in expansions[q]))
                for t in expansions[anchor]:
                    got.update((p.word, p) for p in self.store.postings([t], cfg.common_cap))
                others = sorted({t for q in c.terms if q != anchor for t in expansions[q]})
                if others:  # the clause's other terms, in the images its anchor was sampled in
                    images = {p.image for p in got.values()}
                    got.update((p.word, p) for p in self.store.postings(others, cfg.complete_words, images))
        return list(got.values())

    def _hits(self, ranked: list[tuple[int, int, float, list]]) -> list[Hit]:
        ids = [r[0] for r in ranked]
        images = self.store.images(ids)
        tags = self.store.tags_of(ids)
        words = self.store.words([m.posting.word for r in ranked for m in r[3]])
        hits = []
        for image, matched, score, used in ranked:
            hw = {}
            for m in used:
                w = words[m.posting.word]
                if w.id not in hw or m.distance < hw[w.id][1].distance:
                    hw[w.id] = (w.idx, HitWord(w.text, w.confidence, w.box, m.term, m.distance))
            img = images[image]
            hits.append(Hit(img.key, img.path, score, matched, tuple(h for _, h in sorted(hw.values(),
                                                                                       key=lambda x: x[0])),
                            tuple(tags.get(image, ()))))
        return hits


def _folder_id(folder: Path) -> str:
    """A batch output folder's identity: its manifest's listing digest (stable if the folder moves), else
    its resolved path."""
    m = folder / "_manifest.json"
    if m.exists():
        try:
            return "batch:" + json.loads(m.read_text())["digest"][:16]
        except (ValueError, KeyError):
            log.warning("%s: unreadable manifest; parts are named by the folder's path", m)
    return "folder:" + str(folder.resolve())


__all__ = ["Index", "SearchConfig", "Hit", "HitWord", "open_store", "part_files", "read_part"]
