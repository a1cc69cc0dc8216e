"""Batch OCR at scale: shards of inputs -> atomic Parquet (or JSONL) part files, resumable, exactly once.

The input listing is split into fixed shards (``batch_size`` images each, in listing order); shard ``k``
is done exactly when ``part-k.parquet`` exists, because a part is written to a temporary name and
renamed. A re-run after a crash, kill -9 or Ctrl-C skips done shards and redoes the rest, so every
input lands in the output exactly once. ``_manifest.json`` pins the listing: a re-run on other inputs
is refused rather than mixed in.

One pure function, :func:`process_shard`, reads a shard and writes its part; the ``local`` engine
runs it in N worker processes (each loads the models once), the ``ray`` engine in a Ray Data actor
pool (``map_batches``), so both produce the same files.

>>> Shard(3, ("a.jpg", "b.jpg"), ("a.jpg", "b.jpg")).name("parquet")
'part-00003.parquet'
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

from rosetta.config import ReadConfig
from rosetta.inputs import expand

log = logging.getLogger(__name__)

MANIFEST = "_manifest.json"


@dataclass(frozen=True)
class Shard:
    index: int
    ids: tuple[str, ...]  # row ids (the path as listed, or a table's id column)
    sources: tuple[Any, ...]  # paths (str) or raw bytes

    def name(self, fmt: str) -> str:
        return f"part-{self.index:05d}.{fmt}"


@dataclass(frozen=True)
class BatchConfig:
    output: str
    fmt: str = "parquet"  # or "jsonl"
    batch_size: int = 16  # images per shard (and per part file)
    workers: int = 1
    read: ReadConfig = ReadConfig()  # how every image is read; its ``threads`` are per worker (None: 1)

    @property
    def threads_per_worker(self) -> int:
        return self.read.threads or 1


# ----------------------------------------------------------------------------- inputs
def list_inputs(spec: str) -> tuple[list[str], list[Any]]:
    """(ids, sources) from a directory, a glob, a text file of paths, or a Parquet/JSONL table with a
    ``path`` or ``bytes`` column (and optionally ``id``)."""
    p = Path(spec)
    if p.is_file() and p.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        return _from_rows(pq.read_table(p).to_pylist(), spec)
    if p.is_file() and p.suffix.lower() in (".jsonl", ".ndjson"):
        rows = [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
        return _from_rows(rows, spec)
    if p.is_file() and p.suffix.lower() in (".txt", ".lst", ".list"):
        paths = expand([], list_file=str(p))
    else:
        paths = expand([spec])
    return list(paths), list(paths)


def _from_rows(rows: list[dict], spec: str) -> tuple[list[str], list[Any]]:
    if not rows:
        return [], []
    if "path" in rows[0]:
        col = "path"
    elif "bytes" in rows[0]:
        col = "bytes"
    else:
        raise ValueError(f"{spec}: a table input needs a 'path' or 'bytes' column (has {sorted(rows[0])})")
    ids = [str(r.get("id", r.get("path", i))) for i, r in enumerate(rows)]
    if col == "bytes":
        import base64

        srcs = [r["bytes"] if isinstance(r["bytes"], (bytes, bytearray)) else base64.b64decode(r["bytes"])
                for r in rows]
    else:
        srcs = [r["path"] for r in rows]
    return ids, srcs


def make_shards(ids: Sequence[str], sources: Sequence[Any], batch_size: int) -> list[Shard]:
    return [Shard(k // batch_size, tuple(ids[k:k + batch_size]), tuple(sources[k:k + batch_size]))
            for k in range(0, len(ids), batch_size)]


def listing_digest(ids: Sequence[str], batch_size: int) -> str:
    h = hashlib.sha256(str(batch_size).encode())
    for i in ids:
        h.update(i.encode("utf-8", "surrogateescape") + b"\0")
    return h.hexdigest()


def reading_settings(cfg: BatchConfig) -> dict[str, Any]:
    """What decides the words of a row (every reading setting but the threads): a resumed run must read as the
    first one did.

    >>> s = reading_settings(BatchConfig(output="o", read=ReadConfig(int8=True, scale=2.5)))
    >>> s["int8"], s["scale"], "threads" in s
    (True, 2.5, False)
    """
    settings = {k: v for k, v in cfg.read.to_dict().items() if k != "threads"}
    return json.loads(json.dumps(settings))  # as the manifest holds them (lists, not tuples)


def check_manifest(out: Path, ids: Sequence[str], cfg: BatchConfig) -> None:
    """Write the manifest on the first run; refuse a re-run whose inputs, shard size, format or reading
    settings differ (its rows would not be comparable with those already written)."""
    out.mkdir(parents=True, exist_ok=True)
    m = out / MANIFEST
    digest = listing_digest(ids, cfg.batch_size)
    settings = reading_settings(cfg)
    if m.exists():
        old = json.loads(m.read_text())
        if old.get("digest") != digest or old.get("format") != cfg.fmt:
            raise SystemExit(f"rosetta batch: error: {out} holds output of other inputs or settings "
                             f"({old.get('images')} images, batch size {old.get('batch_size')}, {old.get('format')}); "
                             "use a new output folder")
        before = old.get("reading", settings)  # manifests written before it was recorded: not checked
        # settings a manifest did not record yet (older versions recorded six) are not checked
        changed = {k: (before.get(k), v) for k, v in settings.items() if k in before and before[k] != v}
        if changed:
            said = ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in changed.items())
            raise SystemExit(f"rosetta batch: error: {out} was read with other settings ({said}); rerun with the "
                             "same ones to resume, or use a new output folder")
        return
    tmp = m.with_suffix(".tmp")
    tmp.write_text(json.dumps({"digest": digest, "images": len(ids), "batch_size": cfg.batch_size,
                               "format": cfg.fmt, "reading": settings,
                               "created": time.strftime("%Y-%m-%d %H:%M:%S")}, indent=2))
    tmp.replace(m)


def pending(shards: Sequence[Shard], out: Path, fmt: str) -> list[Shard]:
    """Shards whose part file is missing; stray temporary files of killed runs are removed."""
    for t in out.glob("*.tmp-*"):
        t.unlink(missing_ok=True)
    return [s for s in shards if not (out / s.name(fmt)).exists()]


# ----------------------------------------------------------------------------- the shared per-shard function
def result_rows(shard: Shard, results: Sequence, version: str) -> list[dict]:
    """Batch rows for a shard's results: one per image, words as a nested list."""
    rows = []
    for rid, src, r in zip(shard.ids, shard.sources, results):
        rows.append({
            "id": rid, "path": src if isinstance(src, str) else None,
            "width": r.width if not r.error else None, "height": r.height if not r.error else None,
            "words": [{"text": w.text, "confidence": float(w.confidence), "score": float(w.score),
                       "quad": [[float(x), float(y)] for x, y in w.box.polygon()],
                       "box": [float(v) for v in w.box.to_list()]} for w in r.words],
            "text": r.text, "error": r.error,
            "detect_ms": r.meta.get("detect_ms"), "recognize_ms": r.meta.get("recognize_ms"),
            "model_version": version})
    return rows


SCHEMA_FIELDS = ("id", "path", "width", "height", "words", "text", "error", "detect_ms", "recognize_ms",
                 "model_version")


def arrow_schema():
    import pyarrow as pa

    word = pa.struct([("text", pa.string()), ("confidence", pa.float32()), ("score", pa.float32()),
                      ("quad", pa.list_(pa.list_(pa.float32()))), ("box", pa.list_(pa.float32()))])
    return pa.schema([("id", pa.string()), ("path", pa.string()), ("width", pa.int32()), ("height", pa.int32()),
                      ("words", pa.list_(word)), ("text", pa.string()), ("error", pa.string()),
                      ("detect_ms", pa.float32()), ("recognize_ms", pa.float32()), ("model_version", pa.string())])


def write_part(rows: list[dict], path: Path, fmt: str) -> None:
    """Atomic write: a temporary file in the same folder, then rename."""
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows, schema=arrow_schema()), tmp)
    else:
        with open(tmp, "w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def process_shard(shard: Shard, ocr, out: Path, fmt: str) -> dict[str, Any]:
    """Read one shard with ``ocr`` and write its part file. Bad images become rows with an error.

    Images are read one at a time: each row's ``detect_ms`` / ``recognize_ms`` are its own image's (a call on
    several images times them together), and one image is decoded at a time. The summary names the failed
    inputs (``errors``: their messages, which start with the input's name)."""
    results = [ocr.batch([src], names=[rid])[0] for rid, src in zip(shard.ids, shard.sources)]
    version = "detector {detector} / recognizer {recognizer}".format(**ocr.versions)
    write_part(result_rows(shard, results, version), out / shard.name(fmt), fmt)
    errors = [r.error for r in results if r.error]
    return {"shard": shard.index, "images": len(results), "failed": len(errors), "errors": errors}


def read_output(out: str | Path) -> list[dict]:
    """All rows of an output folder (Parquet or JSONL parts), in shard order."""
    out = Path(out)
    rows: list[dict] = []
    for p in sorted(out.glob("part-*.parquet")):
        import pyarrow.parquet as pq

        rows += pq.read_table(p).to_pylist()
    for p in sorted(out.glob("part-*.jsonl")):
        rows += [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows


def make_ocr(cfg: BatchConfig):
    """A worker's OCR: ``cfg.read`` at ``threads_per_worker`` threads."""
    from rosetta.ocr import OCR

    return OCR(replace(cfg.read, threads=cfg.threads_per_worker))


__all__ = ["Shard", "BatchConfig", "list_inputs", "make_shards", "check_manifest", "pending", "process_shard",
           "result_rows", "write_part", "read_output", "make_ocr", "arrow_schema"]
