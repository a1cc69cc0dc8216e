"""The fixed train / validation splits of the real data in ``../shared/data`` (never train on val).

Written down once here and in docs/DATA.md:

* ``iiit5k_train``: every 5th crop (0-based line index ``i % 5 == 4``) is validation.
* ``icdar2015_wordrec_train``: every 10th crop (``i % 10 == 9``) is validation.
* ``arabic_lines_dev``: every 10th line (``i % 10 == 9``) is validation.
* ``svt_train``: all training.
* ``icdar2015_dev``: images img_1..img_200 may be trained on (detector); img_201..img_250 are validation.
* Cyrillic: a seeded synthetic set (``SYNTH_CYRILLIC_VAL_SEED``), never a training seed.

>>> is_val("iiit5k_train", 4), is_val("iiit5k_train", 5), is_val("svt_train", 9)
(True, False, False)
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

VAL_EVERY = {"iiit5k_train": 5, "icdar2015_wordrec_train": 10, "arabic_lines_dev": 10}
SYNTH_CYRILLIC_VAL_SEED = 990_001  # training seeds are < 1000 by convention
SYNTH_CYRILLIC_VAL_SIZE = 1000
IC15_TRAIN_IMAGES = range(1, 201)
IC15_VAL_IMAGES = range(201, 251)


def is_val(dataset: str, index: int) -> bool:
    k = VAL_EVERY.get(dataset)
    return k is not None and index % k == k - 1


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
    out = []
    for i, r in enumerate(rows):
        v = is_val(dataset, i)
        if split == "all" or (split == "val") == v:
            out.append((folder / r["image"], r["text"]))
    return out


def ic15_image_number(name: str) -> int:
    m = re.search(r"img_(\d+)", name)
    return int(m.group(1)) if m else -1
