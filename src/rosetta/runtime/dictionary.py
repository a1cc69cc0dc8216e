"""A dictionary the recognizer's decoding prefers: among the likeliest readings of a crop, a dictionary word wins
over a non-word that is not far more probable ("from" over "trom" on a blurred photo).

The network's best reading is kept when it is a dictionary word, when it cannot be an English word misread
(accented letters, digits, fewer than two letters: :func:`looks_english`), and for any crop of a script without a
dictionary (Cyrillic and Arabic today: the only word lists at hand are the ones the synthetic validation words are
drawn from, so no honest weight could be chosen for them). Otherwise CTC prefix beam search gives the ``beam`` likeliest
readings, and each scores its log-probability plus ``bonus`` if it is a dictionary word (surrounding punctuation
aside, two letters or more); the highest wins. Its confidence is ``exp((log p + bonus) / n)`` over its ``n``
characters (at most 1): a reading the dictionary backs is surer than its probability alone says.

>>> import numpy as np
>>> d = Dictionary(frozenset({"from"}))
>>> d.holds("from,"), d.holds("trom"), d.holds("a")
(True, False, False)
>>> # classes: 0 the blank, then " frotm" (1 = " ", 2 = "f", ..., 6 = "m")
>>> frames = [{5: 0.6, 2: 0.4}, {3: 1.0}, {4: 1.0}, {6: 1.0}]  # 't' (0.6) or 'f' (0.4), then 'r', 'o', 'm'
>>> lp = np.log(np.array([[f.get(k, 0.0) for k in range(6 + 1)] for f in frames]) + 1e-9)
>>> text = lambda seq: "".join(" frotm"[i - 1] for i in seq) if seq else ""
>>> greedy = ([5, 3, 4, 6], 0.88)
>>> seq, conf = prefer_words(lp, greedy, text, d, bonus=2.0)
>>> text(seq), round(conf, 2)
('from', 1.0)
>>> text(prefer_words(lp, greedy, text, d, bonus=0.2)[0])  # not enough to beat a reading 1.5x as likely
'trom'
"""

from __future__ import annotations

import gzip
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

from rosetta.runtime.decode import beam_candidates

DICTIONARY_DIR = Path(__file__).resolve().parent.parent / "dictionaries"
SCRIPT_DICTIONARIES = {"latin": "english"}  # script -> dictionaries/NAME.txt.gz
STRIP = ".,:;!?\"'()[]{}-"


@dataclass(frozen=True)
class Dictionary:
    words: frozenset[str]  # casefolded

    @staticmethod
    @lru_cache(maxsize=None)
    def load(name: str) -> "Dictionary":
        """``dictionaries/NAME.txt.gz`` in the package (one casefolded word per line)."""
        path = DICTIONARY_DIR / f"{name}.txt.gz"
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            return Dictionary(frozenset(w for w in fh.read().split("\n") if w))

    @staticmethod
    def for_script(script: str) -> "Dictionary | None":
        """The dictionary of ``script``'s words, or None when it has none."""
        name = SCRIPT_DICTIONARIES.get(script)
        return Dictionary.load(name) if name else None

    def holds(self, text: str) -> bool:
        """Whether ``text``, surrounding punctuation aside, is a word of two letters or more in the dictionary."""
        w = text.strip(STRIP).casefold()
        return len(w) >= 2 and w in self.words


def looks_english(text: str) -> bool:
    """Whether a reading may be an English word misread: ASCII (accented letters are Vietnamese, French...), two
    letters or more and no digit (numbers and codes are not words).

    >>> looks_english("trom"), looks_english("máy"), looks_english("10"), looks_english("A4")
    (True, False, False, False)
    """
    return text.isascii() and sum(c.isalpha() for c in text) >= 2 and not any(c.isdigit() for c in text)


def prefer_words(log_probs: np.ndarray, first: tuple[list[int], float], text: Callable[[list[int]], str],
                 words: Dictionary, bonus: float, beam: int = 8, prune: float = -6.0) -> tuple[list[int], float]:
    """The reading (class indices, confidence) of one crop's ``log_probs`` (T, C) that the dictionary prefers,
    given the decoder's reading ``first``; ``text`` turns indices into the word. ``beam`` readings are ranked,
    found by a beam search that tries a class in a frame only above log-probability ``prune``."""
    first_text = text(first[0])
    if bonus <= 0 or not looks_english(first_text) or words.holds(first_text):
        return first
    best, best_score, held = first, -math.inf, False
    for seq, lp in beam_candidates(log_probs, beam, prune=prune):
        seq = list(seq)
        h = words.holds(text(seq))
        score = lp + bonus * h
        if score > best_score:
            best, best_score, held = (seq, lp), score, h
    if not held:  # no dictionary word wins: the decoder's own reading and confidence stand
        return first
    seq, lp = best
    return seq, float(min(1.0, math.exp((lp + bonus) / max(1, len(seq)))))


__all__ = ["Dictionary", "looks_english", "prefer_words", "SCRIPT_DICTIONARIES"]
