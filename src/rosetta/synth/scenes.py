"""Synthetic scenes: blocks of text lines on photographs, any angle, with a tight quad per word.

Each block (1-5 lines of 1-6 words, one font) is laid out upright in its own frame; every word is
drawn separately so its ink box is known exactly; the block is then mapped into the image by one
homography (rotation, scale, slight perspective), which maps each word's ink rectangle to a quad
that still encloses all of the word's ink. Quads are TL, TR, BR, BL of the upright word
(clockwise on screen), so for Arabic TL is the word's visual top-left, as for every script.

>>> gen = SceneSynth.create(SceneSynthConfig(scripts=("latin",)))  # doctest: +SKIP
>>> s = gen.sample(0)                                              # doctest: +SKIP
>>> s.image.size[0] <= 1280 and all(len(w["points"]) == 4 for w in s.words)  # doctest: +SKIP
True
"""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass, replace
from typing import Iterator

import cv2
import numpy as np
from PIL import Image

from rosetta.charset import is_rtl_text
from rosetta.synth.backgrounds import Backgrounds
from rosetta.synth.corpus import Corpus
from rosetta.synth.fonts import FontRegistry
from rosetta.synth.render import TextMask, composite, contrasting_color, degrade, luminance, text_mask

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SceneSynthConfig:
    scripts: tuple[str, ...] = ("latin", "cyrillic", "arabic")
    script_weights: tuple[float, ...] | None = None
    seed: int = 0
    difficulty: float = 1.0  # raises rotation range, perspective, small text and degradation
    max_side: int = 1280
    min_side: int = 480
    max_words: int = 40
    min_font: int = 10
    max_font: int = 140
    keep_masks: bool = False  # also return each word's ink mask in image coordinates (tests)
    size: tuple[int, int] | None = None  # fixed (width, height), e.g. (1280, 720); None draws one per scene


@dataclass
class SceneSample:
    image: Image.Image
    words: list[dict]  # {"points": [[x, y] x 4], "text", "line", "script", "ignore": False}
    masks: list[np.ndarray] | None = None  # per word, (H, W) uint8 ink, only with keep_masks


@dataclass
class _Word:
    text: str
    mask: TextMask
    x: int  # position of the word's mask in the block frame
    y: int
    line: int


@dataclass
class SceneSynth:
    config: SceneSynthConfig
    corpus: Corpus
    fonts: FontRegistry
    backgrounds: Backgrounds

    @classmethod
    def create(cls, config: SceneSynthConfig = SceneSynthConfig()) -> "SceneSynth":
        fonts = FontRegistry.discover()
        fonts.require(config.scripts)
        return cls(config, Corpus.load(config.scripts), fonts, Backgrounds.load(max_side=1600, lru=16))

    def with_difficulty(self, difficulty: float) -> "SceneSynth":
        return replace(self, config=replace(self.config, difficulty=float(np.clip(difficulty, 0, 1))))

    def __iter__(self) -> Iterator[SceneSample]:
        i = 0
        while True:
            yield self.sample(i)
            i += 1

    def sample(self, index: int) -> SceneSample:
        rng = random.Random(f"scene:{self.config.seed}:{index}")
        c = self.config
        d = c.difficulty
        long = rng.randint(max(c.min_side, int(0.6 * c.max_side)), c.max_side)
        aspect = rng.choice([4 / 3, 16 / 9, 3 / 2, 1.0, 3 / 4, 9 / 16])
        w, h = (long, int(long / aspect)) if aspect >= 1 else (int(long * aspect), long)
        h, w = max(c.min_side // 2, h), max(c.min_side // 2, w)
        if c.size is not None:  # drawn above anyway, so a fixed size leaves the rest of the stream unchanged
            w, h = c.size
        canvas = self.backgrounds.sample(rng, w, h, photo=rng.random() < 0.85).astype(np.float32)
        occupied = np.zeros((h // 8 + 1, w // 8 + 1), np.uint8)
        words_out: list[dict] = []
        masks: list[np.ndarray] = []
        budget = rng.randint(1, c.max_words)
        line_base = 0
        for _ in range(rng.randint(1, 8)):
            if budget <= 0:
                break
            placed = self._place_block(rng, canvas, occupied, budget, line_base, words_out, masks, d)
            budget -= placed
            line_base = 1 + max([wd["line"] for wd in words_out], default=-1)
        img = degrade(rng, canvas, 0.5 * d)
        return SceneSample(Image.fromarray(img), words_out, masks if c.keep_masks else None)

    # ------------------------------------------------------------------
    def _layout(self, rng: random.Random, budget: int, d: float):
        """Upright block: words with their masks and positions, and the block size."""
        c = self.config
        weights = c.script_weights or [1.0] * len(c.scripts)
        script = rng.choices(c.scripts, weights=weights)[0]
        size = int(math.exp(rng.uniform(math.log(c.min_font + (1 - d) * 8), math.log(c.max_font))))
        nlines = min(budget, rng.choice([1, 1, 1, 2, 2, 3, 4, 5]))
        font = None
        lines: list[list[str]] = []
        n_left = budget
        for _ in range(nlines):
            k = min(n_left, rng.choice([1, 1, 2, 2, 3, 4, 6]))
            if k <= 0:
                break
            lines.append([self.corpus.sample(rng, script, d) for _ in range(k)])
            n_left -= k
        allwords = [t for ln in lines for t in ln]
        font = self.fonts.pick(rng, script, "".join(allwords))
        if font is None:
            return None
        stroke = rng.randint(1, max(1, size // 14)) if rng.random() < 0.1 else 0
        space = int(size * rng.uniform(0.25, 0.6))
        lead = int(size * rng.uniform(1.15, 1.6))
        align = rng.choice(["left", "center", "right"])
        placed: list[_Word] = []
        line_widths = []
        for li, ln in enumerate(lines):
            ms = [text_mask(t, font, size, stroke=stroke, pad=2 + stroke) for t in ln]
            widths = [m.ink_box[2] - m.ink_box[0] for m in ms]
            total = sum(widths) + space * (len(ms) - 1)
            line_widths.append(total)
            order = list(range(len(ms)))
            if is_rtl_text(ln[0]):
                order = order[::-1]  # right-to-left: first word on the right
            x = 0
            for j in order:
                m = ms[j]
                placed.append(_Word(ln[j], m, x - m.ink_box[0], li * lead + m.offset[1], li))
                x += widths[j] + space
        bw = max(line_widths)
        for wd in placed:  # alignment
            total = line_widths[wd.line]
            wd.x += {"left": 0, "center": (bw - total) // 2, "right": bw - total}[align]
        # masks sit at their offsets from the line's ascender, so baselines line up; shift to y >= 0
        top = min(wd.y for wd in placed)
        for wd in placed:
            wd.y -= top
        bh = max(wd.y + wd.mask.fill.shape[0] for wd in placed)
        return placed, bw, bh, script, stroke

    def _place_block(self, rng, canvas, occupied, budget, line_base, out, masks, d) -> int:
        lay = self._layout(rng, budget, d)
        if lay is None:
            return 0
        words, bw, bh, script, stroke = lay
        H, W = canvas.shape[:2]
        r = rng.random()
        if r < 0.55:
            angle = rng.gauss(0, 2)
        elif r < 0.55 + 0.35 * (0.5 + d / 2):
            angle = rng.uniform(-35, 35)
        else:
            angle = rng.uniform(-180, 180)
        # shrink blocks that cannot fit
        diag = math.hypot(bw, bh)
        scale = min(1.0, 0.95 * min(W, H) / max(1.0, diag) if diag > min(W, H) else 1.0)
        if rng.random() < 0.3:
            scale *= rng.uniform(0.85, 1.0)
        if bh * scale < 6:
            return 0
        src = np.float32([[0, 0], [bw, 0], [bw, bh], [0, bh]])
        for _ in range(12):
            cx, cy = rng.uniform(0, W), rng.uniform(0, H)
            m = cv2.getRotationMatrix2D((bw / 2, bh / 2), angle, scale)
            m[:, 2] += (cx - bw / 2, cy - bh / 2)
            dst = cv2.transform(src[None], m)[0]
            jit = 0.15 * d * bh * scale * rng.random()
            dst = dst + np.float32([[rng.uniform(-jit, jit), rng.uniform(-jit, jit)] for _ in range(4)])
            if dst[:, 0].min() < 1 or dst[:, 1].min() < 1 or dst[:, 0].max() > W - 2 or dst[:, 1].max() > H - 2:
                continue
            poly = np.round(dst / 8).astype(np.int32)
            test = np.zeros_like(occupied)
            cv2.fillConvexPoly(test, poly, 1)
            if (test & occupied).any():
                continue
            hmat = cv2.getPerspectiveTransform(src, dst)
            break
        else:
            return 0
        cv2.fillConvexPoly(occupied, np.round(dst / 8).astype(np.int32), 1)
        cv2.dilate(occupied, np.ones((3, 3), np.uint8), dst=occupied)
        x0, y0 = np.floor(dst.min(0)).astype(int)
        x1, y1 = np.ceil(dst.max(0)).astype(int) + 1
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(W, x1), min(H, y1)
        t = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64) @ hmat
        fill = np.zeros((bh + 1, bw + 1), np.uint8)
        outline = np.zeros_like(fill) if stroke else None
        word_boxes = []
        for wd in words:
            mh, mw = wd.mask.fill.shape
            ys, xs = slice(wd.y, wd.y + mh), slice(wd.x, wd.x + mw)
            region = (slice(max(0, wd.y), min(bh + 1, wd.y + mh)), slice(max(0, wd.x), min(bw + 1, wd.x + mw)))
            sub = (slice(region[0].start - wd.y, region[0].stop - wd.y), slice(region[1].start - wd.x, region[1].stop - wd.x))
            np.maximum(fill[region], wd.mask.fill[sub], out=fill[region])
            if outline is not None and wd.mask.outline is not None:
                np.maximum(outline[region], wd.mask.outline[sub], out=outline[region])
            ix0, iy0, ix1, iy1 = wd.mask.ink_box
            word_boxes.append(np.float32([[wd.x + ix0, wd.y + iy0], [wd.x + ix1, wd.y + iy0],
                                          [wd.x + ix1, wd.y + iy1], [wd.x + ix0, wd.y + iy1]]))
            del ys, xs
        size = (x1 - x0, y1 - y0)
        a_fill = cv2.warpPerspective(fill, t, size, flags=cv2.INTER_LINEAR)
        region = canvas[y0:y1, x0:x1]
        cover = a_fill > 32
        bg_lum = luminance(region[cover]) if cover.any() else luminance(region)
        color = contrasting_color(rng, bg_lum, low_contrast=rng.random() < 0.06 * (0.5 + d))
        if outline is not None:
            a_out = cv2.warpPerspective(outline, t, size, flags=cv2.INTER_LINEAR)
            region = composite(region, a_out, contrasting_color(rng, luminance(color)))
        elif rng.random() < 0.1:
            k = max(1, int(0.06 * bh * scale / max(1, len({w.line for w in words}))))
            sh = cv2.GaussianBlur(np.roll(np.roll(a_fill, k, 0), k, 1), (0, 0), max(0.5, k / 2))
            region = composite(region, (sh * 0.7).astype(np.uint8), np.zeros(3, np.float32))
        canvas[y0:y1, x0:x1] = composite(region, a_fill, color)
        for wd, box in zip(words, word_boxes):
            q = cv2.perspectiveTransform(box[None], hmat)[0]
            out.append({"points": [[round(float(x), 2), round(float(y), 2)] for x, y in q], "text": wd.text,
                        "line": line_base + wd.line, "script": script, "ignore": False})
            if self.config.keep_masks:
                one = np.zeros((bh + 1, bw + 1), np.uint8)
                mh, mw = wd.mask.fill.shape
                region = (slice(max(0, wd.y), min(bh + 1, wd.y + mh)), slice(max(0, wd.x), min(bw + 1, wd.x + mw)))
                sub = (slice(region[0].start - wd.y, region[0].stop - wd.y),
                       slice(region[1].start - wd.x, region[1].stop - wd.x))
                src_mask = wd.mask.outline if (stroke and wd.mask.outline is not None) else wd.mask.fill
                one[region] = src_mask[sub]
                full = np.zeros((H, W), np.uint8)
                full[y0:y1, x0:x1] = cv2.warpPerspective(one, t, size, flags=cv2.INTER_LINEAR)
                masks.append(full)
        return len(words)
