"""The service's memory bound under hostile uploads: a burst of concurrent maximal-pixel PNGs.

    python benchmarks/serve_memory.py [--clients 16] [--side 8888] [--out docs/results/serve_memory.jsonl]
    python benchmarks/serve_memory.py --unbounded   # the same burst with the budget and the reduction off

Starts the real service (`rosetta serve` in a subprocess, default settings, all cores), warms it up on the
bundled samples scaled to 2000 px (ordinary photos: the detector sees them at its full 1600 px, so that its
buffers already have their working size), then sends ``--clients`` concurrent uploads of one flat ``side`` x ``side`` RGB PNG (8888 x 8888 =
79 MP, under the 80 MP limit; a ~250 KB file). The server's RSS is sampled every 20 ms from /proc during the
burst (peak) and read again a few seconds after it (after), against its idle RSS before it. Acceptance
(issue 26): peak under 2 GB, no 500, RSS after the burst within 20% of before. Prints one JSON line and
appends it to ``--out``; exits 1 when the acceptance fails.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import threading
import time
from pathlib import Path

import httpx
from PIL import Image

from rosetta.engine.service_process import rss_mb, running_service

SAMPLES = Path(__file__).parents[1] / "src" / "rosetta" / "samples"


def flat_png(side: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (side, side), (240, 240, 235)).save(buf, "PNG", compress_level=9)
    return buf.getvalue()


def photo(path: Path, side: int) -> bytes:
    im = Image.open(path).convert("RGB")
    im = im.resize((side, round(side * im.height / im.width)) if im.width >= im.height
                   else (round(side * im.width / im.height), side))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90)
    return buf.getvalue()


class Sampler(threading.Thread):
    """The server's RSS every ``period`` seconds; ``peak`` in MB."""

    def __init__(self, pid: int, period: float = 0.02):
        super().__init__(daemon=True)
        self.pid, self.period, self.peak, self.stop = pid, period, 0.0, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(self.period)


def burst(url: str, body: bytes, clients: int) -> tuple[list[int], list[float]]:
    codes, secs = [0] * clients, [0.0] * clients
    barrier = threading.Barrier(clients)

    def one(k: int) -> None:
        with httpx.Client(timeout=600) as c:
            barrier.wait()
            t = time.perf_counter()
            try:
                codes[k] = c.post(url + "/v1/ocr", content=body, headers={"content-type": "image/png"}).status_code
            except httpx.HTTPError:
                codes[k] = -1  # connection dropped: counted as a failure
            secs[k] = time.perf_counter() - t

    ts = [threading.Thread(target=one, args=(k,)) for k in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return codes, secs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--side", type=int, default=8888, help="PNG side in pixels (8888: 79 MP)")
    ap.add_argument("--settle", type=float, default=5.0, help="seconds after the burst before reading RSS")
    ap.add_argument("--unbounded", action="store_true", help="budget and reduction off (the old behaviour)")
    ap.add_argument("--out", default=None, help="append the JSON line to this file")
    a = ap.parse_args()
    extra = ["--max-megapixels", "1000000", "--decode-max-side", "100000"] if a.unbounded else []
    body = flat_png(a.side)
    with running_service(*extra) as service:
        url, pid = service.url, service.proc.pid
        warm = [photo(f, 2000) for f in sorted(SAMPLES.glob("*.jpg"))]
        with httpx.Client(timeout=120) as c:
            for b in warm * 2:
                c.post(url + "/v1/ocr", content=b)
        time.sleep(2)
        before = rss_mb(pid)
        sampler = Sampler(pid)
        sampler.start()
        t0 = time.perf_counter()
        codes, secs = burst(url, body, a.clients)
        wall = time.perf_counter() - t0
        time.sleep(a.settle)
        sampler.stop.set()
        sampler.join()
        after = rss_mb(pid)
        info = httpx.get(url + "/v1/info").json()
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M"), "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(), "clients": a.clients, "image": f"{a.side}x{a.side} RGB PNG",
        "image_mp": round(a.side * a.side / 1e6, 1), "png_kb": round(len(body) / 1024, 1),
        "unbounded": a.unbounded, "max_megapixels": info.get("max_megapixels"),
        "decode_max_side": info.get("decode_max_side"),
        "rss_before_mb": round(before), "rss_peak_mb": round(sampler.peak), "rss_after_mb": round(after),
        "after_vs_before": round(after / before - 1, 3) if before else None,
        "status": {str(c): codes.count(c) for c in sorted(set(codes))}, "burst_s": round(wall, 1),
        "slowest_s": round(max(secs), 1),
        "seconds_by_status": {str(c): sorted(round(t, 1) for k, t in zip(codes, secs) if k == c) for c in set(codes)}}
    report["pass"] = (report["rss_peak_mb"] < 2048 and all(c in (200, 503) for c in codes)
                      and report["after_vs_before"] is not None and report["after_vs_before"] <= 0.2)
    line = json.dumps(report)
    print(line)
    if a.out:
        with open(a.out, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
    return 0 if report["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
