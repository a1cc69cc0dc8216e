"""HTTP routes for search and tagging, registered on the service's FastAPI app by :func:`add_search_routes`.

``GET /v1/search?q=...&limit=10&class=C&exact=false`` searches the index the service was started with
(``rosetta serve --db INDEX``; 503 without one). ``POST /v1/tag`` takes a JSON body, either a result
(``rosetta.result/1``, as ``POST /v1/ocr`` returns it), a batch row, or ``{"text": "..."}``, and returns
its classes (from ``--lexicon``, else the example lexicon) and entities.
"""

from __future__ import annotations

import threading
from typing import Any

from fastapi import Request  # at module level: FastAPI resolves the handlers' annotations here

from rosetta.result import Result
from rosetta.search.index import Index, SearchConfig
from rosetta.search.store import SearchIndexError
from rosetta.search.tag import Lexicon, tag


def add_search_routes(app: Any, index: str | None = None, lexicon: str | None = None) -> None:
    """Add ``GET /v1/search`` and ``POST /v1/tag`` to ``app``; the index and lexicon are opened once."""
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool

    lex = Lexicon.load(lexicon) if lexicon else Lexicon.example()
    matcher = lex.matcher()
    lock = threading.Lock()  # one connection per process, used by one request at a time
    opened: dict[bool, Index] = {}

    def search(q: str, limit: int, label: str | None, exact: bool) -> list[dict]:
        with lock:
            fuzzy = not exact
            if fuzzy not in opened:
                opened[fuzzy] = Index(index, create=False, config=SearchConfig(fuzzy=fuzzy))
            return [h.to_dict() for h in opened[fuzzy].search(q, limit=limit, label=label)]

    async def v1_search(request: Request, q: str = "", limit: int = 10, exact: bool = False):
        label = request.query_params.get("class")  # `class` is a Python keyword: read it from the query
        if index is None:
            return JSONResponse({"error": "no index: start the service with `rosetta serve --db INDEX`"}, 503)
        if not 1 <= limit <= 1000:
            return JSONResponse({"error": f"limit must be 1..1000, got {limit}"}, 400)
        if not q.strip() and not label:
            return JSONResponse({"error": "give a query (?q=...) or a class (?class=...)"}, 400)
        try:
            hits = await run_in_threadpool(search, q, limit, label, exact)
        except SearchIndexError as exc:
            return JSONResponse({"error": str(exc)}, 503)
        return {"query": q, "class": label, "hits": hits}

    async def v1_tag(request: Request):
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "the body must be JSON: a result, a batch row or {\"text\": ...}"}, 400)
        try:
            if isinstance(body, dict) and "schema" in body:
                item: Any = Result.from_dict(body)
            elif isinstance(body, dict) and isinstance(body.get("text"), str) and "words" not in body:
                item = body["text"]
            elif isinstance(body, dict) and "words" in body:
                item = {"id": body.get("id", "upload"), **body}
            else:
                raise ValueError("expected a result, a batch row or {\"text\": ...}")
            min_score = float(request.query_params.get("min_score", 0.5))
            tags = await run_in_threadpool(tag, item, lex, min_score, True, matcher)
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"error": f"cannot tag this body: {exc}"}, 400)
        return {"tags": [{"label": t.label, "kind": t.kind, "score": t.score, "words": list(t.words)} for t in tags]}

    app.add_api_route("/v1/search", v1_search, methods=["GET"])
    app.add_api_route("/v1/tag", v1_tag, methods=["POST"])


__all__ = ["add_search_routes"]
