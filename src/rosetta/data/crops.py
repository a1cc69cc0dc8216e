"""Real word/line crops loaded once into memory (grayscale, fixed height) for training and eval.

The decoded arrays are cached under ``~/.cache/rosetta/crops`` (a derived cache of the research
data, never inside the repository) so later runs start in seconds.

>>> crops = load_crops("svt_train", "train")   # doctest: +SKIP
>>> crops.images[0].shape[0], len(crops) > 0   # doctest: +SKIP
(40, True)
"""

from __future__ import annotations

import hashlib
import logging
import pickle
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from rosetta.charset import normalize
from rosetta.data.splits import data_root, read_labels, split_labels
from rosetta.synth.corpus import default_cache_dir

log = logging.getLogger(__name__)

STORE_HEIGHT = 40  # a little above the model's 32 px, for augmentation headroom


@dataclass
class Crops:
    images: list[np.ndarray]  # (STORE_HEIGHT, W) uint8 grayscale
    texts: list[str]
    names: list[str]

    def __len__(self) -> int:
        return len(self.texts)


def _load_gray(path: Path, height: int) -> np.ndarray:
    g = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if g is None:
        raise ValueError(f"{path}: cannot decode image")
    h, w = g.shape
    tw = max(4, int(round(w * height / max(1, h))))
    return cv2.resize(g, (tw, height), interpolation=cv2.INTER_AREA if h > height else cv2.INTER_LINEAR)


def load_crops(dataset: str, split: str, root: Path | None = None, height: int = STORE_HEIGHT,
               case_sensitive: bool = True) -> Crops:
    """Crops of ``dataset`` ('train' | 'val' | 'all'), texts NFC-normalised.

    ``case_sensitive`` uses IIIT5K's ``text_cs`` re-annotation (case and punctuation) when present."""
    folder = (root or data_root()) / dataset
    if not (folder / "labels.jsonl").exists():
        raise FileNotFoundError(f"{folder}/labels.jsonl not found: set ROSETTA_DATA to the shared data folder")
    rows = read_labels(folder)
    sides = split_labels(dataset, rows)
    key = hashlib.sha1(f"{folder.resolve()}|{split}|{height}|{case_sensitive}|{len(rows)}|{sides}".encode()
                       ).hexdigest()[:12]
    cache = default_cache_dir() / "crops" / f"{dataset}-{split}-{key}.pkl"
    if cache.exists():
        with open(cache, "rb") as fh:
            return pickle.load(fh)
    images, texts, names = [], [], []
    for r, side in zip(rows, sides):
        if side != split and (split != "all" or side == "gap"):
            continue
        text = r.get("text_cs", r["text"]) if case_sensitive else r["text"]
        images.append(_load_gray(folder / r["image"], height))
        texts.append(normalize(text))
        names.append(r["image"])
    crops = Crops(images, texts, names)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        pickle.dump(crops, fh, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(cache)
    log.info("cached %d crops of %s/%s", len(crops), dataset, split)
    return crops
