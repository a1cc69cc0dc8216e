"""HTTP service: FastAPI app with dynamic micro-batching, limits, Prometheus metrics and a web page.

    rosetta serve --port 8080 --max-batch 8 --max-wait-ms 10

``POST /v1/ocr`` (raw image body or multipart ``file``; ``?format=json|jsonl|text|tsv|hocr|alto``; ``?scripts=cyrillic``
when the text is known to be in some scripts) returns the
same serialisation as the CLI. Concurrent requests are gathered into one batch (up to ``max_batch``
images or ``max_wait_ms``) and run off the event loop, split across one inference lane per core. The queue is bounded:
when full, 503 with Retry-After; bodies over ``max_bytes`` get 413; unreadable images 400; a request
that waits longer than ``timeout_s`` 504. No endpoint fetches URLs.

Memory is bounded by pixels, not only by requests (:mod:`rosetta.engine.budget`): each request takes the
pixels its image decodes to (read from its header first) from a budget of ``max_megapixels`` before
decoding, and waits up to ``pixel_wait_s`` for them (then 503 with Retry-After). Images longer than
``decode_max_side`` are reduced while decoding (the detector sees at most 2,500 px of them anyway) and
their words' boxes scaled back to the upload's pixels.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Callable

from fastapi import Request  # at module level: FastAPI resolves the handlers' annotations here

from rosetta import __version__, export
from rosetta.charset import parse_scripts
from rosetta.config import ReadConfig
from rosetta.engine.budget import PixelBudget, release_free_memory
from rosetta.io import ImageError, decoded_pixels, load_image, read_header
from rosetta.search.http import add_search_routes

log = logging.getLogger(__name__)
WEB = Path(__file__).parents[1] / "web"
MEDIA_TYPES = {"json": "application/json", "jsonl": "application/x-ndjson", "text": "text/plain; charset=utf-8",
               "tsv": "text/tab-separated-values; charset=utf-8", "hocr": "application/xhtml+xml",
               "alto": "application/xml"}  # every format of `rosetta read`, by ?format=


@dataclass(frozen=True)
class ServeConfig:
    max_batch: int = 8  # images per model call
    max_wait_ms: float = 10.0  # how long the first request of a batch waits for company
    max_queue: int = 64  # requests waiting for the model; more get 503
    max_bytes: int = 20 * 1024 * 1024  # request body cap (413 above)
    timeout_s: float = 60.0  # per request, queueing included (504 above)
    max_megapixels: float = 160.0  # decoded pixels held at once by all requests (two images of the 80 MP limit)
    pixel_wait_s: float = 10.0  # how long a request waits for room in that budget (503 after)
    decode_max_side: int = 4096  # longer images are decoded reduced to this: phone photos (4000 px) stay whole,
    # and the detector's dense pass sees 2,500 px at most, so words it finds keep >= 1.6x that size for reading
    # how images are read; its ``threads`` are the cores for inference (None: all PyTorch sees), split into lanes
    read: ReadConfig = ReadConfig()
    index: str | None = None  # search index for GET /v1/search (SQLite file or PostgreSQL DSN)
    lexicon: str | None = None  # class lexicon for POST /v1/tag (None: the example one)

    @property
    def cores(self) -> int:
        """Cores for inference: ``read.threads``, else PyTorch's thread count (read before any model sets it)."""
        import torch

        return max(1, self.read.threads or torch.get_num_threads())

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (the environment variable that carries them to uvicorn's workers)."""
        return {**{f.name: getattr(self, f.name) for f in fields(self) if f.name != "read"}, "read": self.read.to_dict()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "ServeConfig":
        """The inverse of :meth:`to_dict`.

        >>> cfg = ServeConfig(max_batch=2, read=ReadConfig(int8=True, scripts=("latin",)))
        >>> ServeConfig.from_dict(cfg.to_dict()) == cfg
        True
        """
        values = dict(values)
        read = ReadConfig.from_dict(values.pop("read", {}))
        return cls(**values, read=read)

    @property
    def lanes(self) -> int:
        """Inference lanes: a batch is split across them and runs data-parallel, one lane a core
        (measured: 2 images on 2 single-thread lanes beat 1 image on 2 intra-op threads by 1.5x)."""
        return max(1, min(self.cores, self.max_batch))

    @property
    def lane_threads(self) -> int:
        """Intra-op threads per lane: the cores no other lane needs (all of them when ``max_batch`` is 1)."""
        return max(1, self.cores // self.lanes)


class Metrics:
    def __init__(self):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("rosetta_requests_total", "OCR requests by status", ["status"], registry=self.registry)
        self.latency = Histogram("rosetta_request_seconds", "OCR request latency", registry=self.registry,
                                 buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
        self.batch = Histogram("rosetta_batch_size", "images per model call", registry=self.registry,
                               buckets=(1, 2, 4, 8, 16, 32, 64))
        self.queue = Gauge("rosetta_queue_depth", "requests waiting for the model", registry=self.registry)
        self.errors = Counter("rosetta_errors_total", "failed requests by kind", ["kind"], registry=self.registry)


class MicroBatcher:
    """Gather queued images into batches; split each batch (by script hint, then across ``lanes``
    inference threads) into calls ``read(arrays, names, scripts)`` that run concurrently (the models
    release the GIL)."""

    def __init__(self, read: Callable[..., list], config: ServeConfig, metrics: Metrics, lanes: int = 1):
        self.read, self.cfg, self.metrics, self.lanes = read, config, metrics, max(1, lanes)
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=config.max_queue)
        self.pool = ThreadPoolExecutor(self.lanes, thread_name_prefix="rosetta-infer")
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
        self.pool.shutdown(wait=False, cancel_futures=True)

    def submit(self, array, name: str, scripts: tuple[str, ...] | None = None) -> asyncio.Future:
        """Queue one image (and the scripts its text is in, if known); raises asyncio.QueueFull when saturated."""
        fut = asyncio.get_running_loop().create_future()
        self.queue.put_nowait((array, name, fut, scripts))
        self.metrics.queue.set(self.queue.qsize())
        return fut

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = [await self.queue.get()]
            deadline = loop.time() + self.cfg.max_wait_ms / 1000
            while len(items) < self.cfg.max_batch:
                timeout = deadline - loop.time()
                if timeout <= 0:
                    break
                try:
                    items.append(await asyncio.wait_for(self.queue.get(), timeout))
                except asyncio.TimeoutError:
                    break
            self.metrics.queue.set(self.queue.qsize())
            items = [it for it in items if not it[2].done()]  # timed-out requests are not computed
            if not items:
                continue
            await self._run(items)
            del items  # no image outlives its batch while the loop waits for the next

    async def _run(self, items: list) -> None:
        """Run one batch: one call per script hint and lane, concurrently; each request gets its result."""
        loop = asyncio.get_running_loop()
        self.metrics.batch.observe(len(items))
        shards = []
        for scripts in dict.fromkeys(it[3] for it in items):  # one call per script hint, in arrival order
            same = [it for it in items if it[3] == scripts]
            shards += [same[k::self.lanes] for k in range(min(self.lanes, len(same)))]  # interleaved shares
        outs = await asyncio.gather(*(loop.run_in_executor(self.pool, self.read, [i[0] for i in sh],
                                                           [i[1] for i in sh], sh[0][3]) for sh in shards),
                                    return_exceptions=True)
        for shard, results in zip(shards, outs):
            if isinstance(results, BaseException):  # that shard failed: each request in it gets the error (500)
                log.error("inference failed", exc_info=results)
                results = [results] * len(shard)
            for (_, _, fut, _), r in zip(shard, results):
                if fut.done():
                    continue
                if isinstance(r, BaseException):
                    fut.set_exception(r)
                else:
                    fut.set_result(r)


def create_app(read: Callable[..., list], info: dict[str, Any], config: ServeConfig = ServeConfig(),
               lanes: int = 1):
    """The FastAPI app around ``read(arrays, names, scripts) -> [Result]`` (``OCR.read_arrays`` in production),
    which ``lanes`` threads may call concurrently."""
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse, JSONResponse, Response
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
    from starlette.concurrency import run_in_threadpool

    from contextlib import asynccontextmanager

    metrics = Metrics()
    batcher = MicroBatcher(read, config, metrics, lanes)

    def trim() -> None:  # the budget emptied after large images: hand the freed heap back, off the event loop
        asyncio.get_running_loop().run_in_executor(None, release_free_memory)

    budget = PixelBudget(int(config.max_megapixels * 1e6), large=20_000_000, on_idle=trim)

    @asynccontextmanager
    async def lifespan(_app):
        batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(title="Rosetta OCR", version=str(info.get("version", "")), lifespan=lifespan)

    def fail(status: int, kind: str, message: str, headers: dict | None = None) -> JSONResponse:
        metrics.requests.labels(str(status)).inc()
        metrics.errors.labels(kind).inc()
        return JSONResponse({"error": message}, status_code=status, headers=headers)

    @app.post("/v1/ocr")
    async def ocr(request: Request, format: str = "json", scripts: str | None = None):
        t0 = time.perf_counter()
        if format not in export.FORMATS:
            return fail(400, "format", f"unknown format {format!r} ({', '.join(export.FORMATS)})")
        try:
            hint = parse_scripts(scripts)
        except ValueError as exc:
            return fail(400, "scripts", str(exc))
        length = request.headers.get("content-length")
        if length and int(length) > config.max_bytes:
            return fail(413, "too_large", f"request body over {config.max_bytes} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > config.max_bytes:
                return fail(413, "too_large", f"request body over {config.max_bytes} bytes")
        name = "upload"
        data = bytes(body)
        del body
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            form = await _parse_multipart(request, data)
            if form is None:
                return fail(400, "bad_form", "multipart request without a 'file' part")
            name, data = form
        try:
            header = read_header(data, name)
        except ImageError as exc:
            return fail(400, "bad_image", str(exc))
        held = budget.clip(decoded_pixels(header, config.decode_max_side))
        if not await budget.acquire(held, min(config.pixel_wait_s, config.timeout_s)):
            return fail(503, "overloaded", "server busy (images in flight), retry shortly", {"Retry-After": "2"})
        try:
            try:
                array = await run_in_threadpool(load_image, data, name, config.decode_max_side)
            except ImageError as exc:
                return fail(400, "bad_image", str(exc))
            del data
            kept = min(held, array.shape[0] * array.shape[1])
            budget.release(held - kept)  # the decoding buffers are gone; the reduced image stays until answered
            held = kept
            try:
                fut = batcher.submit(array, name, hint)
            except asyncio.QueueFull:
                return fail(503, "overloaded", "server busy, retry shortly", {"Retry-After": "1"})
            del array
            try:
                result = await asyncio.wait_for(fut, config.timeout_s)
            except asyncio.TimeoutError:
                fut.cancel()  # a batch already running may hold its image until it ends (at most max_batch images)
                return fail(504, "timeout", f"no result within {config.timeout_s} s")
            except Exception as exc:  # noqa: BLE001 - reported to the client, logged by the batcher
                return fail(500, "inference", f"inference failed: {type(exc).__name__}")
        finally:
            budget.release(held)
        if (result.width, result.height) != (header.width, header.height):  # decoded reduced: boxes in upload pixels
            result = result.resized(header.width, header.height)
        metrics.requests.labels("200").inc()
        metrics.latency.observe(time.perf_counter() - t0)
        if format == "json":
            return Response(export.to_json(result, indent=None), media_type="application/json")
        return Response(export.EXPORTERS[format](result), media_type=MEDIA_TYPES[format])

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok"}

    @app.get("/v1/info")
    async def v1_info():
        return {**info, "max_batch": config.max_batch, "max_wait_ms": config.max_wait_ms,
                "max_queue": config.max_queue, "max_bytes": config.max_bytes,
                "max_megapixels": config.max_megapixels, "decode_max_side": config.decode_max_side,
                "search_index": config.index is not None}

    @app.get("/metrics")
    async def prom():
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/")
    async def page():
        return HTMLResponse((WEB / "index.html").read_text(encoding="utf-8"))

    add_search_routes(app, config.index, config.lexicon)  # GET /v1/search, POST /v1/tag
    app.state.batcher = batcher
    app.state.metrics = metrics
    app.state.budget = budget
    return app


async def _parse_multipart(request, data: bytes) -> tuple[str, bytes] | None:
    """The 'file' part of a multipart body already read into ``data``."""
    from starlette.datastructures import UploadFile
    from starlette.formparsers import MultiPartParser

    async def stream():
        yield data

    parser = MultiPartParser(request.headers, stream())
    form = await parser.parse()
    f = form.get("file")
    if not isinstance(f, UploadFile):
        return None
    return f.filename or "upload", await f.read()


def production_app():
    """App factory for uvicorn (``--workers`` > 1 starts it per process); settings from ROSETTA_SERVE_*."""
    import json

    from rosetta.ocr import OCR  # PyTorch: only a serving process loads it (tests serve stand-in readers)

    cfg = ServeConfig.from_dict(json.loads(os.environ.get("ROSETTA_SERVE_CONFIG", "{}")))
    lanes, lane_threads = cfg.lanes, cfg.lane_threads
    ocr = OCR(replace(cfg.read, threads=lane_threads))
    info = {"name": "rosetta", "version": __version__, "models": ocr.versions, "int8": cfg.read.int8,
            "min_confidence": ocr.config.min_confidence,  # the floor in use (the web page shows it)
            "engine": {"detector": ocr.detector.engine, "recognizer": ocr.recognizer.engine},
            "lanes": lanes, "threads_per_lane": lane_threads}
    return create_app(ocr.read_arrays, info, cfg, lanes)


__all__ = ["ServeConfig", "MicroBatcher", "create_app", "production_app"]
