"""Real word crops as the end-to-end reader cuts them: loose, off-centre margins with real neighbours inside.

The real crop sets are tight boxes (IIIT5K, ICDAR 2015's official crops), but the reader cuts each detected box
with a margin (``ReadConfig.crop_margin`` and the re-read margins), so its crops carry background and the ends
of neighbouring letters and words (the recognizer of 2026-12-01 read the ground-truth words of ICDAR 2015
img_1..200 at 0.559 with the reader's margin 0.16, at 0.613 cut tighter). Two sources show a run the reader's crops
(``TrainConfig.context_photos`` / ``context_share``, ``loosen_share``; rec6 trained with both gained about a point
at every margin, the gap between margins stayed):

- :class:`PhotoWords`: words cut from full training photos (born-digital graphics img_1..240 by default) at a
  random margin, centre, size and angle, so the context is real;
- :func:`loosen`: a tight crop given a margin (border repeated) and, often, a sliver of another crop at either
  end: the partial letter of a neighbour, which the reader must not read.

>>> rng = random.Random(0)
>>> g = np.full((40, 120), 200, np.uint8)
>>> out = loosen(rng, g, [np.zeros((40, 90), np.uint8)])
>>> out.shape[0], out.dtype.name
(40, 'uint8')
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from rosetta.charset import normalize
from rosetta.data.crops import to_height
from rosetta.data.icdar2015 import parse_range, training_images
from rosetta.geometry import quad_to_box, rotated_crop


@dataclass(frozen=True)
class Margins:
    """Ranges of the cut, in box heights (uniform draws): ``along`` each end, ``across`` top and bottom,
    ``shift`` of the centre, ``angle`` in degrees."""
    along: tuple[float, float] = (-0.04, 0.35)
    across: tuple[float, float] = (-0.04, 0.25)
    shift: float = 0.06
    angle: float = 2.0


class PhotoWords:
    """The words of full photos (grayscale, in memory), cut on demand as a detector's box would be.

    ``spec``: ``DATASET:RANGE`` (``icdar2013_borndigital_dev:1-240``); validation images are refused.
    Words marked ignore, and words that are not upright-ish boxes of at least 6 px, are skipped."""

    def __init__(self, spec: str, margins: Margins = Margins()):
        dataset, _, numbers = spec.partition(":")
        if not parse_range(numbers):
            raise ValueError(f"context photos {spec!r}: expected DATASET:RANGE, e.g. icdar2013_borndigital_dev:1-240")
        rows, images = training_images(numbers, "recognizer training", dataset=dataset)
        self.margins = margins
        self.images = [cv2.cvtColor(im, cv2.COLOR_RGB2GRAY) for im in images]
        self.words: list[tuple[int, np.ndarray, str]] = []  # (image index, box (cx, cy, w, h, angle), text)
        for i, r in enumerate(rows):
            for w in r["words"]:
                text = normalize(w.get("text", ""))
                if w.get("ignore") or not text or text == "###":
                    continue
                box = quad_to_box(np.float32(w["points"]))
                if min(box[2], box[3]) >= 6:
                    self.words.append((i, box, text))

    def __len__(self) -> int:
        return len(self.words)

    def cut(self, rng: random.Random, k: int) -> np.ndarray:
        """Word ``k`` cut at a random margin, centre and angle: (STORE_HEIGHT, W) uint8."""
        i, (cx, cy, w, h, a), _ = self.words[k]
        m = self.margins
        t = np.radians(a)
        dx, dy = (rng.uniform(-m.shift, m.shift) * h for _ in range(2))
        along = [rng.uniform(*m.along) for _ in range(2)]
        across = [rng.uniform(*m.across) for _ in range(2)]
        # uneven ends move the centre along the text, uneven top and bottom across it
        su, sv = (along[1] - along[0]) / 2 * h, (across[1] - across[0]) / 2 * h
        cx += dx + su * np.cos(t) + sv * np.sin(t)
        cy += dy - su * np.sin(t) + sv * np.cos(t)
        box = (cx, cy, max(4.0, w + sum(along) * h), max(4.0, h * (1 + sum(across))), a + rng.uniform(-m.angle, m.angle))
        return to_height(rotated_crop(self.images[i], box, 0.0))

    def sample(self, rng: random.Random) -> tuple[np.ndarray, str]:
        """A random word, cut: (crop, text)."""
        k = rng.randrange(len(self.words))
        return self.cut(rng, k), self.words[k][2]


def loosen(rng: random.Random, g: np.ndarray, others: Sequence[np.ndarray], sliver: float = 0.5,
           margins: Margins = Margins()) -> np.ndarray:
    """A tight crop ``g`` (H, W) given a margin (border repeated) along and across, and with probability
    ``sliver`` at each end a strip of one of ``others`` (same height) a quarter to a half height wide: the edge
    of a neighbouring word. Returns (H, W') uint8 at ``g``'s height."""
    h, w = g.shape
    along = [max(0.0, rng.uniform(*margins.along)) for _ in range(2)]
    across = [max(0.0, rng.uniform(*margins.across)) for _ in range(2)]
    left, right = (int(a * h) for a in along)
    top, bottom = (int(a * h) for a in across)
    parts = []
    for end in (0, 1):
        if others and rng.random() < sliver:
            o = others[rng.randrange(len(others))]
            o = cv2.resize(o, (max(1, int(o.shape[1] * h / o.shape[0])), h)) if o.shape[0] != h else o
            sw = min(o.shape[1], max(1, int(rng.uniform(0.25, 0.5) * h)))
            parts.append(o[:, -sw:] if end == 0 else o[:, :sw])  # the neighbour's near end
        else:
            parts.append(None)
    out = cv2.copyMakeBorder(g, top, bottom, left, right, cv2.BORDER_REPLICATE)
    gap_l, gap_r = left // 2, right // 2
    if parts[0] is not None:
        s = cv2.resize(parts[0], (parts[0].shape[1], out.shape[0]))
        out = np.concatenate([s, out[:, gap_l:]], 1) if gap_l < out.shape[1] else out
    if parts[1] is not None:
        s = cv2.resize(parts[1], (parts[1].shape[1], out.shape[0]))
        out = np.concatenate([out[:, :out.shape[1] - gap_r], s], 1) if gap_r < out.shape[1] else out
    return cv2.resize(out, (max(4, int(round(out.shape[1] * h / out.shape[0]))), h), interpolation=cv2.INTER_AREA)


__all__ = ["Margins", "PhotoWords", "loosen"]
