"""Synthetic word (and short line) crops with labels, generated on the fly, deterministic per seed.

Sample ``i`` of seed ``s`` is always the same image, whatever the number of DataLoader workers:
each sample draws from its own ``random.Random(f"{s}:{i}")``.

>>> gen = WordSynth.create(WordSynthConfig(scripts=("latin",)))   # doctest: +SKIP
>>> s = gen.sample(0)                                            # doctest: +SKIP
>>> s.image.mode, isinstance(s.text, str)                        # doctest: +SKIP
('RGB', True)
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, replace
from typing import Iterator

import cv2
import numpy as np
from PIL import Image

from rosetta.synth.backgrounds import Backgrounds
from rosetta.synth.corpus import Corpus
from rosetta.synth.fonts import FontRegistry
from rosetta.synth.render import (composite, contrasting_color, degrade, ink_bbox, luminance,
                                  perspective_matrix, shear_matrix, text_mask, warp_bounds)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WordSynthConfig:
    """What word crops to make. ``difficulty`` in [0, 1] is the curriculum knob: it raises word
    length, rotation, perspective, blur, noise and mis-crops."""

    scripts: tuple[str, ...] = ("latin", "cyrillic", "arabic")
    script_weights: tuple[float, ...] | None = None  # default: equal
    difficulty: float = 1.0
    seed: int = 0
    min_size: int = 18  # font size range in px, before any resize
    max_size: int = 40
    line_share: float = 0.05  # share of multi-word strings (Arabic lines get 3x this)
    max_line_words: int = 8


@dataclass
class WordSample:
    image: Image.Image
    text: str
    script: str
    font: str


@dataclass
class WordSynth:
    """Renders word crops from a corpus, fonts and backgrounds."""

    config: WordSynthConfig
    corpus: Corpus
    fonts: FontRegistry
    backgrounds: Backgrounds

    @classmethod
    def create(cls, config: WordSynthConfig = WordSynthConfig()) -> "WordSynth":
        fonts = FontRegistry.discover()
        fonts.require(config.scripts)
        return cls(config, Corpus.load(config.scripts), fonts, Backgrounds.load(max_side=512, lru=64))

    def with_difficulty(self, difficulty: float) -> "WordSynth":
        return replace(self, config=replace(self.config, difficulty=float(np.clip(difficulty, 0, 1))))

    def sample(self, index: int) -> WordSample:
        """The ``index``-th sample of this seed."""
        rng = random.Random(f"{self.config.seed}:{index}")
        for _ in range(10):
            out = self._try(rng)
            if out is not None:
                return out
        raise RuntimeError("could not render a word after 10 tries (fonts or corpus broken?)")

    def __iter__(self) -> Iterator[WordSample]:
        i = 0
        while True:
            yield self.sample(i)
            i += 1

    # ------------------------------------------------------------------
    def _pick_script(self, rng: random.Random) -> str:
        c = self.config
        weights = c.script_weights or [1.0] * len(c.scripts)
        return rng.choices(c.scripts, weights=weights)[0]

    def _try(self, rng: random.Random) -> WordSample | None:
        c = self.config
        d = c.difficulty
        script = self._pick_script(rng)
        share = c.line_share * (3 if script == "arabic" else 1)
        nwords = rng.randint(2, c.max_line_words) if rng.random() < share * (0.3 + d) else 1
        text = self.corpus.sample(rng, script, d, words=nwords).strip()
        if not text:
            return None
        font = self.fonts.pick(rng, script, text)
        if font is None:
            return None
        size = rng.randint(c.min_size, c.max_size)
        stroke = rng.randint(1, max(1, size // 12)) if rng.random() < 0.12 else 0
        tm = text_mask(text, font, size, stroke=stroke)
        fill, outline = tm.fill, tm.outline
        h, w = fill.shape
        if tm.ink_box[2] <= tm.ink_box[0]:
            return None

        # geometry: italic slant, small rotation, perspective, all in one homography
        m = np.eye(3)
        if not font.italic and rng.random() < 0.1:
            m = shear_matrix(rng.uniform(0.1, 0.3), w, h) @ m
        angle = rng.gauss(0, 1.5 + 3 * d) if rng.random() < 0.6 else 0.0
        jitter = 0.12 * d * rng.random() if rng.random() < 0.5 else 0.0
        m = perspective_matrix(rng, w, h, angle, jitter) @ m
        m, W, H = warp_bounds(m, w, h)
        layers = [fill] + ([outline] if outline is not None else [])
        layers = [cv2.warpPerspective(a, m, (W, H), flags=cv2.INTER_LINEAR) for a in layers]
        if rng.random() < 0.05 * (1 + d) and W > 3 * H:  # curved baseline
            layers = _curve(rng, layers)
        fill = layers[0]
        outline = layers[1] if len(layers) > 1 else None
        ink = outline if outline is not None else fill
        x0, y0, x1, y1 = ink_bbox(ink)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return None

        # crop: tight to loose margins, with the small mis-crops a detector makes
        ih = y1 - y0
        def margin(scale: float) -> int:
            r = rng.random()
            if r < 0.12 * (0.5 + d):
                return -int(rng.uniform(0, 0.08) * scale)  # cut into the ink a little
            if r < 0.5:
                return int(rng.uniform(0, 0.08) * ih)
            return int(rng.uniform(0.05, 0.35) * ih)
        cx0, cx1 = x0 - margin(ih), x1 + margin(ih)
        cy0, cy1 = y0 - margin(ih), y1 + margin(ih)
        cw, ch = max(2, cx1 - cx0), max(2, cy1 - cy0)

        def cut(a: np.ndarray) -> np.ndarray:  # crop with zero padding outside the layer
            out = np.zeros((ch, cw), a.dtype)
            sx0, sy0, sx1, sy1 = max(cx0, 0), max(cy0, 0), min(cx0 + cw, a.shape[1]), min(cy0 + ch, a.shape[0])
            if sx1 > sx0 and sy1 > sy0:
                out[sy0 - cy0:sy1 - cy0, sx0 - cx0:sx1 - cx0] = a[sy0:sy1, sx0:sx1]
            return out

        fill = cut(fill)
        outline = cut(outline) if outline is not None else None

        bg = self.backgrounds.sample(rng, cw, ch).astype(np.float32)
        bg_lum = luminance(bg)
        low = rng.random() < 0.08 * (0.5 + d)
        color = contrasting_color(rng, bg_lum, low_contrast=low)
        img = bg
        if rng.random() < 0.1:  # drop shadow
            k = max(1, ch // 12)
            sh = np.roll(np.roll(fill if outline is None else outline, k, 0), k, 1)
            sh = cv2.GaussianBlur(sh, (0, 0), max(0.5, k / 2))
            img = composite(img, (sh * rng.uniform(0.4, 0.9)).astype(np.uint8), np.zeros(3, np.float32))
        if outline is not None:
            ocol = contrasting_color(rng, luminance(color))
            img = composite(img, outline, ocol)
        img = composite(img, fill, color)
        out = degrade(rng, img, d)
        return WordSample(Image.fromarray(out), text, script, font.face)


def _curve(rng: random.Random, layers: list[np.ndarray]) -> list[np.ndarray]:
    """Bend the text along a circular arc (remap every column up or down)."""
    h, w = layers[0].shape
    amp = rng.uniform(0.1, 0.35) * h * rng.choice([-1, 1])
    pad = int(abs(amp)) + 1
    xs = np.arange(w, dtype=np.float32)
    off = amp * (1 - ((xs - w / 2) / (w / 2)) ** 2)
    map_x = np.tile(xs, (h + 2 * pad, 1))
    map_y = (np.arange(h + 2 * pad, dtype=np.float32)[:, None] - pad) - off[None, :]
    return [cv2.remap(a, map_x, map_y, cv2.INTER_LINEAR, borderValue=0) for a in layers]
