"""Character sets per script, CTC encode/decode (blank = 0), and right-to-left ordering.

The recognizer reads pixels left to right, so its targets are in *visual* order; labels and
returned text are in *logical* (reading) order. :func:`logical_to_visual` converts between the
two (it is its own inverse) for the text we handle: Arabic runs right to left, with runs of
digits and Latin kept left to right, and paired brackets mirrored as they are drawn.

>>> cs = Charset.from_scripts(["latin"])
>>> cs.decode(cs.encode("Hello, World"))
'Hello, World'
>>> logical_to_visual("(12) سلام")
'مالس (12)'
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass, field
from importlib import resources
from typing import Iterable, Sequence

log = logging.getLogger(__name__)

SCRIPTS = ("latin", "cyrillic", "arabic")
BLANK = 0  # CTC blank index; characters start at 1

_MIRROR = {"(": ")", ")": "(", "[": "]", "]": "[", "{": "}", "}": "{", "<": ">", ">": "<", "«": "»", "»": "«"}


def load_script_chars(name: str) -> list[str]:
    """Characters of one charset file (``common``, ``latin``, ``cyrillic``, ``arabic``), in file order.

    >>> "ж" in load_script_chars("cyrillic")
    True
    """
    if name not in SCRIPTS + ("common",):
        raise ValueError(f"unknown script {name!r}: choose from {', '.join(SCRIPTS)}")
    text = resources.files("rosetta.charsets").joinpath(f"{name}.txt").read_text(encoding="utf-8")
    chars = []
    for line in text.splitlines():
        if line.strip():
            code = line.split("\t")[0]
            chars.append(chr(int(code[2:], 16)))
    return chars


def parse_scripts(spec: str | None) -> tuple[str, ...] | None:
    """A comma-separated list of script names (a CLI option) -> a tuple, None when empty.

    >>> parse_scripts("cyrillic"), parse_scripts("latin, cyrillic"), parse_scripts(None)
    (('cyrillic',), ('latin', 'cyrillic'), None)
    """
    names = tuple(n.strip() for n in (spec or "").split(",") if n.strip())
    for n in names:
        if n not in SCRIPTS:
            raise ValueError(f"unknown script {n!r}: choose from {', '.join(SCRIPTS)}")
    return names or None


def normalize(text: str) -> str:
    """Canonical form of labels and outputs: NFC (composes e.g. alef + hamza above into U+0623),
    no-break spaces as spaces."""
    return unicodedata.normalize("NFC", text).replace("\u00a0", " ")


def is_rtl_char(ch: str) -> bool:
    """True for characters of right-to-left scripts (Arabic blocks)."""
    o = ord(ch)
    return 0x0600 <= o <= 0x06FF or 0x0750 <= o <= 0x077F or 0xFB50 <= o <= 0xFDFF or 0xFE70 <= o <= 0xFEFF


def is_rtl_text(text: str) -> bool:
    """True when the text has any right-to-left letter: Rosetta lays out and reads such text as a
    right-to-left paragraph (the renderer is told so explicitly), which keeps
    :func:`logical_to_visual` an exact involution.

    >>> is_rtl_text("123 سلام"), is_rtl_text("abc")
    (True, False)
    """
    return any(unicodedata.bidirectional(ch) in ("AL", "R") for ch in text)


def _ltr_flags(text: str) -> list[bool]:
    """Which characters of an RTL paragraph resolve to left-to-right (a compact form of the
    Unicode bidi rules W4, W5 and N1 for the text we render: Latin, digits, separators)."""
    cls = []
    for c in text:
        b = unicodedata.bidirectional(c)
        cls.append("L" if b == "L" else "EN" if b == "EN" else "AN" if b == "AN" else
                   "R" if b in ("R", "AL") else b if b in ("ES", "CS", "ET") else "N")
    n = len(cls)
    for i in range(1, n - 1):  # W4: one separator between two numbers joins them
        if cls[i] == "ES" and cls[i - 1] == cls[i + 1] == "EN":
            cls[i] = "EN"
        elif cls[i] == "CS" and cls[i - 1] == cls[i + 1] and cls[i - 1] in ("EN", "AN"):
            cls[i] = cls[i - 1]
    for i in range(n):  # W5: terminators ($, %, ...) next to European numbers become numbers
        if cls[i] == "ET":
            j = i
            while j < n and cls[j] == "ET":
                j += 1
            if (i > 0 and cls[i - 1] == "EN") or (j < n and cls[j] == "EN"):
                for k in range(i, j):
                    cls[k] = "EN"
    i = 0
    while i < n:  # N1: neutrals between two strong-L letters are L; all other neutrals are R here
        if cls[i] in ("N", "ES", "CS", "ET"):
            j = i
            while j < n and cls[j] in ("N", "ES", "CS", "ET"):
                j += 1
            side = "L" if i > 0 and j < n and cls[i - 1] == "L" and cls[j] == "L" else "R"
            for k in range(i, j):
                cls[k] = side
            i = j
        else:
            i += 1
    return [c in ("L", "EN", "AN") for c in cls]


def logical_to_visual(text: str) -> str:
    """Visual (left-to-right on the page) order of a right-to-left paragraph; LTR text is unchanged.

    Runs that resolve left to right (Latin words, numbers with their separators and ``%``/``$``)
    keep their inner order; everything else is reversed and paired brackets mirrored, as a bidi
    renderer draws them. The function is an involution: ``logical_to_visual(logical_to_visual(s)) == s``.

    >>> logical_to_visual(logical_to_visual("في 3.14 (ب)")) == "في 3.14 (ب)"
    True
    >>> logical_to_visual("خصم 50%")
    '50% مصخ'
    """
    if not is_rtl_text(text):
        return text
    ltr = _ltr_flags(text)
    runs: list[tuple[bool, str]] = []
    for c, flag in zip(text, ltr):
        if runs and runs[-1][0] == flag:
            runs[-1] = (flag, runs[-1][1] + c)
        else:
            runs.append((flag, c))
    out = []
    for flag, s in reversed(runs):
        out.append(s if flag else "".join(_MIRROR.get(c, c) for c in reversed(s)))
    return "".join(out)


visual_to_logical = logical_to_visual  # an involution


@dataclass(frozen=True)
class Charset:
    """An ordered character set with CTC indices: 0 is the blank, characters are 1..N.

    >>> cs = Charset(("a", "b"))
    >>> cs.encode("abz"), cs.num_classes
    ([1, 2], 3)
    """

    chars: tuple[str, ...]
    index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(set(self.chars)) != len(self.chars):
            raise ValueError("charset has duplicate characters")
        object.__setattr__(self, "index", {c: i + 1 for i, c in enumerate(self.chars)})

    @classmethod
    def from_scripts(cls, scripts: Iterable[str] = SCRIPTS) -> "Charset":
        """The union of ``common`` and the named scripts' characters, in a fixed order."""
        chars: list[str] = []
        for name in ("common", *scripts):
            for c in load_script_chars(name):
                if c not in chars:
                    chars.append(c)
        return cls(tuple(chars))

    @property
    def num_classes(self) -> int:
        return len(self.chars) + 1

    def covers(self, text: str) -> bool:
        return all(c in self.index for c in normalize(text))

    def encode(self, text: str) -> list[int]:
        """Indices of the characters of ``normalize(text)``; characters outside the set are dropped."""
        return [self.index[c] for c in normalize(text) if c in self.index]

    def decode(self, indices: Sequence[int]) -> str:
        """Characters for indices (0 and out-of-range indices are skipped); no CTC collapsing."""
        n = len(self.chars)
        return "".join(self.chars[i - 1] for i in indices if 0 < i <= n)

    def to_text(self) -> str:
        """Serialisable form (one code point per line), stored with models."""
        return "\n".join(f"U+{ord(c):04X}" for c in self.chars)

    @classmethod
    def from_text(cls, text: str) -> "Charset":
        return cls(tuple(chr(int(line[2:], 16)) for line in text.split("\n") if line.strip()))


# Latin and Cyrillic letters drawn alike in most fonts: a recognizer that reads both scripts mixes
# them within a word; a word is one script, so the minority of look-alikes is mapped to the other.
_LATIN_LOOKALIKE = "AaBCcEeHKkMOoPpTXxyiI"
_CYRILLIC_LOOKALIKE = "АаВСсЕеНКкМОоРрТХхуіІ"
_TO_CYRILLIC = str.maketrans(_LATIN_LOOKALIKE, _CYRILLIC_LOOKALIKE)
_TO_LATIN = str.maketrans(_CYRILLIC_LOOKALIKE, _LATIN_LOOKALIKE)


def _is_cyrillic(c: str) -> bool:
    return "\u0400" <= c <= "\u04ff"


def harmonize_script(word: str) -> str:
    """Give a word mixing Latin and Cyrillic look-alikes the script of its distinctive letters.

    >>> harmonize_script("Mосква"), harmonize_script("cтол"), harmonize_script("Pынок")
    ('Москва', 'стол', 'Рынок')
    >>> harmonize_script("Hеllo"), harmonize_script("MOCKBA")
    ('Hello', 'MOCKBA')
    """
    cyr = sum(1 for c in word if _is_cyrillic(c) and c not in _CYRILLIC_LOOKALIKE)
    lat = sum(1 for c in word if c.isascii() and c.isalpha() and c not in _LATIN_LOOKALIKE)
    if cyr > lat:
        return word.translate(_TO_CYRILLIC)
    if lat > cyr:
        return word.translate(_TO_LATIN)
    has_cyr = any(_is_cyrillic(c) for c in word)
    has_lat = any(c.isascii() and c.isalpha() for c in word)
    if has_cyr and has_lat:  # only look-alikes: follow the majority
        n_cyr = sum(1 for c in word if _is_cyrillic(c))
        n_lat = sum(1 for c in word if c.isascii() and c.isalpha())
        return word.translate(_TO_CYRILLIC if n_cyr > n_lat else _TO_LATIN)
    return word
