"""The error breakdown (:mod:`rosetta.eval_explain`) of every system of a ``benchmarks/peers.py --words DIR`` run,
side by side: one row per reason, one column per system, one table per data set.

    python benchmarks/peers.py --words /tmp/peer_words --out docs/results
    python benchmarks/peers_explain.py /tmp/peer_words [--data ic15,bd]

The words are what each system returned (after its own confidence floor), so the confidence-floor and
detector-threshold rows stay empty here: ``rosetta eval ocr --explain`` fills them for Rosetta.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from peers import DATA, images

SHORT = {"rosetta": "Rosetta fp32", "rosetta-int8": "Rosetta int8", "rapidocr": "RapidOCR 1.4",
         "rapidocr3": "rapidocr 3.10", "tesseract": "Tesseract 5.3"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("words", help="the --words folder of a peers.py run")
    ap.add_argument("--data", default="ic15,bd")
    ap.add_argument("--systems", default="rosetta,rosetta-int8,rapidocr,rapidocr3,tesseract")
    a = ap.parse_args()

    from rosetta.eval_explain import FP_REASONS, MISS_REASONS, explain_images

    for key in a.data.split(","):
        paths, gts = images(key)
        cols = {}
        for s in a.systems.split(","):
            f = Path(a.words) / f"{s}_{key}.jsonl"
            if not f.exists():
                continue
            rows = {r["image"]: r["words"] for r in map(json.loads, f.read_text(encoding="utf-8").splitlines())}
            cols[s] = explain_images(gts, [rows[p.name] for p in paths])
        if not cols:
            continue
        names = list(cols)
        out = [f"{DATA[key][0]} img_{DATA[key][1].start}..{DATA[key][1].stop - 1}: words", "",
               "| | " + " | ".join(SHORT.get(s, s) for s in names) + " |",
               "|---" * (len(names) + 1) + "|"]
        first = next(iter(cols.values()))
        out.append(f"| ground-truth words | {' | '.join(str(first['gt']) for _ in names)} |")
        out.append(f"| right end to end | {' | '.join(str(cols[s]['e2e_match']) for s in names)} |")
        for r in MISS_REASONS:
            if any(cols[s]["misses"][r] for s in names):
                out.append(f"| missed: {r} | {' | '.join(str(cols[s]['misses'][r]) for s in names)} |")
        out.append(f"| words returned | {' | '.join(str(cols[s]['kept']) for s in names)} |")
        for r in FP_REASONS:
            if any(cols[s]["false_positives"][r] for s in names):
                out.append(f"| false positive: {r} | {' | '.join(str(cols[s]['false_positives'][r]) for s in names)} |")
        print("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
