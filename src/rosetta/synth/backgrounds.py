"""Backgrounds: random crops of real photographs from Debian packages, plus procedural ones.

The photographs (wallpaper packages and scikit-image's sample photos) are decoded once, scaled to
at most 1600 px on the long side and cached as JPEG under ``~/.cache/rosetta/backgrounds``.

>>> bg = Backgrounds.load()                                    # doctest: +SKIP
>>> bg.sample(random.Random(0), 128, 40).shape                 # doctest: +SKIP
(40, 128, 3)
"""

from __future__ import annotations

from rosetta.synth.errors import SynthSetupError

import hashlib
import logging
import os
import random
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from rosetta.synth.corpus import default_cache_dir

log = logging.getLogger(__name__)

_BG = "/usr/share/backgrounds"
_WP = "/usr/share/wallpapers"
_SK = "/usr/lib/python3/dist-packages/skimage/data"
# Real photographs only (no renders, no pictures with text in them), checked by eye.
# Packages: ukui-wallpapers, lomiri-wallpapers-16.04/-20.04, mate-backgrounds,
# plasma-workspace-wallpapers, python3-skimage.
PHOTOS = (
    *(f"{_BG}/{n}" for n in (
        "Bridge_by_Sander_Klootwijk.jpg", "Dragonfly_by_Bolly.jpg", "Kleiber_by_Lukas_Baubkus.jpg",
        "Picture_0B_by_freespace.jpg", "Picture_1A_by_freespace.jpg", "Wine_by_Jakkub_Mede.jpg",
        "aitzgorri_by_Aitzol_Berasategi.jpg", "analogpattern_by_Peter_Nerlich.jpg", "free_by_Peter_Nerlich.jpg",
        "friends_by_Aitzol_Berasategi.jpg", "greentock_by_Peter_Nerlich.jpg", "life_by_Aitzol_Berasategi.jpg",
        "picosdeeuropa_by_Aitzol_Berasategi.jpg", "seeding_by_Clements_Engelhardt.jpg",
        "sunset_by_Aitzol_Berasategi.jpg", "Infinite-Sea_by_Aury88.jpg")),
    *(f"{_BG}/mate/nature/{n}.jpg" for n in (
        "Aqua", "Blinds", "Dune", "FreshFlower", "Garden", "GreenMeadow", "LadyBird", "RainDrops", "Storm",
        "TwoWings", "Wood", "YellowFlower")),
    *(f"{_WP}/{n}/contents/images/{s}.jpg" for n, s in (
        ("BytheWater", "1280x1024"), ("ColdRipple", "1280x1024"), ("ColorfulCups", "2560x1600"),
        ("DarkestHour", "1280x1024"), ("EveningGlow", "1280x1024"), ("FallenLeaf", "1280x1024"),
        ("Grey", "1280x1024"), ("Kite", "1280x1024"), ("OneStandsOut", "1280x1024"), ("Path", "1280x1024"),
        ("summer_1am", "1280x1024"))),
    *(f"{_SK}/{n}" for n in (
        "astronaut.png", "brick.png", "camera.png", "chelsea.png", "coffee.png", "coins.png", "grass.png",
        "gravel.png", "hubble_deep_field.jpg", "moon.png", "motorcycle_left.png")),
)
MAX_SIDE = 1600


class BackgroundError(SynthSetupError):
    """No photographs found; the message says how to install them."""


def _cached(path: str, cache_dir: Path, max_side: int) -> Path:
    key = hashlib.sha1(f"{path}|{max_side}".encode()).hexdigest()[:16]
    out = cache_dir / f"{key}.jpg"
    if not out.exists():
        im = Image.open(path)
        im.draft("RGB", (max_side, max_side))
        im = im.convert("RGB")
        im.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        tmp = out.with_suffix(f".{os.getpid()}.tmp.jpg")  # per process: several may fill the cache at once
        im.save(tmp, quality=92)
        tmp.replace(out)
    return out


class Backgrounds:
    """Photographs (decoded lazily, kept in a small LRU) and procedural backgrounds."""

    def __init__(self, paths: list[Path], photo_share: float = 0.7, lru: int = 12):
        self.paths = paths
        self.photo_share = photo_share
        self._lru: OrderedDict[int, np.ndarray] = OrderedDict()
        self._lru_size = lru

    @classmethod
    def load(cls, photos: tuple[str, ...] = PHOTOS, cache_dir: Path | None = None, min_photos: int = 1,
             max_side: int = MAX_SIDE, lru: int = 12) -> "Backgrounds":
        """Find the photographs; ``max_side`` 512 suits word crops (all kept in memory), 1600 scenes."""
        cache_dir = cache_dir or default_cache_dir() / "backgrounds"
        cache_dir.mkdir(parents=True, exist_ok=True)
        found = [p for p in photos if Path(p).exists()]
        if len(found) < min_photos:
            raise BackgroundError(
                f"only {len(found)} of {len(photos)} background photographs are installed; run `make setup` "
                "(installs ukui-wallpapers, mate-backgrounds, plasma-workspace-wallpapers, lomiri-wallpapers-*, "
                "python3-skimage; see scripts/debian-packages.txt)")
        if len(found) < len(photos):
            log.warning("%d of %d background photographs missing", len(photos) - len(found), len(photos))
        return cls([_cached(p, cache_dir, max_side) for p in found], lru=lru)

    def photo(self, i: int) -> np.ndarray:
        """Photograph ``i`` as an (H, W, 3) uint8 RGB array."""
        if i in self._lru:
            self._lru.move_to_end(i)
            return self._lru[i]
        arr = cv2.cvtColor(cv2.imread(str(self.paths[i]), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        self._lru[i] = arr
        if len(self._lru) > self._lru_size:
            self._lru.popitem(last=False)
        return arr

    def sample(self, rng: random.Random, w: int, h: int, photo: bool | None = None) -> np.ndarray:
        """An (h, w, 3) uint8 background: a random crop of a photograph or a procedural pattern."""
        if photo is None:
            photo = bool(self.paths) and rng.random() < self.photo_share
        if photo and self.paths:
            return self._photo_crop(rng, w, h)
        return procedural(rng, w, h)

    def _photo_crop(self, rng: random.Random, w: int, h: int) -> np.ndarray:
        img = self.photo(rng.randrange(len(self.paths)))
        ih, iw = img.shape[:2]
        # scale: from a zoomed-in patch (blurry texture) to the whole photo squeezed in
        s = rng.uniform(0.3, 1.5) * max(w / iw, h / ih)
        s = max(s, w / iw, h / ih)
        cw, ch = min(iw, int(np.ceil(w / s))), min(ih, int(np.ceil(h / s)))
        x0, y0 = rng.randint(0, iw - cw), rng.randint(0, ih - ch)
        crop = img[y0:y0 + ch, x0:x0 + cw]
        out = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
        if rng.random() < 0.3:
            out = out[:, ::-1]
        return np.ascontiguousarray(out)


def _rand_color(rng: random.Random) -> np.ndarray:
    return np.array([rng.randint(0, 255) for _ in range(3)], dtype=np.float32)


def procedural(rng: random.Random, w: int, h: int) -> np.ndarray:
    """Flat colour, gradient, smooth noise, stripes/checks or paper-like grain."""
    kind = rng.randrange(5)
    c1, c2 = _rand_color(rng), _rand_color(rng)
    if kind == 0:
        out = np.broadcast_to(c1, (h, w, 3)).copy()
    elif kind == 1:
        t = rng.uniform(0, np.pi)
        g = np.arange(w, dtype=np.float32)[None, :] * np.cos(t) + np.arange(h, dtype=np.float32)[:, None] * np.sin(t)
        g = (g - g.min()) / max(1e-6, float(g.max() - g.min()))
        out = c1 * (1 - g[..., None]) + c2 * g[..., None]
    elif kind == 2:
        nrng = np.random.default_rng(rng.getrandbits(32))
        small = nrng.random((max(2, h // rng.randint(4, 32)), max(2, w // rng.randint(4, 32)), 1), dtype=np.float32)
        g = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).reshape(h, w, 1).clip(0, 1)
        out = c1 * (1 - g) + c2 * g
    elif kind == 3:
        period = rng.randint(4, 40)
        yy, xx = np.mgrid[0:h, 0:w]
        pat = ((xx // period + (yy // period) * rng.randint(0, 1)) % 2).astype(np.float32)[..., None]
        c2 = c1 + (c2 - c1) * rng.uniform(0.05, 0.4)  # subtle
        out = c1 * (1 - pat) + c2 * pat
    else:
        nrng = np.random.default_rng(rng.getrandbits(32))
        base = np.broadcast_to(c1 * 0.3 + 180, (h, w, 3))
        out = base + nrng.standard_normal((h, w, 1), dtype=np.float32) * rng.uniform(3, 15)
    return np.clip(out, 0, 255).astype(np.uint8)
