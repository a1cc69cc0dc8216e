"""The storage interface every index backend implements (SQLite, PostgreSQL), and the shared SQL.

A store keeps images, their words (reading order, text, terms, confidence, box), the vocabulary of terms
with their word counts, the batch parts already indexed, and tags. :meth:`Store.add` writes a list of images
and, when given, the name of the part they came from, in one transaction: a killed run leaves either all of
a part or none of it, and a part already recorded is skipped, so re-running adds only what is new.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, NamedTuple, Sequence

from rosetta.search.records import ImageDoc, WordDoc

log = logging.getLogger(__name__)
SCHEMA = "rosetta.index/1"
CHUNK = 500  # ids per IN (...) list


class SearchIndexError(RuntimeError):
    """An index that cannot be opened, created or written (the message names it and says why)."""


class Posting(NamedTuple):  # a tuple: queries build thousands of them
    word: int  # word row id
    image: int  # image row id
    idx: int  # the word's position in its image's reading order
    terms: tuple[str, ...]  # the word's terms
    confidence: float


@dataclass(frozen=True)
class StoredWord:
    id: int
    image: int
    idx: int
    text: str
    confidence: float
    box: tuple[float, ...]


@dataclass(frozen=True)
class StoredImage:
    id: int
    key: str
    path: str | None
    width: int | None
    height: int | None


@dataclass(frozen=True)
class Tag:
    label: str
    kind: str  # "class" or "entity"
    score: float
    words: tuple[str, ...]


class Store:
    """Shared logic over a DB-API connection; subclasses give the dialect (placeholders, bulk writes,
    term lookups). Queries are written with ``?`` placeholders and translated by :meth:`q`."""

    name = "store"
    placeholder = "?"

    def __init__(self, conn: Any, where: str):
        self.conn, self.where = conn, where

    # ------------------------------------------------------------------ dialect hooks
    def q(self, sql: str) -> str:
        return sql if self.placeholder == "?" else sql.replace("?", self.placeholder)

    def begin_write(self) -> None:
        raise NotImplementedError

    def claim_part(self, part: str, images: int) -> bool:
        """Record ``part`` inside the open transaction; False when it was already indexed."""
        raise NotImplementedError

    def insert_images(self, docs: Sequence[ImageDoc]) -> None:
        raise NotImplementedError

    def postings(self, terms: Sequence[str], cap: int, images: set[int] | None = None) -> list[Posting]:
        """Words holding any of ``terms`` (at most ``cap`` read), only those in ``images`` when given."""
        raise NotImplementedError

    def candidates(self, first: str, last: str, middles: Sequence[str], lo: int, hi: int) -> list[str]:
        raise NotImplementedError

    # ------------------------------------------------------------------ writing
    def add(self, docs: Sequence[ImageDoc], part: str | None = None) -> int:
        """Add ``docs`` (replacing images of the same key) in one transaction; with ``part``, record it and
        add nothing if it was already recorded. Returns the number of images written."""
        try:
            self.begin_write()
            if part is not None and not self.claim_part(part, len(docs)):
                self.conn.rollback()
                return 0
            docs = list({d.key: d for d in docs}.values())  # a key twice in one call: the last wins
            self._delete_keys([d.key for d in docs])
            self.insert_images(docs)
            self._count_terms(Counter(t for d in docs for w in d.words for t in set(w.terms)), +1)
            self.conn.commit()
        except BaseException:
            self.conn.rollback()
            raise
        return len(docs)

    def _delete_keys(self, keys: Sequence[str]) -> None:
        for i in range(0, len(keys), CHUNK):
            chunk = keys[i:i + CHUNK]
            marks = ",".join("?" * len(chunk))
            ids = [r[0] for r in self.execute(f"SELECT id FROM images WHERE key IN ({marks})", chunk)]
            if not ids:
                continue
            imarks = ",".join("?" * len(ids))
            old = Counter(t for (ts,) in self.execute(f"SELECT terms FROM words WHERE image IN ({imarks})", ids)
                          for t in set(self.split_terms(ts)))
            self._count_terms(old, -1)
            self.delete_words(ids)
            self.execute(f"DELETE FROM tags WHERE image IN ({imarks})", ids)
            self.execute(f"DELETE FROM images WHERE id IN ({imarks})", ids)

    def delete_words(self, image_ids: Sequence[int]) -> None:
        self.execute(f"DELETE FROM words WHERE image IN ({','.join('?' * len(image_ids))})", image_ids)

    def _count_terms(self, counts: Counter, sign: int) -> None:
        rows = sorted((t, t[::-1], sign * n) for t, n in counts.items())  # sorted: one lock order for all writers
        if rows:
            self.executemany("INSERT INTO terms(term, rev, n) VALUES (?, ?, ?) "
                             "ON CONFLICT (term) DO UPDATE SET n = terms.n + excluded.n", rows)

    def set_tags(self, tags: dict[str, Sequence[Tag]]) -> int:
        """Replace the tags of the images named (by key) in ``tags``; keys not in the index are skipped.
        Returns the number of images tagged."""
        done = 0
        try:
            self.begin_write()
            keys = list(tags)
            for i in range(0, len(keys), CHUNK):
                chunk = keys[i:i + CHUNK]
                ids = dict(self.execute(f"SELECT key, id FROM images WHERE key IN ({','.join('?' * len(chunk))})",
                                        chunk).fetchall())
                if not ids:
                    continue
                self.execute(f"DELETE FROM tags WHERE image IN ({','.join('?' * len(ids))})", list(ids.values()))
                rows = [(ids[k], t.label, t.kind, float(t.score), json.dumps(list(t.words), ensure_ascii=False))
                        for k in chunk if k in ids for t in tags[k]]
                if rows:
                    self.executemany("INSERT INTO tags(image, label, kind, score, words) VALUES (?, ?, ?, ?, ?)", rows)
                done += len(ids)
            self.conn.commit()
        except BaseException:
            self.conn.rollback()
            raise
        return done

    # ------------------------------------------------------------------ reading
    def execute(self, sql: str, params: Sequence = ()):
        return self.conn.execute(self.q(sql), tuple(params))

    def executemany(self, sql: str, rows: Iterable[Sequence]) -> None:
        self.conn.cursor().executemany(self.q(sql), list(rows))

    @staticmethod
    def split_terms(value: Any) -> tuple[str, ...]:
        return tuple(value.split()) if isinstance(value, str) else tuple(value or ())

    def has_part(self, part: str) -> bool:
        return self.execute("SELECT 1 FROM parts WHERE name = ?", (part,)).fetchone() is not None

    def size(self) -> int:
        """About how many images the index holds (the largest image id: one indexed lookup)."""
        return int(self.execute("SELECT max(id) FROM images").fetchone()[0] or 0)

    def parts(self) -> list[str]:
        return [r[0] for r in self.execute("SELECT name FROM parts ORDER BY name")]

    def counts(self) -> dict[str, int]:
        """Images, words, distinct terms and parts in the index."""
        return {t: int(self.execute(f"SELECT count(*) FROM {t}").fetchone()[0])
                for t in ("images", "words", "terms", "parts")}

    def term_counts(self, terms: Sequence[str]) -> dict[str, int]:
        terms = list(dict.fromkeys(terms))
        if not terms:
            return {}
        return {t: int(n) for t, n in self.execute(
            f"SELECT term, n FROM terms WHERE term IN ({','.join('?' * len(terms))})", terms)}

    def words(self, ids: Sequence[int]) -> dict[int, StoredWord]:
        out: dict[int, StoredWord] = {}
        ids = list(dict.fromkeys(ids))
        for i in range(0, len(ids), CHUNK):
            chunk = ids[i:i + CHUNK]
            for r in self.execute("SELECT id, image, idx, text, confidence, box FROM words "
                                  f"WHERE id IN ({','.join('?' * len(chunk))})", chunk):
                out[r[0]] = StoredWord(r[0], r[1], r[2], r[3], float(r[4]), tuple(json.loads(r[5])))
        return out

    def images(self, ids: Sequence[int]) -> dict[int, StoredImage]:
        out: dict[int, StoredImage] = {}
        ids = list(dict.fromkeys(ids))
        for i in range(0, len(ids), CHUNK):
            chunk = ids[i:i + CHUNK]
            for r in self.execute("SELECT id, key, path, width, height FROM images "
                                  f"WHERE id IN ({','.join('?' * len(chunk))})", chunk):
                out[r[0]] = StoredImage(*r)
        return out

    def tags_of(self, image_ids: Sequence[int]) -> dict[int, list[Tag]]:
        out: dict[int, list[Tag]] = {}
        ids = list(dict.fromkeys(image_ids))
        for i in range(0, len(ids), CHUNK):
            chunk = ids[i:i + CHUNK]
            for img, label, kind, score, words in self.execute(
                    "SELECT image, label, kind, score, words FROM tags "
                    f"WHERE image IN ({','.join('?' * len(chunk))}) ORDER BY score DESC", chunk):
                out.setdefault(img, []).append(Tag(label, kind, float(score), tuple(json.loads(words))))
        return out

    def labelled(self, label: str) -> dict[int, float]:
        """Image id -> score of the images tagged ``label``."""
        return {int(i): float(s) for i, s in self.execute("SELECT image, score FROM tags WHERE label = ?", (label,))}

    def iter_docs(self, batch: int = 1000) -> Iterator[ImageDoc]:
        """Every image with its words, in id order (for tagging an index)."""
        last = -1
        while True:
            imgs = self.execute("SELECT id, key, path, width, height FROM images WHERE id > ? ORDER BY id LIMIT ?",
                                (last, batch)).fetchall()
            if not imgs:
                return
            ids = [r[0] for r in imgs]
            words: dict[int, list[WordDoc]] = {}
            for img, text, conf, box, ts in self.execute(
                    "SELECT image, text, confidence, box, terms FROM words "
                    f"WHERE image IN ({','.join('?' * len(ids))}) ORDER BY image, idx", ids):
                words.setdefault(img, []).append(WordDoc(text, float(conf), tuple(json.loads(box)),
                                                         self.split_terms(ts)))
            for i, key, path, w, h in imgs:
                yield ImageDoc(key, path, w, h, tuple(words.get(i, ())))
            last = ids[-1]

    def release(self) -> None:
        """End a read: PostgreSQL opens a transaction on the first statement; a server must not sit in it."""

    def close(self) -> None:
        self.conn.close()


def word_rows(docs: Sequence[ImageDoc], image_ids: Sequence[int], join_terms: bool) -> Iterator[tuple]:
    """(image, idx, text, terms, confidence, box) rows for inserting ``docs``' words."""
    for doc, iid in zip(docs, image_ids):
        for k, w in enumerate(doc.words):
            yield (iid, k, w.text, " ".join(w.terms) if join_terms else list(w.terms), round(w.confidence, 4),
                   "[%.2f,%.2f,%.2f,%.2f,%.2f]" % tuple(w.box))


__all__ = ["SCHEMA", "SearchIndexError", "Posting", "StoredWord", "StoredImage", "Tag", "Store", "word_rows"]
