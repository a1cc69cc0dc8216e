"""``rosetta serve``: the HTTP service (FastAPI + uvicorn), localhost by default.

    rosetta serve --port 8080 --workers 1 --max-batch 8 --max-wait-ms 10
"""

from __future__ import annotations

import argparse
import importlib
import json
import os


def add_parser(sub: argparse._SubParsersAction) -> None:
    from rosetta.cli_read import add_detect_scale, add_min_confidence

    s = sub.add_parser("serve", help="serve OCR over HTTP (POST /v1/ocr, GET / for a web page)")
    s.add_argument("--host", default="127.0.0.1", help="bind address (default: localhost only)")
    s.add_argument("--port", type=int, default=8080)
    s.add_argument("--workers", type=int, default=1, help="server processes, each with its own models")
    s.add_argument("--int8", action="store_true", help="int8 detector and recognizer (ONNX Runtime)")
    s.add_argument("--max-batch", type=int, default=8)
    s.add_argument("--max-wait-ms", type=float, default=10.0)
    s.add_argument("--max-queue", type=int, default=64)
    s.add_argument("--max-mb", type=float, default=20.0, help="request body cap in MB")
    s.add_argument("--timeout", type=float, default=60.0, help="per-request timeout in seconds")
    add_min_confidence(s)
    add_detect_scale(s)
    s.add_argument("--threads", type=int, default=None, help="cores per worker (default: all); a batch is split across them, one image per core")
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

    cfg = {"max_batch": args.max_batch, "max_wait_ms": args.max_wait_ms, "max_queue": args.max_queue,
           "max_bytes": int(args.max_mb * 1024 * 1024), "timeout_s": args.timeout, "threads": args.threads, "int8": args.int8,
           "min_confidence": args.min_confidence, "scale": args.scale, "max_side": args.max_side,
           "index": args.db, "lexicon": args.lexicon}
    os.environ["ROSETTA_SERVE_CONFIG"] = json.dumps(cfg)
    uvicorn.run("rosetta.engine.serve:production_app", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_level="warning")
    return 0


__all__ = ["add_parser", "run"]
