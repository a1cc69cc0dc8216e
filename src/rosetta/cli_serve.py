"""``rosetta serve``: the HTTP service (FastAPI + uvicorn), localhost by default.

    rosetta serve --port 8080 --workers 1 --max-batch 8 --max-wait-ms 10
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os

from rosetta.cli_options import add_read_arguments, read_config_from_args

log = logging.getLogger("rosetta.serve")


def add_parser(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("serve", help="serve OCR over HTTP (POST /v1/ocr, GET / for a web page)",
                       description="Serve OCR over HTTP: POST /v1/ocr (?format=json|jsonl|text|tsv|hocr|alto), "
                                   "GET / for a web page, /healthz, /v1/info, /metrics.")
    s.add_argument("--host", default="127.0.0.1", help="bind address (default: %(default)s, localhost only)")
    s.add_argument("--port", type=int, default=8080, help="TCP port (default: %(default)s)")
    s.add_argument("--workers", type=int, default=1,
                   help="server processes, each with its own models (default: %(default)s)")
    s.add_argument("--max-batch", type=int, default=8, help="images per model call (default: %(default)s)")
    s.add_argument("--max-wait-ms", type=float, default=10.0,
                   help="how long a batch's first image waits for company, in ms (default: %(default)s)")
    s.add_argument("--max-queue", type=int, default=64,
                   help="requests waiting for the model; more get 503 with Retry-After (default: %(default)s)")
    s.add_argument("--max-mb", type=float, default=20.0, help="request body cap in MB, 413 above (default: %(default)s)")
    s.add_argument("--max-megapixels", type=float, default=160.0,
                   help="decoded image pixels held at once by all requests of a worker process, in megapixels: "
                        "the memory bound (default: %(default)s, two images of the 80 MP limit)")
    s.add_argument("--pixel-wait", type=float, default=10.0,
                   help="seconds a request waits for room under --max-megapixels before 503 (default: %(default)s)")
    s.add_argument("--decode-max-side", type=int, default=4096,
                   help="longer images are decoded reduced to this many pixels (default: %(default)s)")
    s.add_argument("--timeout", type=float, default=60.0,
                   help="per-request timeout in seconds, queueing included, 504 above (default: %(default)s)")
    add_read_arguments(s, threads_help="cores per worker (default: all); a batch is split across them, one image "
                                       "per core", lexicon_flag="--word-lexicon")
    s.add_argument("--db", default=None, help="search index for GET /v1/search (`rosetta index`)")
    s.add_argument("--lexicon", default=None, help="class lexicon (TOML) for POST /v1/tag (default: the example one)")


def run(args: argparse.Namespace) -> int:
    try:  # the `serve` extra: a clear message, not a traceback, when it is not installed
        for name in ("fastapi", "prometheus_client", "python_multipart"):  # imported by the app, checked here
            importlib.import_module(name)
        import uvicorn
    except ImportError as exc:
        raise SystemExit(f"rosetta serve: error: the HTTP service needs {exc.name}, which is not installed: "
                         "pip install 'rosetta-ocr[serve]'") from exc

    from rosetta.engine.serve import ServeConfig  # here: the extra is checked above

    cfg = ServeConfig(max_batch=args.max_batch, max_wait_ms=args.max_wait_ms, max_queue=args.max_queue,
                      max_bytes=int(args.max_mb * 1024 * 1024), timeout_s=args.timeout,
                      max_megapixels=args.max_megapixels, pixel_wait_s=args.pixel_wait,
                      decode_max_side=args.decode_max_side, index=args.db, lexicon=args.lexicon,
                      read=read_config_from_args(args))
    os.environ["ROSETTA_SERVE_CONFIG"] = json.dumps(cfg.to_dict())
    log.info("%s", startup_line(args.host, args.port, args.workers, cfg))
    uvicorn.run("rosetta.engine.serve:production_app", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_level="warning")
    return 0


def startup_line(host: str, port: int, workers: int, cfg) -> str:
    """What an operator needs to see at start: where it listens, its lanes and its limits.

    >>> from rosetta.config import ReadConfig
    >>> from rosetta.engine.serve import ServeConfig
    >>> startup_line("127.0.0.1", 8080, 1, ServeConfig(read=ReadConfig(threads=2))).split(";")[0]
    'rosetta serve: listening on http://127.0.0.1:8080 (1 worker, 2 lanes x 1 thread each)'
    """
    return (f"rosetta serve: listening on http://{host}:{port} ({workers} worker{'s' * (workers > 1)}, "
            f"{cfg.lanes} lane{'s' * (cfg.lanes > 1)} x {cfg.lane_threads} thread{'s' * (cfg.lane_threads > 1)} each"
            f"{', int8' if cfg.read.int8 else ''}); limits: batch {cfg.max_batch} within {cfg.max_wait_ms:g} ms, "
            f"queue {cfg.max_queue}, body {cfg.max_bytes / 2**20:g} MB, {cfg.max_megapixels:g} MP decoded in flight "
            f"(wait {cfg.pixel_wait_s:g} s), images over {cfg.decode_max_side} px decoded reduced, "
            f"timeout {cfg.timeout_s:g} s")


__all__ = ["add_parser", "run", "startup_line"]
