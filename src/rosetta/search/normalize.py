"""Search normalisation: the one function that turns a word as read into the terms an index stores.

Case folding, accents stripped (NFKD, combining marks dropped) except where that would turn one letter into
another (Cyrillic й stays й), Cyrillic ё -> е, Arabic letter variants folded (أ إ آ ٱ -> ا, ى -> ي, ة -> ه,
ؤ -> و, ئ -> ي), tatweel and harakat removed, Arabic-Indic digits -> 0-9. Queries and indexed words go through
the same function, so "CAFÉ", "café" and "Cafe" are one term.

>>> normalize("CAFÉ"), normalize("Ёлка"), normalize("Йогурт"), normalize("Straße")
('cafe', 'елка', 'йогурт', 'strasse')
>>> normalize("أَحْمَد"), normalize("مدرسة"), normalize("مستشفى"), normalize("كـــتاب"), normalize("٢٠٢٤")
('احمد', 'مدرسه', 'مستشفي', 'كتاب', '2024')
>>> terms("Coca-Cola!"), terms("www.Shop.com"), terms("..."), terms("Київ") == terms("Киів")
(['coca', 'cola'], ['www', 'shop', 'com'], [], True)
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_KEEP = {("и", "\u0306"): "й", ("у", "\u0306"): "ў"}  # letters of their own, not accented forms
_FOLD = str.maketrans({"ё": "е", "ى": "ي", "ة": "ه", "ٱ": "ا", "\u0640": None,  # tatweel
                       **{chr(0x0660 + i): str(i) for i in range(10)},  # Arabic-Indic digits
                       **{chr(0x06F0 + i): str(i) for i in range(10)}})  # Extended Arabic-Indic (Persian)
_TOKEN = re.compile(r"[^\W_]+")


def normalize(text: str) -> str:
    """Case-folded, accent-free, variant-folded form of ``text`` (punctuation kept)."""
    if text.isascii():
        return text.lower()  # no marks, no variants: the common case, 10x faster
    out: list[str] = []
    for ch in unicodedata.normalize("NFKD", text.casefold()):
        if unicodedata.combining(ch):
            if out and (out[-1], ch) in _KEEP:
                out[-1] = _KEEP[(out[-1], ch)]
            continue  # accents, harakat, hamza above/below (أ -> ا), madda (آ -> ا)
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out)).translate(_FOLD)


def terms(text: str) -> list[str]:
    """The index terms of a word or a query: its normalised letter-and-digit runs, in order."""
    return _TOKEN.findall(normalize(text))


@lru_cache(maxsize=1 << 18)
def word_terms(text: str) -> tuple[str, ...]:
    """:func:`terms` as a tuple, cached: an index sees the same words again and again."""
    return tuple(_TOKEN.findall(normalize(text)))


__all__ = ["normalize", "terms", "word_terms"]
