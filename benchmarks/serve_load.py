"""HTTP load test on 127.0.0.1: throughput and p50/p99 latency at 1, 4 and 16 concurrent clients, micro-batching
versus batch size 1 at 16 clients, an overload phase (32 clients, queue of 4: 503s expected, no other 5xx),
and server RSS over many requests.

    python benchmarks/serve_load.py [--requests 200] [--rss-requests 5000]

The server is `rosetta serve` in a subprocess: 1 worker with all cores (--threads, default: every core).
With --max-batch 1 it runs one image at a time on all cores (intra-op threads); with --max-batch 8 it
splits each batch across one single-thread lane per core. Images are the bundled samples scaled to 640 px;
the RSS run uses small 160 px images. Bounded: every phase stops after its request count or --max-seconds
(--rss-max-seconds for the RSS run).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import threading
import time
from pathlib import Path

import httpx
from PIL import Image

from rosetta.engine.service_process import rss_mb, running_service

SAMPLES = Path(__file__).parents[1] / "src" / "rosetta" / "samples"


def images(side: int) -> list[bytes]:
    out = []
    for p in sorted(SAMPLES.glob("*.jpg")):
        im = Image.open(p).convert("RGB")
        im.thumbnail((side, side))
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def serve_args(max_batch: int, threads: int, max_queue: int = 256) -> list[str]:
    return ["--max-batch", str(max_batch), "--max-wait-ms", "15", "--threads", str(threads), "--max-queue", str(max_queue)]


def load(url: str, bodies: list[bytes], clients: int, n: int, max_s: float) -> dict:
    lat, codes, lock = [], [], threading.Lock()
    counter = iter(range(n))
    t_end = time.perf_counter() + max_s

    def worker():
        with httpx.Client(timeout=120) as c:
            while time.perf_counter() < t_end:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                t = time.perf_counter()
                r = c.post(url + "/v1/ocr", content=bodies[i % len(bodies)])
                with lock:
                    lat.append(time.perf_counter() - t)
                    codes.append(r.status_code)

    t0 = time.perf_counter()
    ts = [threading.Thread(target=worker) for _ in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    dt = time.perf_counter() - t0
    lat.sort()
    ok = sum(1 for c in codes if c == 200)
    return {"clients": clients, "requests": len(codes), "ok": ok, "rps": round(ok / dt, 2),
            "p50_ms": round(1000 * lat[len(lat) // 2], 1) if lat else None,
            "p99_ms": round(1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))], 1) if lat else None,
            "status_503": codes.count(503), "other_5xx": sum(1 for c in codes if c >= 500 and c != 503)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--rss-requests", type=int, default=5000)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--max-seconds", type=float, default=300)
    ap.add_argument("--rss-max-seconds", type=float, default=900)
    a = ap.parse_args()
    bodies = images(640)
    report: dict = {"date": time.strftime("%Y-%m-%d"), "threads": a.threads, "image_side": 640}
    threads = {"OMP_NUM_THREADS": str(a.threads)}
    for max_batch in (8, 1):
        with running_service(*serve_args(max_batch, a.threads), env=threads) as service:
            url = service.url
            load(url, bodies, 2, 8, 60)  # warm up
            report[f"server_max_batch_{max_batch}"] = httpx.get(url + "/v1/info").json()
            levels = (1, 4, 16) if max_batch == 8 else (16,)
            report[f"max_batch_{max_batch}"] = [load(url, bodies, c, a.requests, a.max_seconds) for c in levels]
            print(json.dumps(report[f"max_batch_{max_batch}"]), flush=True)
    b8 = report["max_batch_8"][-1]["rps"]
    b1 = report["max_batch_1"][0]["rps"]
    report["batching_gain_16_clients"] = round(b8 / b1, 2) if b1 else None
    # overload: 32 clients against a queue of 4
    with running_service(*serve_args(4, a.threads, max_queue=4), env=threads) as service:
        report["overload"] = load(service.url, bodies, 32, 200, a.max_seconds)
        print(json.dumps(report["overload"]), flush=True)
    with running_service(*serve_args(8, a.threads), env=threads) as service:
        small = images(160)
        load(service.url, small, 4, 200, 60)
        r0 = rss_mb(service.proc.pid)
        run = load(service.url, small, 16, a.rss_requests, a.rss_max_seconds)
        r1 = rss_mb(service.proc.pid)
        report["rss"] = {"requests": run["requests"], "rss_start_mb": round(r0, 1), "rss_end_mb": round(r1, 1),
                         "growth": round(r1 / r0 - 1, 3), "other_5xx": run["other_5xx"]}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
