"""How a crop's read depends on the padding its recognizer batch gives it: word accuracy (case-insensitive, edge
punctuation dropped) on the first 400 validation crops of IIIT5K and IC15, read in the recognizer's usual
batches (crops of similar width padded to one width, up to 1.6x), one crop per call, and in batches padded by 36
or 64 more columns (past the network's reach, so a crop's batch-mates should no longer matter).

    python scripts/recognizer_padding.py
"""

from __future__ import annotations

import json
from typing import Callable

import numpy as np


def padded_by(extra: int, pad: Callable) -> Callable:
    """``pad_batch`` with ``extra`` more zero columns on the right of every batch."""
    def pad_batch(inputs, multiple: int = 4):
        x, widths = pad(inputs, multiple)  # (B, 1, 32, W)
        if extra:
            x = np.concatenate([x, np.zeros((x.shape[0], 1, x.shape[2], extra), x.dtype)], 3)  # -> (B, 1, 32, W + extra)
        return x, widths
    return pad_batch


def main() -> None:
    import rosetta.runtime.recognizer as recognizer_module
    from rosetta.data.crops import load_crops
    from rosetta.eval import e2e_form

    plain = recognizer_module.pad_batch
    rec = recognizer_module.Recognizer.load()
    for dataset in ("iiit5k_train", "icdar2015_wordrec_train"):
        crops = load_crops(dataset, "val")
        images, labels = crops.images[:400], crops.texts[:400]
        for mode, extra in (("batched", 0), ("alone", 0), ("batched+36", 36), ("batched+64", 64)):
            recognizer_module.pad_batch = padded_by(extra, plain)
            try:
                reads = [rec([im])[0] for im in images] if mode == "alone" else rec(images)
            finally:
                recognizer_module.pad_batch = plain
            acc = np.mean([e2e_form(t) == e2e_form(gt) for (t, _), gt in zip(reads, labels)])
            print(json.dumps({"data": dataset, "crops": len(images), "mode": mode, "word_acc": round(float(acc), 4)}),
                  flush=True)


if __name__ == "__main__":
    main()
