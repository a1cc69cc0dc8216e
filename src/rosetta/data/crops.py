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
from rosetta.data.icdar2015 import load_gt_rows
from rosetta.data.splits import data_root, read_labels, split_labels
from rosetta.geometry import quad_to_box, rotated_crop
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
    return to_height(g, height)


def to_height(g: np.ndarray, height: int = STORE_HEIGHT) -> np.ndarray:
    """``g`` resized to ``height`` rows (default: as the crop sets are stored), aspect kept, at least 4 columns.

    >>> to_height(np.zeros((20, 50), np.uint8)).shape
    (40, 100)
    """
    h, w = g.shape[:2]
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


PHOTO_WORDS_MARGIN = 0.16  # the end-to-end reader's first crop margin (ReadConfig.crop_margin)


def photo_word_crops(dataset: str = "icdar2015_dev", numbers: range | set[int] = range(201, 251), root: Path | None = None,
                     height: int | None = STORE_HEIGHT, margin: float | tuple[float, float] = PHOTO_WORDS_MARGIN
                     ) -> Crops:
    """Word crops cut from full photos' ground-truth quads (don't-care words skipped), upright, at the margin the
    end-to-end reader uses (or ``margin``: one number for every side or (along, across) the text, in box heights):
    the words of ICDAR 2015 img_201..250 by default, photos no recognizer trains on, so
    this set scores the shipped model and a new one alike (the crop sets' validation blocks were trained on by
    models made before the splits were grouped by photo). ``height=None``: colour crops at the photo's resolution
    (what another OCR's recognizer would be given)."""
    folder = (root or data_root()) / dataset
    images, texts, names = [], [], []
    for r in load_gt_rows(folder, numbers):
        words = [w for w in r["words"] if not w.get("ignore")]
        if not words:
            continue
        bgr = cv2.imread(str(folder / r["image"]))
        if bgr is None:
            raise ValueError(f"{folder / r['image']}: cannot decode image")
        src = bgr[..., ::-1].copy() if height is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        for k, w in enumerate(words):
            crop = rotated_crop(src, quad_to_box(np.float32(w["points"])), margin)
            images.append(crop if height is None else to_height(crop, height))
            texts.append(normalize(w["text"]))
            names.append(f"{r['image']}#{k}")
    return Crops(images, texts, names)
