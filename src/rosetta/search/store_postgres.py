"""The shared index: the same tables on PostgreSQL, for many machines writing and searching at once.

Words carry their terms as a ``text[]`` under a GIN index; the vocabulary has B-tree pattern indexes on the
term and on its reverse (prefix and suffix lookups) and a ``pg_trgm`` GIN index (substring lookups). Writes
use COPY; a part is claimed with ``INSERT ... ON CONFLICT DO NOTHING`` inside its transaction, so two
machines indexing the same folder add each part once. Needs ``pip install 'rosetta-ocr[pg]'`` (psycopg 3).
"""

from __future__ import annotations

import re
from typing import Sequence

from rosetta.search.records import ImageDoc
from rosetta.search.store import SCHEMA, Posting, SearchIndexError, Store, word_rows

DDL = """
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS parts(name TEXT PRIMARY KEY, images INTEGER, added TIMESTAMPTZ DEFAULT now());
CREATE TABLE IF NOT EXISTS images(id BIGSERIAL PRIMARY KEY, key TEXT UNIQUE NOT NULL, path TEXT, width INTEGER,
                                  height INTEGER);
CREATE TABLE IF NOT EXISTS words(id BIGSERIAL PRIMARY KEY, image BIGINT NOT NULL, idx INTEGER NOT NULL, text TEXT,
                                 terms TEXT[], confidence REAL, box TEXT);
CREATE INDEX IF NOT EXISTS words_image ON words(image, idx);
CREATE INDEX IF NOT EXISTS words_terms ON words USING GIN(terms);
CREATE TABLE IF NOT EXISTS terms(term TEXT PRIMARY KEY, rev TEXT NOT NULL, n BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS terms_prefix ON terms(term text_pattern_ops);
CREATE INDEX IF NOT EXISTS terms_rev ON terms(rev text_pattern_ops);
CREATE INDEX IF NOT EXISTS terms_trgm ON terms USING GIN(term gin_trgm_ops) WHERE char_length(term) >= 7;
CREATE TABLE IF NOT EXISTS tags(image BIGINT NOT NULL, label TEXT NOT NULL, kind TEXT, score REAL, words TEXT,
                                PRIMARY KEY(image, label));
CREATE INDEX IF NOT EXISTS tags_label ON tags(label, score);
"""


def redact(dsn: str) -> str:
    """The DSN without its password, for messages.

    >>> redact("postgresql://me:secret@db:5432/ocr"), redact("host=/tmp dbname=x password=p")
    ('postgresql://me:***@db:5432/ocr', 'host=/tmp dbname=x password=***')
    """
    dsn = re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", dsn)
    return re.sub(r"(password=)\S+", r"\1***", dsn)


def is_dsn(where: str) -> bool:
    """Does ``where`` name a PostgreSQL database rather than an index file?

    >>> is_dsn("postgresql://localhost/ocr"), is_dsn("index.db")
    (True, False)
    """
    return where.startswith(("postgresql://", "postgres://")) or ("dbname=" in where and "=" in where.split()[0])


class PostgresStore(Store):
    name = "postgres"
    placeholder = "%s"

    @classmethod
    def open(cls, dsn: str, create: bool = False) -> "PostgresStore":
        try:
            import psycopg
        except ImportError as exc:
            raise SearchIndexError("a PostgreSQL index needs psycopg 3: pip install 'rosetta-ocr[pg]'") from exc
        try:
            conn = psycopg.connect(dsn, connect_timeout=10)
        except psycopg.OperationalError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SearchIndexError(f"index {redact(dsn)}: cannot connect to PostgreSQL ({first}); is the server "
                                   "running and the address right?") from exc
        store = cls(conn, redact(dsn))
        store._check_schema(create)
        return store

    def _check_schema(self, create: bool) -> None:
        has_meta = self.conn.execute("SELECT to_regclass('meta')").fetchone()[0]
        if has_meta:
            row = self.conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            self.conn.commit()
            if not row or row[0] != SCHEMA:
                raise SearchIndexError(f"index {self.where}: schema {row[0] if row else None!r}, "
                                       f"this version reads {SCHEMA}")
            return
        if not create:
            self.conn.rollback()
            raise SearchIndexError(f"index {self.where}: the database holds no Rosetta index "
                                   f"(build one with `rosetta index OUT_FOLDER --db ...`)")
        self.conn.execute("SELECT pg_advisory_xact_lock(8127)")  # two machines creating it at once
        self.conn.execute(DDL)
        self.conn.execute("INSERT INTO meta VALUES ('schema', %s) ON CONFLICT DO NOTHING", (SCHEMA,))
        self.conn.commit()

    def release(self) -> None:
        self.conn.rollback()

    def begin_write(self) -> None:
        self.conn.rollback()  # psycopg opens a transaction on the first statement; start from a clean one

    def claim_part(self, part: str, images: int) -> bool:
        cur = self.conn.execute("INSERT INTO parts(name, images) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING",
                                (part, images))
        return cur.rowcount == 1

    def insert_images(self, docs: Sequence[ImageDoc]) -> None:
        if not docs:
            return
        ids = [r[0] for r in self.conn.execute("SELECT nextval('images_id_seq') FROM generate_series(1, %s)",
                                               (len(docs),))]
        cur = self.conn.cursor()
        with cur.copy("COPY images(id, key, path, width, height) FROM STDIN") as cp:
            for i, d in zip(ids, docs):
                cp.write_row((i, d.key, d.path, d.width, d.height))
        with cur.copy("COPY words(image, idx, text, terms, confidence, box) FROM STDIN") as cp:
            for row in word_rows(docs, ids, join_terms=False):
                cp.write_row(row)

    def _count_terms(self, counts, sign: int) -> None:
        rows = sorted(counts.items())  # sorted: one lock order for concurrent writers
        if rows:
            self.conn.execute(
                "INSERT INTO terms(term, rev, n) SELECT t, reverse(t), c FROM unnest(%s::text[], %s::bigint[]) AS u(t, c) "
                "ON CONFLICT (term) DO UPDATE SET n = terms.n + excluded.n",
                ([t for t, _ in rows], [sign * n for _, n in rows]))

    def postings(self, terms: Sequence[str], cap: int, images: set[int] | None = None) -> list[Posting]:
        if not terms:
            return []
        if images is not None:
            rows = self.conn.execute("SELECT id, image, idx, terms, confidence FROM words WHERE terms && %s::text[] "
                                     "AND image = ANY(%s) LIMIT %s", (list(dict.fromkeys(terms)), sorted(images), cap)).fetchall()
        else:
            rows = self.conn.execute("SELECT id, image, idx, terms, confidence FROM words WHERE terms && %s::text[] "
                                     "LIMIT %s", (list(dict.fromkeys(terms)), cap)).fetchall()
        self.conn.rollback()  # readers hold no transaction open between queries
        return [Posting(i, img, k, tuple(ts), c) for i, img, k, ts, c in rows if images is None or img in images]

    def candidates(self, first: str, last: str, middles: Sequence[str], lo: int, hi: int) -> list[str]:
        parts = ["SELECT term FROM terms WHERE term LIKE %s AND char_length(term) BETWEEN %s AND %s",
                 "SELECT term FROM terms WHERE rev LIKE %s AND char_length(term) BETWEEN %s AND %s"]
        params: list = [first + "%", lo, hi, last[::-1] + "%", lo, hi]
        for m in middles:
            if m:  # substrings: the trigram index (terms of 7+ letters, the 2-edit ones), else a scan
                parts.append("SELECT term FROM terms WHERE term LIKE %s AND char_length(term) BETWEEN %s AND %s"
                             + (" AND char_length(term) >= 7" if lo >= 7 else ""))
                params += ["%" + m + "%", lo, hi]
        rows = self.conn.execute(" UNION ".join(parts), params).fetchall()
        self.conn.rollback()
        return [r[0] for r in rows]


__all__ = ["PostgresStore", "redact", "is_dsn"]
