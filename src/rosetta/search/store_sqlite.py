"""The embedded index: one SQLite file, words in an FTS5 table, the vocabulary in a trigram FTS5 table.

WAL journal (readers never wait for a writer), one ``BEGIN IMMEDIATE`` transaction per part.

>>> import tempfile, os
>>> from rosetta.search.records import ImageDoc, WordDoc
>>> s = SQLiteStore.open(os.path.join(tempfile.mkdtemp(), "i.db"), create=True)
>>> s.add([ImageDoc("a", None, 10, 10, (WordDoc.make("Pharmacy", 0.9, (5, 5, 8, 4, 0)),))], part="p1")
1
>>> s.add([], part="p1"), [p.image for p in s.postings(["pharmacy"], 10)], s.candidates("ph", "macy", [], 7, 9)
(0, [1], ['pharmacy'])
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Sequence

from rosetta.search.records import ImageDoc
from rosetta.search.store import CHUNK, SCHEMA, Posting, SearchIndexError, Store, word_rows

DDL = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS parts(name TEXT PRIMARY KEY, images INTEGER, added TEXT DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE IF NOT EXISTS images(id INTEGER PRIMARY KEY, key TEXT UNIQUE NOT NULL, path TEXT, width INTEGER,
                                  height INTEGER);
CREATE TABLE IF NOT EXISTS words(id INTEGER PRIMARY KEY, image INTEGER NOT NULL, idx INTEGER NOT NULL, text TEXT,
                                 terms TEXT, confidence REAL, box TEXT);
CREATE INDEX IF NOT EXISTS words_image ON words(image, idx);
CREATE VIRTUAL TABLE IF NOT EXISTS words_fts USING fts5(terms, content='words', content_rowid='id',
                                                        tokenize='unicode61 remove_diacritics 0');
CREATE TABLE IF NOT EXISTS terms(id INTEGER PRIMARY KEY, term TEXT UNIQUE NOT NULL, rev TEXT NOT NULL,
                                 n INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS terms_rev ON terms(rev);
CREATE VIRTUAL TABLE IF NOT EXISTS terms_tri USING fts5(term, content='terms', content_rowid='id',
                                                        tokenize='trigram');
CREATE TABLE IF NOT EXISTS tags(image INTEGER NOT NULL, label TEXT NOT NULL, kind TEXT, score REAL, words TEXT,
                                PRIMARY KEY(image, label));
CREATE INDEX IF NOT EXISTS tags_label ON tags(label, score);
"""
IMAGES_IN_SQL = 2000  # up to this many images, a posting lookup restricted to them filters in SQL
TOP = "\U0010ffff"  # sorts after every character: [p, p + TOP) is the range of terms starting with p


class SQLiteStore(Store):
    name = "sqlite"

    @classmethod
    def open(cls, path: str | os.PathLike, create: bool = False) -> "SQLiteStore":
        """Open the index file at ``path``; ``create`` makes it when missing (its folder must exist)."""
        p = Path(path)
        if p.is_dir():
            raise SearchIndexError(f"index {p}: is a folder; give a file name such as {p / 'index.db'}")
        if not p.exists():
            if not create:
                raise SearchIndexError(f"index {p}: no such file (build one with `rosetta index OUT_FOLDER --db {p}`)")
            if not p.parent.is_dir():
                raise SearchIndexError(f"index {p}: folder {p.parent} does not exist")
        try:
            conn = sqlite3.connect(str(p), isolation_level=None, timeout=60.0, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            store = cls(conn, str(p))
            store._check_schema(create)
        except sqlite3.DatabaseError as exc:
            raise SearchIndexError(f"index {p}: not a Rosetta index ({exc})") from exc
        return store

    def _check_schema(self, create: bool) -> None:
        has_meta = self.conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone()
        if has_meta:
            row = self.conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if not row or row[0] != SCHEMA:
                raise SearchIndexError(f"index {self.where}: schema {row[0] if row else None!r}, "
                                       f"this version reads {SCHEMA}")
            return
        if self.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            raise SearchIndexError(f"index {self.where}: an SQLite file that is not a Rosetta index")
        if not create:
            raise SearchIndexError(f"index {self.where}: empty file, not a Rosetta index (yet)")
        self.conn.executescript("BEGIN IMMEDIATE;" + DDL +
                                f"INSERT OR IGNORE INTO meta VALUES ('schema', '{SCHEMA}'); COMMIT;")

    def begin_write(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def claim_part(self, part: str, images: int) -> bool:
        cur = self.conn.execute("INSERT INTO parts(name, images) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                                (part, images))
        return cur.rowcount == 1

    def insert_images(self, docs: Sequence[ImageDoc]) -> None:
        if not docs:
            return
        first = (self.conn.execute("SELECT max(id) FROM images").fetchone()[0] or 0) + 1
        ids = list(range(first, first + len(docs)))
        self.conn.executemany("INSERT INTO images(id, key, path, width, height) VALUES (?, ?, ?, ?, ?)",
                              [(i, d.key, d.path, d.width, d.height) for i, d in zip(ids, docs)])
        w0 = (self.conn.execute("SELECT max(id) FROM words").fetchone()[0] or 0) + 1
        rows = list(word_rows(docs, ids, join_terms=True))
        self.conn.executemany("INSERT INTO words(id, image, idx, text, terms, confidence, box) "
                              "VALUES (?, ?, ?, ?, ?, ?, ?)", [(w0 + k, *r) for k, r in enumerate(rows)])
        self.conn.execute("INSERT INTO words_fts(rowid, terms) SELECT id, terms FROM words WHERE id >= ?", (w0,))

    def _count_terms(self, counts, sign: int) -> None:
        """Upsert the counts, then put the new terms of 7+ letters (those 2 edits may reach, found by their
        middle pieces) into the trigram table in one statement (4x cheaper than a trigger per row)."""
        before = self.conn.execute("SELECT max(id) FROM terms").fetchone()[0] or 0
        super()._count_terms(counts, sign)
        self.conn.execute("INSERT INTO terms_tri(rowid, term) SELECT id, term FROM terms WHERE id > ? "
                          "AND length(term) >= 7", (before,))

    def delete_words(self, image_ids: Sequence[int]) -> None:
        marks = ",".join("?" * len(image_ids))
        self.conn.execute("INSERT INTO words_fts(words_fts, rowid, terms) SELECT 'delete', id, terms FROM words "
                          f"WHERE image IN ({marks})", tuple(image_ids))
        super().delete_words(image_ids)

    def postings(self, terms: Sequence[str], cap: int, images: set[int] | None = None) -> list[Posting]:
        if not terms:
            return []
        match = " OR ".join(f'"{t}"' for t in dict.fromkeys(terms))
        sql = ("SELECT id, image, idx, terms, confidence FROM words WHERE id IN "
               "(SELECT rowid FROM words_fts WHERE words_fts MATCH ? LIMIT ?)")
        if images is not None and len(images) <= IMAGES_IN_SQL:  # few images: their words, checked against the terms
            ids = sorted(images)
            rows = [r for i in range(0, len(ids), CHUNK) for r in self.conn.execute(
                sql + f" AND image IN ({','.join('?' * len(ids[i:i + CHUNK]))})", (match, cap, *ids[i:i + CHUNK]))]
        else:
            rows = self.conn.execute(sql, (match, cap)).fetchall()
        return [Posting(i, img, k, tuple(ts.split()) if " " in ts else (ts,), c) for i, img, k, ts, c in rows
                if images is None or img in images]

    def candidates(self, first: str, last: str, middles: Sequence[str], lo: int, hi: int) -> list[str]:
        out = [r[0] for r in self.conn.execute(
            "SELECT term FROM terms WHERE term >= ? AND term < ? AND length(term) BETWEEN ? AND ?",
            (first, first + TOP, lo, hi))]
        rev = last[::-1]
        out += [r[0] for r in self.conn.execute(
            "SELECT term FROM terms WHERE rev >= ? AND rev < ? AND length(term) BETWEEN ? AND ?",
            (rev, rev + TOP, lo, hi))]
        for m in middles:
            if len(m) >= 3 and lo >= 7:  # the trigram index holds terms of 7+ letters (the 2-edit ones)
                out += [r[0] for r in self.conn.execute(
                    "SELECT term FROM terms WHERE id IN (SELECT rowid FROM terms_tri WHERE terms_tri MATCH ?) "
                    "AND length(term) BETWEEN ? AND ?", (f'"{m}"', lo, hi))]
            elif m:  # shorter terms allowed 2 edits (a config below the default): a scan, slow but complete
                out += [r[0] for r in self.conn.execute(
                    "SELECT term FROM terms WHERE instr(term, ?) > 0 AND length(term) BETWEEN ? AND ?", (m, lo, hi))]
        return list(dict.fromkeys(out))


__all__ = ["SQLiteStore"]
