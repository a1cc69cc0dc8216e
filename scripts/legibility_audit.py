"""How well can a careful reader do on a synthetic validation set? A blind transcription, scored like the model.

Step 1 draws the first N crops of a seeded synthetic validation set on contact sheets (12 a sheet, each crop
scaled to 56 px high, numbered, labels *not* shown):

    python scripts/legibility_audit.py sheets cyrillic 60 docs/audit

Step 2: a person reads the sheets and writes what each crop says into a JSON list of N strings ("" for a crop
they cannot read), without looking at the labels. Step 3 scores that transcription and the shipped recognizer
on the same crops with the validation protocol (word accuracy, case-insensitive on letters and digits):

    python scripts/legibility_audit.py score cyrillic docs/audit/cyrillic_reads.json

The reader's accuracy estimates the ceiling of the set as defined: crops a careful reader cannot read are
noise to any model.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import cv2
import numpy as np

PER_SHEET, HEIGHT, WIDTH = 12, 56, 960


def sheets(script: str, n: int, out: Path) -> list[Path]:
    """Write ``ceil(n / 12)`` numbered sheets ``{script}_sheet{k}.jpg`` of the first ``n`` crops, no labels."""
    from rosetta.cli_eval import synthetic_val

    images, _ = synthetic_val(script, n)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(math.ceil(n / PER_SHEET)):
        rows = []
        for i in range(k * PER_SHEET, min(n, (k + 1) * PER_SHEET)):
            im = images[i] if images[i].ndim == 3 else cv2.cvtColor(images[i], cv2.COLOR_GRAY2RGB)
            w = max(1, min(WIDTH - 60, round(im.shape[1] * HEIGHT / im.shape[0])))
            up = im.shape[0] < HEIGHT
            tile = cv2.resize(im, (w, HEIGHT), interpolation=cv2.INTER_CUBIC if up else cv2.INTER_AREA)
            row = np.full((HEIGHT + 8, WIDTH, 3), 255, np.uint8)  # (h, w, 3) RGB
            cv2.putText(row, str(i), (2, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 0, 0), 2)
            row[4:4 + HEIGHT, 55:55 + w] = tile
            rows.append(row)
        path = out / f"{script}_sheet{k}.jpg"
        cv2.imwrite(str(path), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        paths.append(path)
    return paths


def score(script: str, reads_file: Path) -> dict:
    """The reader's and the shipped recognizer's scores on the crops the transcription covers."""
    from rosetta.cli_eval import synthetic_val
    from rosetta.metrics import standard_form, text_scores
    from rosetta.train.predict import TorchRecognizer as Recognizer

    reads = json.loads(Path(reads_file).read_text(encoding="utf-8"))
    images, labels = synthetic_val(script, len(reads))
    model = [text for text, _ in Recognizer.load(engine="onnx")(images)]
    right = [standard_form(r) == standard_form(t) for r, t in zip(reads, labels)]
    model_right = [standard_form(r) == standard_form(t) for r, t in zip(model, labels)]
    both = sum(a and b for a, b in zip(right, model_right))
    return {"crops": len(reads), "reader": text_scores(reads, labels), "model": text_scores(model, labels),
            "reader_unread": sum(not r.strip() for r in reads),
            "model_on_reader_right": round(both / max(1, sum(right)), 4),
            "reader_wrong_ids": [i for i, ok in enumerate(right) if not ok]}


def main() -> None:
    if len(sys.argv) < 4 or sys.argv[1] not in ("sheets", "score"):
        raise SystemExit(__doc__)
    if sys.argv[1] == "sheets":
        for p in sheets(sys.argv[2], int(sys.argv[3]), Path(sys.argv[4] if len(sys.argv) > 4 else "docs/audit")):
            print(p)
    else:
        print(json.dumps(score(sys.argv[2], Path(sys.argv[3])), indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
