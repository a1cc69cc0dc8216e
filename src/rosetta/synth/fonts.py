"""Font discovery from Debian font packages, per-script coverage from the real cmap, no tofu.

Every installed font under the font directories is read once with fontTools (cached on disk by
path, size and mtime); a font *covers* a script when its cmap has every base letter of that
script, and a string is drawn with a font only if the cmap has every one of its characters.

>>> reg = FontRegistry.discover()            # doctest: +SKIP
>>> font = reg.pick(random.Random(0), "cyrillic", "Привет")   # doctest: +SKIP
"""

from __future__ import annotations

from rosetta.synth.errors import SynthSetupError

import json
import logging
import os
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

from PIL import ImageFont

from rosetta.charset import SCRIPTS, load_script_chars

log = logging.getLogger(__name__)

DEFAULT_FONT_DIRS = ("/usr/share/fonts/truetype", "/usr/share/fonts/opentype")
SETUP_HINT = "run `make setup` (it installs the Debian font packages listed in scripts/debian-packages.txt)"

# Noto ships ~1800 files for every script on earth; these families are the ones for our scripts.
NOTO_FAMILIES = (
    "Noto Sans", "Noto Serif", "Noto Sans Mono", "Noto Sans Display", "Noto Serif Display",
    "Noto Naskh Arabic", "Noto Kufi Arabic", "Noto Sans Arabic", "Noto Naskh Arabic UI", "Noto Sans Arabic UI",
)
# Faces that are symbols, colour glyphs, or not text at all.
EXCLUDED_FAMILY_WORDS = ("Symbol", "Dingbat", "Colored", "Emoji", "Math", "D050000L", "KacstArt",
                         "KacstDecorative", "KacstPoster", "KacstScreen", "KacstDigital", "Graph", "Electron", "Keyboard")
EXCLUDED_DIRS = ("/lyx/",)  # TeX math fonts: letters mapped to symbols
# Fonts that cover Arabic *and* Latin well; other Arabic fonts are used for Arabic only.
MULTISCRIPT_ARABIC = ("DejaVu Sans", "DejaVu Sans Mono", "FreeSerif", "FreeMono", "FreeSans")

# A font covers a script when it has every one of these.
_BASE_LETTERS = {
    "latin": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    "cyrillic": "абвгдежзийклмнопрстуфхцчшщъыьэюяАБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ",
    "arabic": "".join(chr(c) for c in range(0x0627, 0x063B)) + "".join(chr(c) for c in range(0x0641, 0x064B)),
}


class FontError(SynthSetupError):
    """No usable font: the message says how to fix it."""


@dataclass(frozen=True)
class Font:
    """One face of one font file, with its character coverage."""

    path: str
    family: str
    style: str
    cmap: frozenset[int]
    scripts: tuple[str, ...]

    @property
    def face(self) -> str:
        return f"{self.family} {self.style}"

    @property
    def bold(self) -> bool:
        return any(w in self.style.lower() for w in ("bold", "black", "heavy", "semibold"))

    @property
    def italic(self) -> bool:
        return any(w in self.style.lower() for w in ("italic", "oblique", "slanted"))

    def covers(self, text: str) -> bool:
        """True when every non-space character has a glyph in this font."""
        return all(ord(c) in self.cmap for c in text if not c.isspace())

    def get(self, size: int) -> ImageFont.FreeTypeFont:
        """A Pillow font at ``size`` px using the raqm layout (shaping, bidi)."""
        return _load_font(self.path, int(size))


@lru_cache(maxsize=2048)
def _load_font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size, layout_engine=ImageFont.Layout.RAQM)


def _read_font(path: Path) -> dict | None:
    from fontTools.ttLib import TTFont

    try:
        tt = TTFont(str(path), lazy=True, fontNumber=0)
        cmap = tt.getBestCmap() or {}
        names = tt["name"]
        family = names.getBestFamilyName() or path.stem
        style = names.getBestSubFamilyName() or "Regular"
        if names.getName(16, 3, 1, 0x409):  # typographic family (groups weights)
            family = str(names.getName(16, 3, 1, 0x409))
        if names.getName(17, 3, 1, 0x409):
            style = str(names.getName(17, 3, 1, 0x409))
        colour = "COLR" in tt or "CBDT" in tt or "sbix" in tt
        tt.close()
    except Exception as exc:  # a broken font file must not stop discovery
        log.warning("skipping unreadable font %s: %s", path, exc)
        return None
    if colour:
        return None
    return {"family": str(family), "style": str(style), "cmap": sorted(cmap)}


def _wanted(path: Path, family: str) -> bool:
    if any(w.lower() in family.lower() for w in EXCLUDED_FAMILY_WORDS):
        return False
    if any(d in str(path) for d in EXCLUDED_DIRS):
        return False
    if "noto" in str(path).lower():
        return family in NOTO_FAMILIES
    return True


class FontRegistry:
    """The fonts Rosetta renders with, indexed by script."""

    def __init__(self, fonts: Sequence[Font]):
        self.fonts = tuple(fonts)
        self.by_script = {s: tuple(f for f in self.fonts if s in f.scripts) for s in SCRIPTS}

    @classmethod
    def discover(cls, dirs: Iterable[str] | None = None, cache: Path | None = None) -> "FontRegistry":
        """Scan font directories (default: Debian's, or ``$ROSETTA_FONT_DIRS`` separated by ``:``)."""
        if dirs is None:
            env = os.environ.get("ROSETTA_FONT_DIRS")
            dirs = env.split(":") if env else DEFAULT_FONT_DIRS
        dirs = [d for d in dirs if d]
        files = sorted(p for d in dirs if Path(d).is_dir() for p in Path(d).rglob("*")
                       if p.suffix.lower() in (".ttf", ".otf"))
        cache = cache or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rosetta" / "fonts-v1.json"
        try:
            known = json.loads(cache.read_text()) if cache.exists() else {}
        except (OSError, ValueError):
            known = {}
        fresh: dict[str, dict] = {}
        fonts = []
        for p in files:
            st = p.stat()
            key = f"{p}|{st.st_size}|{int(st.st_mtime)}"
            info = known.get(key)
            if info is None and key not in known:
                # cheap pre-filter on the file name before opening it
                if "noto" in str(p).lower() and not any(
                    n.replace(" ", "") in p.name for n in NOTO_FAMILIES
                ):
                    fresh[key] = None
                    continue
                info = _read_font(p)
            fresh[key] = info
            if info is None or not _wanted(p, info["family"]):
                continue
            cmap = frozenset(info["cmap"])
            scripts = tuple(s for s in SCRIPTS if all(ord(c) in cmap for c in _BASE_LETTERS[s]))
            if "arabic" in scripts and info["family"] not in MULTISCRIPT_ARABIC:
                scripts = ("arabic",)
            if scripts:
                fonts.append(Font(str(p), info["family"], info["style"], cmap, scripts))
        if fresh != known:
            try:
                cache.parent.mkdir(parents=True, exist_ok=True)
                tmp = cache.with_suffix(".tmp")
                tmp.write_text(json.dumps(fresh))
                tmp.replace(cache)
            except OSError as exc:
                log.debug("font cache not written: %s", exc)
        if not fonts:
            raise FontError(f"no usable fonts found under {', '.join(dirs) or '(no directories)'}; {SETUP_HINT}")
        return cls(fonts)

    def require(self, scripts: Iterable[str]) -> None:
        """Raise :class:`FontError` if a script is unknown or has no font."""
        for s in scripts:
            if s not in SCRIPTS:
                raise FontError(f"unknown script {s!r}: choose from {', '.join(SCRIPTS)}")
            if not self.by_script[s]:
                raise FontError(f"no installed font covers {s}; {SETUP_HINT}")

    def families(self, script: str | None = None) -> list[str]:
        fonts = self.fonts if script is None else self.by_script[script]
        return sorted({f.family for f in fonts})

    def pick(self, rng: random.Random, script: str, text: str, tries: int = 12) -> Font | None:
        """A random font of ``script`` that has a glyph for every character of ``text`` (or None).

        Families are drawn uniformly (not files), so a family with 18 weights is not 18x likelier.
        """
        fonts = self.by_script[script]
        fams = self._families_of(script)
        for _ in range(tries):
            fam = fams[rng.randrange(len(fams))]
            cands = [f for f in fonts if f.family == fam]
            f = cands[rng.randrange(len(cands))]
            if f.covers(text):
                return f
        covering = [f for f in fonts if f.covers(text)]
        return covering[rng.randrange(len(covering))] if covering else None

    @lru_cache(maxsize=8)
    def _families_of(self, script: str) -> list[str]:
        return sorted({f.family for f in self.by_script[script]})

    def __hash__(self) -> int:  # for lru_cache on methods
        return id(self)


def base_letters(script: str) -> str:
    return _BASE_LETTERS[script]


def all_script_chars(script: str) -> list[str]:
    return load_script_chars(script)
