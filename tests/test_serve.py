"""HTTP service: formats, every error path, micro-batching, saturation and concurrent routing."""

from __future__ import annotations

import io
import json
import sys
import threading
import time
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from rosetta.config import ReadConfig
from rosetta.engine.serve import ServeConfig, create_app
from rosetta.result import Result, RotatedBox, Word


def png(w: int, h: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((h, w, 3), 200, np.uint8)).save(buf, "PNG")
    return buf.getvalue()


class FakeReader:
    """Stands in for OCR._read: one word naming the image's width (or the script hint), and a record of batch sizes."""

    def __init__(self, delay: float = 0.0):
        self.delay, self.batches = delay, []
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, arrays, names, scripts=None):
        self.gate.wait()
        time.sleep(self.delay)
        self.batches.append(len(arrays))
        return [Result.build(a.shape[1], a.shape[0], [Word("+".join(scripts) if scripts else f"w{a.shape[1]}", 0.9,
                                                           0.8, RotatedBox(10, 10, 8, 4, 15))],
                             image=n) for a, n in zip(arrays, names)]


def client(reader, **cfg) -> TestClient:
    return TestClient(create_app(reader, {"name": "rosetta", "version": "test"}, ServeConfig(**cfg)))


def test_formats_multipart_and_info():
    with client(FakeReader()) as c:
        r = c.post("/v1/ocr", content=png(40, 20))
        assert r.status_code == 200 and r.json()["words"][0]["text"] == "w40" and r.json()["words"][0]["box"][4] == 15
        r = c.post("/v1/ocr?format=text", files={"file": ("a.png", png(33, 20), "image/png")})
        assert r.text == "w33\n"
        ET.fromstring(c.post("/v1/ocr?format=hocr", content=png(20, 20)).text)
        ET.fromstring(c.post("/v1/ocr?format=alto", content=png(20, 20)).text)
        assert c.get("/healthz").json() == {"status": "ok"}
        assert c.get("/v1/info").json()["version"] == "test"
        assert "rosetta_requests_total" in c.get("/metrics").text
        assert '<svg id="overlay"' in c.get("/").text


def test_error_paths():
    with client(FakeReader(), max_bytes=10_000, timeout_s=0.5) as c:
        r = c.post("/v1/ocr", content=b"hello, not an image")
        assert r.status_code == 400 and "not a readable image" in r.json()["error"]
        assert c.post("/v1/ocr", content=b"\0" * 20_000).status_code == 413
        assert c.post("/v1/ocr?format=pdf", content=png(10, 10)).status_code == 400
        assert c.post("/v1/ocr", files={"other": ("a.png", png(10, 10))}).status_code == 400
        assert 'rosetta_errors_total{kind="too_large"} 1.0' in c.get("/metrics").text


def test_timeout_gives_504():
    reader = FakeReader()
    reader.gate.clear()  # the model hangs
    with client(reader, timeout_s=0.3) as c:
        assert c.post("/v1/ocr", content=png(10, 10)).status_code == 504
        reader.gate.set()


def test_saturation_gives_503_never_unbounded():
    reader = FakeReader()
    reader.gate.clear()
    with client(reader, max_queue=2, max_batch=1, timeout_s=5) as c:
        codes = []
        threads = [threading.Thread(target=lambda: codes.append(c.post("/v1/ocr", content=png(10, 10)).status_code))
                   for _ in range(8)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        reader.gate.set()
        for t in threads:
            t.join()
        assert 503 in codes and 200 in codes and set(codes) <= {200, 503}


def test_concurrent_requests_are_batched_and_each_gets_its_own_result():
    reader = FakeReader(delay=0.05)
    with client(reader, max_batch=8, max_wait_ms=50) as c:
        widths = list(range(30, 46))
        out = {}

        def go(w):
            out[w] = c.post("/v1/ocr", content=png(w, 12)).json()

        threads = [threading.Thread(target=go, args=(w,)) for w in widths]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(out[w]["width"] == w and out[w]["words"][0]["text"] == f"w{w}" for w in widths)
        assert max(reader.batches) > 1 and sum(reader.batches) == len(widths)


class LaneReader(FakeReader):
    """Records each call's widths and how many calls ran at once; fails any call holding a 31 px image."""

    def __init__(self, delay: float):
        super().__init__(delay)
        self.calls, self.active, self.peak = [], 0, 0
        self.lock = threading.Lock()

    def __call__(self, arrays, names, scripts=None):
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
            self.calls.append([a.shape[1] for a in arrays])
        try:
            if any(a.shape[1] == 31 for a in arrays):
                raise RuntimeError("model failed")
            return super().__call__(arrays, names, scripts)
        finally:
            with self.lock:
                self.active -= 1


def test_lanes_split_each_batch_run_concurrently_and_a_failure_stays_in_its_lane():
    reader = LaneReader(delay=0.1)
    with TestClient(create_app(reader, {"name": "rosetta", "version": "test"}, ServeConfig(max_batch=8, max_wait_ms=100),
                               lanes=2)) as c:
        widths = list(range(30, 46))
        status = {}

        def go(w):
            r = c.post("/v1/ocr", content=png(w, 12))
            status[w] = (r.status_code, r.json())

        threads = [threading.Thread(target=go, args=(w,)) for w in widths]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert reader.peak == 2  # two lanes ran at once
    failed_calls = [call for call in reader.calls if 31 in call]
    doomed = {w for call in failed_calls for w in call}
    assert 31 in doomed and len(doomed) < len(widths)  # only the failing lane's share
    for w in widths:
        code, body = status[w]
        if w in doomed:
            assert code == 500
        else:
            assert code == 200 and body["words"][0]["text"] == f"w{w}"


def test_serve_config_splits_cores_into_lanes():
    assert (ServeConfig(read=ReadConfig(threads=2), max_batch=8).lanes, ServeConfig(read=ReadConfig(threads=2), max_batch=8).lane_threads) == (2, 1)
    assert (ServeConfig(read=ReadConfig(threads=2), max_batch=1).lanes, ServeConfig(read=ReadConfig(threads=2), max_batch=1).lane_threads) == (1, 2)
    assert (ServeConfig(read=ReadConfig(threads=5), max_batch=2).lanes, ServeConfig(read=ReadConfig(threads=5), max_batch=2).lane_threads) == (2, 2)


def test_script_hint_reaches_the_reader_and_bad_hints_are_400():
    reader = FakeReader(delay=0.05)
    with client(reader, max_batch=8, max_wait_ms=50) as c:
        out = {}

        def go(k, query):
            out[k] = c.post(f"/v1/ocr{query}", content=png(30 + k, 12)).json()

        queries = ["", "?scripts=cyrillic", "?scripts=latin,cyrillic", ""]
        threads = [threading.Thread(target=go, args=(k, q)) for k, q in enumerate(queries)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [out[k]["words"][0]["text"] for k in range(4)] == ["w30", "cyrillic", "latin+cyrillic", "w33"]
        r = c.post("/v1/ocr?scripts=klingon", content=png(30, 12))
        assert r.status_code == 400 and "klingon" in r.json()["error"]


def test_serve_without_its_extra_says_what_to_install(monkeypatch):
    """`rosetta serve` where the `serve` extra is not installed: one line naming the missing package and the
    pip command, no traceback (a wheel installed without extras got ModuleNotFoundError: uvicorn)."""
    from rosetta.cli import build_parser
    from rosetta.cli_serve import run

    monkeypatch.setitem(sys.modules, "uvicorn", None)  # `import uvicorn` now fails as if it were not installed
    args = build_parser().parse_args(["serve", "--port", "0"])
    with pytest.raises(SystemExit) as exc:
        run(args)
    assert "uvicorn" in str(exc.value.code) and "pip install 'rosetta-ocr[serve]'" in str(exc.value.code)


def test_pixel_budget_queues_a_request_then_refuses_one_with_retry_after():
    """Two 6,000-pixel images against a 10,000-pixel budget: the second waits until the first is answered (never
    both in the model at once), and one that cannot get in within ``pixel_wait_s`` gets 503 with Retry-After."""
    reader = FakeReader()
    reader.gate.clear()  # the first image sits in the model
    with client(reader, max_megapixels=0.01, pixel_wait_s=3.0) as c:
        codes = {}
        first = threading.Thread(target=lambda: codes.__setitem__("first", c.post("/v1/ocr", content=png(100, 60))))
        first.start()
        time.sleep(0.5)
        queued = threading.Thread(target=lambda: codes.__setitem__("queued", c.post("/v1/ocr", content=png(100, 60))))
        queued.start()
        time.sleep(0.5)
        assert c.app.state.budget.in_use == 6000 and c.app.state.budget.waiting == 1
        reader.gate.set()
        first.join()
        queued.join()
        assert codes["first"].status_code == codes["queued"].status_code == 200
        assert reader.batches == [1, 1]  # one after the other, not batched together
        assert c.app.state.budget.in_use == 0
    reader.gate.clear()
    with client(reader, max_megapixels=0.01, pixel_wait_s=0.3) as c:
        blocked = threading.Thread(target=lambda: c.post("/v1/ocr", content=png(100, 60)))
        blocked.start()
        time.sleep(0.5)
        r = c.post("/v1/ocr", content=png(100, 60))
        assert r.status_code == 503 and r.headers["Retry-After"] and "busy" in r.json()["error"]
        reader.gate.set()
        blocked.join()
        assert c.app.state.budget.in_use == 0


def test_large_images_are_decoded_reduced_and_answered_in_the_uploads_pixels():
    reader = FakeReader()
    with client(reader, decode_max_side=50) as c:
        r = c.post("/v1/ocr", content=png(200, 100)).json()
        assert r["words"][0]["text"] == "w50"  # the model saw it at 50 x 25
        assert (r["width"], r["height"]) == (200, 100) and r["words"][0]["box"] == [40.0, 40.0, 32.0, 16.0, 15.0]
        small = c.post("/v1/ocr", content=png(40, 20)).json()
        assert small["words"][0]["text"] == "w40" and small["words"][0]["box"][:2] == [10.0, 10.0]  # untouched


def test_every_cli_format_is_served():
    from rosetta.export import FORMATS

    with client(FakeReader()) as c:
        for fmt in FORMATS:
            r = c.post(f"/v1/ocr?format={fmt}", content=png(40, 20))
            assert r.status_code == 200, fmt
        tsv = c.post("/v1/ocr?format=tsv", content=png(40, 20))
        assert tsv.headers["content-type"].startswith("text/tab-separated-values")
        assert tsv.text.splitlines()[0].startswith("level\t") and tsv.text.splitlines()[-1].endswith("\tw40")
        jsonl = c.post("/v1/ocr?format=jsonl", content=png(40, 20)).text
        assert len(jsonl.splitlines()) == 1 and json.loads(jsonl)["words"][0]["text"] == "w40"


def test_serve_logs_its_address_lanes_and_limits_and_help_shows_defaults(monkeypatch, caplog, capsys):
    import logging

    import uvicorn

    from rosetta.cli import build_parser
    from rosetta.cli_serve import run

    started = {}
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: started.update(kw))
    monkeypatch.setenv("ROSETTA_SERVE_CONFIG", "{}")  # run() sets it for the workers: restored after the test
    args = build_parser().parse_args(["serve", "--port", "8123", "--threads", "2", "--max-megapixels", "50"])
    with caplog.at_level(logging.INFO, logger="rosetta"):
        assert run(args) == 0
    assert started["port"] == 8123
    line = caplog.text
    assert "http://127.0.0.1:8123" in line and "2 lanes x 1 thread" in line and "50 MP" in line and "queue 64" in line
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--help"])
    helptext = " ".join(capsys.readouterr().out.split())
    for default in ("(default: 20.0)", "(default: 64)", "(default: 60.0)", "(default: 8)", "(default: 160.0"):
        assert default in helptext, default


def test_pixel_budget_serves_waiters_in_order_and_gives_back_what_leavers_held():
    import asyncio

    from rosetta.engine.budget import PixelBudget

    async def scenario():
        idle = []
        b = PixelBudget(100, large=50, on_idle=lambda: idle.append(b.in_use))
        assert await b.acquire(60, wait_s=0)
        big = asyncio.ensure_future(b.acquire(90, wait_s=5))  # waits for the 60 to go
        await asyncio.sleep(0)
        small = asyncio.ensure_future(b.acquire(30, wait_s=0.2))  # would fit now, but must not jump the queue
        await asyncio.sleep(0.3)
        assert small.done() and small.result() is False and not big.done()
        gone = asyncio.ensure_future(b.acquire(10, wait_s=5))
        await asyncio.sleep(0)
        gone.cancel()  # its request went away while waiting
        await asyncio.sleep(0)
        assert b.waiting == 1
        b.release(60)
        assert await big and b.in_use == 90
        b.release(90)
        assert b.in_use == 0 and idle == [0]  # emptied after large images: the moment to trim
        assert await b.acquire(500, wait_s=0) and b.in_use == 100  # over the capacity: the whole budget
        return True

    assert asyncio.run(scenario())
