"""Low-level drawing shared by word crops and scenes: text masks with raqm shaping, colours with
contrast, compositing, and the photographic degradations (blur, noise, JPEG, lighting).

>>> from rosetta.synth.fonts import FontRegistry          # doctest: +SKIP
>>> m = text_mask("Hello", FontRegistry.discover().by_script["latin"][0], 32)  # doctest: +SKIP
>>> m.fill.dtype, m.fill.ndim                              # doctest: +SKIP
(dtype('uint8'), 2)
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageDraw

from rosetta.charset import is_rtl_text
from rosetta.synth.fonts import Font


@dataclass
class TextMask:
    """Alpha masks (uint8, same shape) of one string drawn horizontally."""

    fill: np.ndarray  # the glyphs
    outline: np.ndarray | None  # glyphs grown by the stroke, drawn under ``fill``
    ink_box: tuple[int, int, int, int]  # x0, y0, x1, y1 of all ink (exclusive ends)
    offset: tuple[int, int] = (0, 0)  # mask's top-left relative to the text anchor (left, ascender)


def layout_kwargs(text: str) -> dict:
    """raqm layout options: right-to-left direction and Arabic language for Arabic strings."""
    if is_rtl_text(text):
        return {"direction": "rtl", "language": "ar"}
    return {}


def text_mask(text: str, font: Font, size: int, stroke: int = 0, pad: int | None = None) -> TextMask:
    """Draw ``text`` in white on black with shaping; ``stroke`` > 0 also returns an outline mask."""
    f = font.get(size)
    kw = layout_kwargs(text)
    x0, y0, x1, y1 = f.getbbox(text, stroke_width=stroke, **kw)
    pad = size // 2 + stroke if pad is None else pad
    w, h = max(1, x1 - x0) + 2 * pad, max(1, y1 - y0) + 2 * pad
    origin = (pad - x0, pad - y0)
    img = Image.new("L", (w, h), 0)
    ImageDraw.Draw(img).text(origin, text, font=f, fill=255, **kw)
    fill = np.asarray(img)
    outline = None
    if stroke > 0:
        img2 = Image.new("L", (w, h), 0)
        ImageDraw.Draw(img2).text(origin, text, font=f, fill=255, stroke_width=stroke, stroke_fill=255, **kw)
        outline = np.asarray(img2)
    ink = outline if outline is not None else fill
    return TextMask(fill, outline, ink_bbox(ink), (x0 - pad, y0 - pad))


def ink_bbox(mask: np.ndarray, thresh: int = 24) -> tuple[int, int, int, int]:
    """Bounding box (x0, y0, x1, y1) of pixels above ``thresh``; (0, 0, 0, 0) when empty."""
    rows = np.flatnonzero(mask.max(1) > thresh)
    if len(rows) == 0:
        return (0, 0, 0, 0)
    cols = np.flatnonzero(mask.max(0) > thresh)
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def luminance(rgb: np.ndarray) -> float:
    rgb = np.asarray(rgb, dtype=np.float32).reshape(-1, 3)
    return float((rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)).mean())


def contrasting_color(rng: random.Random, bg_lum: float, low_contrast: bool = False) -> np.ndarray:
    """An RGB colour whose luminance differs from ``bg_lum`` by > 90 (or 25-60 when ``low_contrast``)."""
    for _ in range(30):
        c = np.array([rng.randint(0, 255) for _ in range(3)], dtype=np.float32)
        if rng.random() < 0.4:  # greys, black and white are common on signs
            c[:] = rng.choice([rng.randint(0, 60), rng.randint(195, 255), rng.randint(0, 255)])
        d = abs(luminance(c) - bg_lum)
        if (25 <= d <= 60) if low_contrast else d > 90:
            return c
    return np.full(3, 0.0 if bg_lum > 127 else 255.0, dtype=np.float32)


def composite(bg: np.ndarray, alpha: np.ndarray, color: np.ndarray) -> np.ndarray:
    """Alpha-blend a colour (RGB, or an (H, W, 3) texture) onto ``bg`` (H, W, 3) in float32."""
    a = alpha.astype(np.float32)[..., None] * (1.0 / 255.0)
    out = np.asarray(color, dtype=np.float32) - bg  # bg + a * (color - bg): one multiply-add
    out *= a
    out += bg
    return out


def degrade(rng: random.Random, img: np.ndarray, strength: float) -> np.ndarray:
    """Photographic defects on a float32 (H, W, 3) image; returns uint8. ``strength`` in [0, 1]."""
    h, w = img.shape[:2]
    if rng.random() < 0.4:  # uneven lighting: a linear ramp in a random direction
        t = rng.uniform(0, 2 * np.pi)
        g = (np.arange(w, dtype=np.float32)[None, :] * np.cos(t) + np.arange(h, dtype=np.float32)[:, None] * np.sin(t))
        g = (g - g.min()) / max(1e-6, float(g.max() - g.min()))
        lo, hi = 1 - 0.45 * strength * rng.random(), 1 + 0.3 * strength * rng.random()
        img = img * (lo + (hi - lo) * g)[..., None]
    if rng.random() < 0.5:
        sigma = rng.uniform(0.3, 0.6 + 1.2 * strength)
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    elif rng.random() < 0.15 * (1 + strength):
        k = rng.randint(3, 3 + int(4 * strength))
        kern = np.zeros((k, k), np.float32)
        kern[k // 2, :] = 1.0 / k
        m = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), rng.uniform(0, 180), 1.0)
        kern = cv2.warpAffine(kern, m, (k, k))
        img = cv2.filter2D(img, -1, kern / max(1e-6, float(kern.sum())))
    if rng.random() < 0.25 * (0.5 + strength) and min(h, w) > 8:  # low resolution
        f = rng.uniform(1.3, 1.5 + 2.0 * strength)
        small = cv2.resize(img, (max(1, int(w / f)), max(1, int(h / f))), interpolation=cv2.INTER_AREA)
        img = cv2.resize(small, (w, h), interpolation=rng.choice([cv2.INTER_LINEAR, cv2.INTER_NEAREST]))
    if rng.random() < 0.5:
        nrng = np.random.default_rng(rng.getrandbits(32))
        img = img + nrng.standard_normal(img.shape[:2], dtype=np.float32)[..., None] * rng.uniform(1, 3 + 9 * strength)
    out = np.clip(img, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        q = rng.randint(max(10, int(60 - 45 * strength)), 95)
        ok, buf = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, q])
        out = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
    return np.ascontiguousarray(out)


def shear_matrix(shear: float, w: int, h: int) -> np.ndarray:
    """3x3 homography for an italic slant about the horizontal centre line."""
    return np.array([[1, -shear, shear * h / 2], [0, 1, 0], [0, 0, 1]], dtype=np.float64)


def perspective_matrix(rng: random.Random, w: int, h: int, angle: float, jitter: float) -> np.ndarray:
    """A homography: rotation by ``angle`` degrees about the centre, then corner jitter (fraction of h)."""
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    r = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    dst = cv2.transform(src[None], r)[0]
    d = jitter * h
    dst = dst + np.float32([[rng.uniform(-d, d), rng.uniform(-d, d)] for _ in range(4)])
    return cv2.getPerspectiveTransform(src, dst).astype(np.float64)


def warp_bounds(m: np.ndarray, w: int, h: int) -> tuple[np.ndarray, int, int]:
    """Translate homography ``m`` so the warped (w, h) rectangle lands at positive coordinates."""
    pts = cv2.perspectiveTransform(np.float32([[[0, 0], [w, 0], [w, h], [0, h]]]), m)[0]
    x0, y0 = np.floor(pts.min(0))
    x1, y1 = np.ceil(pts.max(0))
    t = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], dtype=np.float64)
    return t @ m, int(x1 - x0), int(y1 - y0)
