"""The fixed train / validation splits of the real data in ``../shared/data`` (never train on val).

Validation never shares a source photo (or book page) with training: neighbouring crops of one photo
carry the same words, fonts and lighting, so a strided split scores memory, not reading.

* ``iiit5k_train``: crops are named ``PHOTO_N``; the last fifth of the photos (by photo number) is
  validation, every crop of a photo on the same side.
* ``icdar2015_wordrec_train``: crops are numbered in photo order; the last ``VAL_BLOCK`` crops are
  validation and the ``GUARD`` crops before them (the photo that may straddle the cut) are not used.
* ``vintext_rec_train``: the same, numbered in photo order: last ``VAL_BLOCK`` crops, ``GUARD`` before.
* ``arabic_lines_dev``: the last tenth of each book's lines (contiguous pages) is validation.
* ``svt_train``: all training.
* ``icdar2015_dev``: images img_1..img_200 may be trained on (detector); img_201..img_250 are validation.
* ``icdar2013_borndigital_dev``: images img_1..img_260 may be trained on; img_261..img_310 are validation.
* Cyrillic: a seeded synthetic set (``SYNTH_CYRILLIC_VAL_SEED``), never a training seed.

>>> split_labels("iiit5k_train", [{"image": f"crops/{p}_1.png"} for p in (10, 3, 7, 1, 2)])
['val', 'train', 'train', 'train', 'train']
>>> sides = split_labels("icdar2015_wordrec_train", [{}] * 500)
>>> [sides.count(s) for s in ("train", "gap", "val")], sides[369:371], split_labels("svt_train", [{}])
([370, 30, 100], ['train', 'gap'], ['train'])
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

SYNTH_CYRILLIC_VAL_SEED = 990_001  # training seeds are < 1000 by convention
SYNTH_CYRILLIC_VAL_SIZE = 1000
SYNTH_VAL_DIFFICULTY = 0.3  # the legible set: a third of the curriculum's top distortion (docs/audit)
IC15_TRAIN_IMAGES = range(1, 201)
IC15_VAL_IMAGES = range(201, 251)
BD_DATASET = "icdar2013_borndigital_dev"  # ICDAR 2013 born-digital graphics, icdar2015_dev's layout
BD_TRAIN_IMAGES = range(1, 261)
BD_VAL_IMAGES = range(261, 311)
VAL_BLOCK = {"icdar2015_wordrec_train": 420, "vintext_rec_train": 2500}  # last crops, in photo order
GUARD = 30  # crops dropped before a block: one photo's words may straddle the cut
PHOTO_SHARE = {"iiit5k_train": 0.2}  # share of photos (the highest numbers) held out
BOOK_SHARE = {"arabic_lines_dev": 0.1}  # last share of each book's lines held out


def split_labels(dataset: str, rows: list[dict]) -> list[str]:
    """'train', 'val' or 'gap' (used by neither) for each label row of ``dataset``, in row order."""
    n = len(rows)
    if dataset in VAL_BLOCK:
        k = min(VAL_BLOCK[dataset], n // 5)
        g = min(GUARD, max(0, n - k))
        return ["train"] * (n - k - g) + ["gap"] * g + ["val"] * k
    if dataset in PHOTO_SHARE:
        photo = [Path(r["image"]).stem.rsplit("_", 1)[0] for r in rows]
        ids = sorted(set(photo), key=lambda p: (len(p), p))  # numeric order for digit names
        held = set(ids[len(ids) - round(len(ids) * PHOTO_SHARE[dataset]):])
        return ["val" if p in held else "train" for p in photo]
    if dataset in BOOK_SHARE:
        books: dict[str, list[int]] = {}
        for i, r in enumerate(rows):
            books.setdefault(r.get("book", ""), []).append(i)
        out = ["train"] * n
        for idx in books.values():
            for i in idx[len(idx) - round(len(idx) * BOOK_SHARE[dataset]):]:
                out[i] = "val"
        return out
    return ["train"] * n


def data_root() -> Path:
    """``$ROSETTA_DATA`` or the ``shared/data`` folder beside (or inside) the working directory."""
    env = os.environ.get("ROSETTA_DATA")
    if env:
        return Path(env)
    for base in (Path.cwd(), *Path.cwd().parents):
        for cand in (base / "shared" / "data", base.parent / "shared" / "data"):
            if (cand / "README.md").exists():
                return cand
    return Path.cwd().parent / "shared" / "data"


def read_labels(folder: Path) -> list[dict]:
    with open(folder / "labels.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def crop_split(dataset: str, split: str, root: Path | None = None) -> list[tuple[Path, str]]:
    """(image path, text) pairs of ``dataset``'s ``split`` ('train', 'val' or 'all')."""
    folder = (root or data_root()) / dataset
    rows = read_labels(folder)
    sides = split_labels(dataset, rows)
    return [(folder / r["image"], r["text"]) for r, side in zip(rows, sides)
            if (split == "all" and side != "gap") or side == split]


def ic15_image_number(name: str) -> int:
    m = re.search(r"img_(\d+)", name)
    return int(m.group(1)) if m else -1
