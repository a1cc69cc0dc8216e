"""Rosetta beside its peers on the same images, scored alike: detection and end-to-end hmean at word level and at
line level, s/image at one thread, peak RSS.

    pip install 'rosetta-ocr[peers]'                     # RapidOCR 1.4 (PP-OCRv4); with opencv-python-headless
                                                         # already there: pip install --no-deps rapidocr-onnxruntime==1.4.4 pyclipper six
    python -m venv /work/venvs/rapidocr3 && /work/venvs/rapidocr3/bin/pip install rapidocr==3.10.0 onnxruntime
    apt-get install tesseract-ocr                        # Tesseract 5, English
    python benchmarks/peers.py [--data ic15,bd] [--systems rosetta,rosetta-int8,rapidocr,rapidocr3,tesseract]
                               [--rapidocr3-python /work/venvs/rapidocr3/bin/python] [--out docs/results]

Data (``$ROSETTA_DATA`` or ../shared/data):

* ``ic15``: ICDAR 2015 img_201..250 (``icdar2015_dev``), the images no Rosetta model was trained or chosen on.
* ``bd``: ICDAR 2013 born-digital img_261..310 (``icdar2013_borndigital_dev``): the last 50 of its 310 images are
  this benchmark's validation part, chosen here once; a detector trained on born-digital images uses img_1..260
  only.

Each system runs in its own process (so peak RSS is its own) at one thread, one system after the other, over the
same images (JPEG/PNG decoding included, one warm-up image first, not timed). The host is shared: time ratios
from one run are what to compare.

How each system's output becomes words:

* Rosetta: its words (rotated boxes), after its own confidence floor.
* RapidOCR 1.4 (``rapidocr_onnxruntime``, PP-OCRv4 mobile) and rapidocr 3.x (``rapidocr``, PP-OCRv6 small, in its
  own venv: its OpenCV clashes with 1.4's) find and read text lines. ``benchmarks/rapidocr_worker.py`` runs their
  pipeline step by step and reports, per line, the CTC column where each character was decoded; the line is cut
  at its spaces into words along the line's own axis (:func:`rosetta.eval_lines.split_line`; 90-degree turned and
  upside-down lines included). Their own ``return_word_box`` is not used: RapidOCR 1.4's falls back to whole
  lines when its character boxes do not line up and is wrong on rotated lines.
* Tesseract 5 (LSTM, ``eng``, ``--psm 11`` sparse text, ``OMP_THREAD_LIMIT=1``): its TSV word boxes.

Scoring (:mod:`rosetta.eval`): ICDAR 2015 protocol, one-to-one at polygon IoU > 0.5, don't-care regions removed;
end to end also needs the text equal, case-insensitively, edge punctuation stripped. Line level
(:func:`rosetta.eval_lines.line_scores`): the words of every system and of the ground truth are merged into lines
by one rule (a ground-truth line holding a don't-care word is don't-care), then scored the same way, a line's
text (its words in reading order) compared in letters and digits only, case-insensitively: a line reader is not
handicapped there by the word split, nor by spaces it does not read (PP-OCRv4 reads "ONLINE SHOP" as "ONLINESHOP"
on born-digital images).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

log = logging.getLogger("peers")

DATA = {"ic15": ("icdar2015_dev", range(201, 251)), "bd": ("icdar2013_borndigital_dev", range(261, 311)),
        "ic15all": ("icdar2015_dev", range(1, 251))}  # all 250, for memory over a long run (peers_timing.py)
RAPIDOCR3_PYTHON = "/work/venvs/rapidocr3/bin/python"
WORKER = Path(__file__).with_name("rapidocr_worker.py")


def images(key: str) -> tuple[list[Path], list[list[dict]]]:
    """Image paths and ground-truth words of data set ``key`` (``ic15`` or ``bd``)."""
    from rosetta.data.icdar2015 import load_gt_rows
    from rosetta.data.splits import data_root

    name, numbers = DATA[key]
    folder = data_root() / name
    rows = load_gt_rows(folder, set(numbers))
    if len(rows) != len(numbers):
        raise SystemExit(f"peers: {len(rows)} of {len(numbers)} images found in {folder / 'gt.jsonl'}")
    return [folder / r["image"] for r in rows], [r["words"] for r in rows]


def _rosetta(paths: list[Path], int8: bool) -> tuple[list[list[dict]], float]:
    from rosetta import OCR, ReadConfig
    from rosetta.eval import scored_words

    ocr = OCR(ReadConfig(threads=1, int8=int8))
    ocr(str(paths[0]))  # warm up
    t = time.perf_counter()
    words = [scored_words(ocr(str(p))) for p in paths]
    return words, time.perf_counter() - t


def _rapidocr(paths: list[Path], python: str) -> tuple[list[list[dict]], float, dict]:
    from rosetta.eval_lines import split_line

    req = json.dumps({"mode": "ocr", "paths": [str(p) for p in paths]})
    p = subprocess.run([python, str(WORKER)], input=req, capture_output=True, text=True,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    if p.returncode != 0:
        raise SystemExit(f"peers: {python} {WORKER.name} failed: {p.stderr.strip()[-2000:]}")
    ans = json.loads(p.stdout)
    words = [[w for ln in lines for w in split_line(ln["points"], ln["text"], ln["cols"], ln["n_cols"])]
             for lines in ans["results"]]
    n_lines = sum(len(x) for x in ans["results"])
    n_split = sum(len(ln["text"].split()) > 1 for x in ans["results"] for ln in x)
    return words, ans["seconds"], {"lines": n_lines, "lines_cut": n_split}


def tesseract_words(path: Path) -> list[dict]:
    """Tesseract's words in one image (its TSV, word level)."""
    proc = subprocess.run(["tesseract", str(path), "-", "--psm", "11", "-l", "eng", "tsv"], capture_output=True,
                          text=True, env={**os.environ, "OMP_THREAD_LIMIT": "1"})
    if proc.returncode != 0:
        raise SystemExit(f"peers: tesseract failed on {path}: {proc.stderr.strip()}")
    out = []
    for line in proc.stdout.splitlines()[1:]:
        f = line.split("\t")
        if len(f) < 12 or f[0] != "5" or not f[11].strip():
            continue
        x, y, w, h = (int(v) for v in f[6:10])
        out.append({"points": [[x, y], [x + w, y], [x + w, y + h], [x, y + h]], "text": f[11].strip()})
    return out


def _tesseract(paths: list[Path]) -> tuple[list[list[dict]], float]:
    tesseract_words(paths[0])
    t = time.perf_counter()
    words = [tesseract_words(p) for p in paths]
    return words, time.perf_counter() - t


def run_one(system: str, key: str, rapidocr3_python: str, words_dir: str | None = None) -> dict:
    """One system over one data set, in this process: scores, time, peak RSS (and its words, per image, as
    ``words_dir/<system>_<key>.jsonl`` if given)."""
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)
    from rosetta.eval import evaluate_images
    from rosetta.eval_lines import line_scores

    paths, gts = images(key)
    extra: dict = {}
    if system in ("rosetta", "rosetta-int8"):
        words, dt = _rosetta(paths, int8=system == "rosetta-int8")
    elif system == "rapidocr":
        words, dt, extra = _rapidocr(paths, sys.executable)
    elif system == "rapidocr3":
        words, dt, extra = _rapidocr(paths, rapidocr3_python)
    elif system == "tesseract":
        words, dt = _tesseract(paths)
    else:
        raise SystemExit(f"peers: unknown system {system!r}")
    word = evaluate_images(gts, words)
    line = line_scores(gts, words)
    if words_dir:
        with open(Path(words_dir) / f"{system}_{key}.jsonl", "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps({"image": p.name, "words": w}, ensure_ascii=False) + "\n" for p, w in zip(paths, words))
    rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    r4 = lambda x: round(x, 4)  # noqa: E731
    return {"system": system, "data": DATA[key][0], "images": f"{DATA[key][1].start}-{DATA[key][1].stop - 1}",
            "det_hmean": r4(word["det"]["hmean"]), "e2e_hmean": r4(word["e2e"]["hmean"]),
            "e2e_precision": r4(word["e2e"]["precision"]), "e2e_recall": r4(word["e2e"]["recall"]),
            "line_det_hmean": r4(line["det"]["hmean"]), "line_e2e_hmean": r4(line["e2e"]["hmean"]),
            "word_counts": word["counts"], "line_counts": line["counts"], **extra,
            "s_per_image": round(dt / len(paths), 3), "peak_rss_mb": round(rss / 1024, 1)}


def machine() -> str:
    """The CPU's model name and the cores this process may use."""
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {len(os.sched_getaffinity(0))} cores"


def table(rows: list[dict]) -> str:
    """The rows as a Markdown table."""
    out = ["| system | det hmean | e2e hmean (P / R) | line det hmean | line e2e hmean | s/image (1 thread) | peak RSS MB |",
           "|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            out.append(f"| {r['system']} | error: {r['error']} | | | | | |")
            continue
        out.append(f"| {NAMES.get(r['system'], r['system'])} | {r['det_hmean']:.3f} | {r['e2e_hmean']:.3f} "
                   f"({r['e2e_precision']:.3f} / {r['e2e_recall']:.3f}) | {r['line_det_hmean']:.3f} | "
                   f"{r['line_e2e_hmean']:.3f} | {r['s_per_image']:.3f} | {r['peak_rss_mb']:.0f} |")
    return "\n".join(out)


NAMES = {"rosetta": "Rosetta fp32", "rosetta-int8": "Rosetta `--int8`", "rosetta-before": "Rosetta fp32 (--before-src)",
         "rapidocr": "RapidOCR 1.4.4 (PP-OCRv4 mobile), lines cut at CTC columns",
         "rapidocr3": "rapidocr 3.10 (PP-OCRv6 small), lines cut at CTC columns",
         "tesseract": "Tesseract 5.3 (LSTM, eng, psm 11)"}


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="ic15,bd", help="comma-separated: ic15 (img_201..250), bd (born-digital 261..310)")
    ap.add_argument("--systems", default="rosetta,rosetta-int8,rapidocr,rapidocr3,tesseract")
    ap.add_argument("--rapidocr3-python", default=RAPIDOCR3_PYTHON, help="the python of rapidocr 3.x's own venv")
    ap.add_argument("--out", default=None, help="folder for bench_peers_<data>.jsonl (appended)")
    ap.add_argument("--words", default=None, help="folder for each system's words per image (<system>_<data>.jsonl)")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    for folder in (a.out, a.words):  # made now: results must not be lost at the end for a missing folder
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
    if a.one:
        print(json.dumps(run_one(a.one, a.data, a.rapidocr3_python, a.words)))
        return
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    for key in a.data.split(","):
        rows = []
        for s in a.systems.split(","):
            p = subprocess.run([sys.executable, __file__, "--one", s, "--data", key,
                                "--rapidocr3-python", a.rapidocr3_python, *(["--words", a.words] if a.words else [])],
                               capture_output=True, text=True)
            if p.returncode != 0:
                lines = p.stderr.strip().splitlines()
                rows.append({"system": s, "error": lines[-1] if lines else "failed"})
            else:
                rows.append({**json.loads(p.stdout.strip().splitlines()[-1]), "date": stamp,
                             "machine": machine()})
            log.info(json.dumps(rows[-1]))
            if a.out:
                with open(Path(a.out) / f"bench_peers_{key}.jsonl", "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(rows[-1]) + "\n")
        print(f"\n{DATA[key][0]} img_{DATA[key][1].start}..{DATA[key][1].stop - 1} ({stamp})\n\n{table(rows)}\n",
              flush=True)


if __name__ == "__main__":
    main()
