"""Contact sheet of the first crops of a synthetic validation set, with the shipped recognizer's reads.

    python scripts/val_sheet.py cyrillic 48 docs/cyrillic_val_first48.jpg

Prints one line per crop (OK/XX, label -> read, confidence) and writes the crops, 40 px high, two a row, in
the same order (left to right, top to bottom), so that one can judge how many a person could read.
"""

from __future__ import annotations

import sys

import cv2
import numpy as np


def main() -> None:
    from rosetta.cli_eval import synthetic_val
    from rosetta.train.predict import TorchRecognizer as Recognizer

    script, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    images, texts = synthetic_val(script, n)
    reads = Recognizer.load(engine="onnx")(images)
    tiles = []
    for im, text, (read, conf) in zip(images, texts, reads):
        g = im if im.ndim == 2 else cv2.cvtColor(im, cv2.COLOR_RGB2GRAY)
        g = cv2.resize(g, (max(1, min(400, round(g.shape[1] * 40 / g.shape[0]))), 40))
        tile = np.full((40, 400), 255, np.uint8)
        tile[:, :g.shape[1]] = g
        tiles.append(tile)
        print(f"{'OK' if read.lower() == text.lower() else 'XX'} {text!r} -> {read!r} {conf:.2f}")
    if len(tiles) % 2:
        tiles.append(np.full((40, 400), 255, np.uint8))
    sheet = np.vstack([np.hstack(tiles[i:i + 2]) for i in range(0, len(tiles), 2)])
    cv2.imwrite(out, sheet, [cv2.IMWRITE_JPEG_QUALITY, 85])


if __name__ == "__main__":
    main()
