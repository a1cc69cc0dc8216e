"""Seconds per image of Rosetta and its peers, interleaved image by image, so that a host shared with other work
slows every system alike and the ratios hold (``benchmarks/peers.py`` runs the systems one after the other).

    python benchmarks/peers_timing.py [--data ic15,bd] [--systems rosetta,rosetta-int8,rapidocr,rapidocr3,tesseract]
                                      [--before-src OLD/src] [--out docs/results]

Each system runs in a process of its own at one thread, started and warmed up (one image) before timing; then
every image goes to every system in turn, the order rotated from image to image, and each system's wall time for
the image is summed (file decoding included; Tesseract's is its command's, process start included, as the CLI is
how it is used). The words are those of ``peers.py`` (the same code), scored the same way, so accuracy equals
that run's; it is printed as a check.

Also measured per served system: the start-up (process start until the engine is built, ``rosetta.OCR()`` for
ours) and the peak resident memory over the whole run; ``--data ic15all`` reads img_1..250 one by one for the
memory figure (its accuracy is on training images: not a result). ``--before-src`` adds ``rosetta-before``:
the same OCR from another checkout's sources (e.g. a worktree of an earlier commit), to compare a change with
what it replaces in one run.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from peers import DATA, NAMES, RAPIDOCR3_PYTHON, WORKER, images, machine

log = logging.getLogger("peers_timing")


class Served:
    """A long-lived system process: one image path a line in, one JSON line out. It first says
    ``{"ready": true, ...}`` once its engine is built: ``start_s`` is the wall time from process start to then."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None):
        t = time.perf_counter()
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env={**os.environ, "OMP_NUM_THREADS": "1", "OMP_THREAD_LIMIT": "1", **(env or {})})
        line = self.proc.stdout.readline()
        if not line or not json.loads(line).get("ready"):
            raise SystemExit(f"peers_timing: {argv} did not start")
        self.start_s = time.perf_counter() - t
        self.ready = json.loads(line)

    def ask(self, path: Path) -> dict:
        self.proc.stdin.write(f"{path}\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"peers_timing: {self.proc.args} stopped")
        return json.loads(line)

    def close(self) -> float:
        self.proc.stdin.close()
        last = json.loads(self.proc.stdout.readlines()[-1])
        self.proc.wait()
        return float(last["peak_rss_mb"])


def serve_rosetta(int8: bool) -> None:
    """``--serve rosetta|rosetta-int8``: the OCR at one thread, image paths in, words and seconds out."""
    import resource

    from rosetta import OCR
    from rosetta.eval import scored_words

    try:
        from rosetta import ReadConfig
    except ImportError:  # --before-src: a checkout from before ReadConfig
        ocr = OCR(threads=1, int8=int8)
    else:
        ocr = OCR(ReadConfig(threads=1, int8=int8))
    print(json.dumps({"ready": True, "torch_imported": "torch" in sys.modules}), flush=True)
    for path in sys.stdin:
        t = time.perf_counter()
        words = scored_words(ocr(path.strip()))
        print(json.dumps({"words": words, "seconds": time.perf_counter() - t}), flush=True)
    print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}), flush=True)


def tesseract(path: Path) -> dict:
    from peers import tesseract_words

    t = time.perf_counter()
    words = tesseract_words(path)
    return {"words": words, "seconds": time.perf_counter() - t}


def main() -> None:
    import argparse

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="ic15,bd")
    ap.add_argument("--systems", default="rosetta,rosetta-int8,rapidocr,rapidocr3,tesseract")
    ap.add_argument("--rapidocr3-python", default=RAPIDOCR3_PYTHON)
    ap.add_argument("--limit", type=int, default=None, help="first N images only (a smoke test, not a result)")
    ap.add_argument("--before-src", default=None, help="add rosetta-before: OCR from this src folder (fp32)")
    ap.add_argument("--out", default=None, help="folder for bench_peers_timing.jsonl (appended)")
    ap.add_argument("--serve", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.out:  # made now: a benchmark's results must not be lost at its end for a missing folder
        Path(a.out).mkdir(parents=True, exist_ok=True)
    if a.serve:
        serve_rosetta(a.serve == "rosetta-int8")
        return

    from rosetta.eval import evaluate_images
    from rosetta.eval_lines import split_line

    systems = a.systems.split(",") + (["rosetta-before"] if a.before_src else [])
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    for key in a.data.split(","):
        paths, gts = images(key)
        paths, gts = paths[:a.limit], gts[:a.limit]
        served: dict[str, Served] = {}
        for s in systems:
            if s in ("rosetta", "rosetta-int8"):
                served[s] = Served([sys.executable, __file__, "--serve", s])
            elif s == "rosetta-before":
                served[s] = Served([sys.executable, __file__, "--serve", "rosetta"],
                                   {"PYTHONPATH": str(Path(a.before_src).resolve())})
            elif s in ("rapidocr", "rapidocr3"):
                served[s] = Served([sys.executable if s == "rapidocr" else a.rapidocr3_python, str(WORKER), "--serve"])
        ask = {s: (served[s].ask if s in served else tesseract) for s in systems}
        for s in systems:  # warm up
            ask[s](paths[0])
        secs = {s: 0.0 for s in systems}
        words: dict[str, list] = {s: [] for s in systems}
        for i, p in enumerate(paths):
            for s in systems[i % len(systems):] + systems[:i % len(systems)]:
                ans = ask[s](p)
                secs[s] += ans["seconds"]
                if "lines" in ans:
                    ans["words"] = [w for ln in ans["lines"]
                                    for w in split_line(ln["points"], ln["text"], ln["cols"], ln["n_cols"])]
                words[s].append(ans["words"])
        rss = {s: served[s].close() for s in served}
        base = secs.get("rosetta")
        print(f"\n{DATA[key][0]} img_{DATA[key][1].start}..{DATA[key][1].start + len(paths) - 1}, interleaved ({stamp}, "
              f"{machine()})\n\n| system | e2e hmean | s/image (1 thread) | x Rosetta fp32 | start-up s | peak RSS MB | "
              f"PyTorch imported |\n|---|---|---|---|---|---|---|")
        for s in systems:
            e2e = evaluate_images(gts, words[s])["e2e"]["hmean"]
            row = {"system": s, "data": DATA[key][0], "e2e_hmean": round(e2e, 4),
                   "s_per_image": round(secs[s] / len(paths), 3), "peak_rss_mb": round(rss.get(s, 0.0), 1),
                   "start_s": round(served[s].start_s, 2) if s in served else None,
                   "torch_imported": served[s].ready.get("torch_imported") if s in served else None,
                   "interleaved": True, "date": stamp, "machine": machine()}
            ratio = f"{secs[s] / base:.2f}" if base else "-"
            torch_col = {True: "yes", False: "no", None: "-"}[row["torch_imported"]]
            print(f"| {NAMES.get(s, s)} | {e2e:.3f} | {row['s_per_image']:.3f} | {ratio} | {row['start_s'] or '-'} | "
                  f"{row['peak_rss_mb'] or '-'} | {torch_col} |", flush=True)
            if a.out:
                with open(Path(a.out) / "bench_peers_timing.jsonl", "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
