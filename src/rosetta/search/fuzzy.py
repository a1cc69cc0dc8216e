"""Fuzzy term matching for OCR errors: how many edits a term may have, and how to find its candidates.

A query term of 5+ letters matches index terms within edit distance 1, one of 9+ letters within 2
(``max_edits``). Candidates come from the pigeonhole principle rather than a scan of the vocabulary: cut the
term into ``k + 1`` pieces; ``k`` edits leave one piece intact, so every term within distance ``k`` starts with
the first piece, ends with the last, or contains a middle one (``pieces``). The stores answer these three
lookups from indexes (B-tree on the term and on the reversed term, trigram index for the middle pieces);
``distance`` then keeps the true matches.

>>> max_edits("shop"), max_edits("pharmacy"), max_edits("restaurants")
(0, 1, 2)
>>> pieces("pharmacy", 1), pieces("restaurants", 2)
(['phar', 'macy'], ['rest', 'aura', 'nts'])
>>> distance("pharmacy", "pharnacy", 1), distance("pharmacy", "phrmcy", 1), py_distance("pharmacy", "phrmcy", 2)
(1, 2, 2)
>>> FuzzySet(["pharmacy", "bakery", "bar"]).matches("pharnacy"), FuzzySet(["bar"]).matches("bat")
([('pharmacy', 1)], [])
"""

from __future__ import annotations

from typing import Iterable

try:
    from rapidfuzz.distance import Levenshtein as _Levenshtein
except ImportError:  # pragma: no cover - the pure-Python path gives the same distances, slower
    _Levenshtein = None


def max_edits(term: str, one_from: int = 5, two_from: int = 9) -> int:
    """Edits a query term may differ by: 0 below ``one_from`` letters, 1 from it, 2 from ``two_from``."""
    n = len(term)
    return 2 if n >= two_from else 1 if n >= one_from else 0


def pieces(term: str, k: int) -> list[str]:
    """``term`` cut into ``k + 1`` contiguous pieces of near-equal length (longest first)."""
    n, parts = len(term), k + 1
    out, start = [], 0
    for i in range(parts):
        size = n // parts + (1 if i < n % parts else 0)
        out.append(term[start:start + size])
        start += size
    return out


def distance(a: str, b: str, limit: int) -> int:
    """Levenshtein distance of ``a`` and ``b``, or ``limit + 1`` when it is larger (RapidFuzz's C++ when
    installed: a 9-letter query can have thousands of candidates; else :func:`py_distance`)."""
    if _Levenshtein is not None:
        return _Levenshtein.distance(a, b, score_cutoff=limit)
    return py_distance(a, b, limit)


def py_distance(a: str, b: str, limit: int) -> int:
    """Levenshtein distance of ``a`` and ``b``, or ``limit + 1`` when it is larger. Common ends are cut off
    (they never need an edit); then the first characters differ, so an optimal script substitutes, deletes
    or inserts there: 3 branches per allowed edit, string comparisons in C (limits are 1 or 2 here)."""
    if a == b:
        return 0
    if abs(len(a) - len(b)) > limit or limit <= 0:
        return limit + 1
    i, n = 0, min(len(a), len(b))
    while i < n and a[i] == b[i]:
        i += 1
    j = 0
    while j < n - i and a[-1 - j] == b[-1 - j]:
        j += 1
    a, b = a[i:len(a) - j], b[i:len(b) - j]
    if not a or not b:
        d = len(a) + len(b)
        return d if d <= limit else limit + 1
    best = 1 + min(py_distance(a[1:], b[1:], limit - 1), py_distance(a[1:], b, limit - 1),
                   py_distance(a, b[1:], limit - 1))
    return best if best <= limit else limit + 1


class FuzzySet:
    """A fixed set of terms (a lexicon's words) matched against many text terms: each term of the set
    matches terms within its ``max_edits``, found through its pieces (as the stores do) held in dicts."""

    def __init__(self, terms: Iterable[str], one_from: int = 5, two_from: int = 9):
        self.exact: set[str] = set(terms)
        self.k = {t: max_edits(t, one_from, two_from) for t in self.exact}
        self.first: dict[str, set[str]] = {}
        self.last: dict[str, set[str]] = {}
        self.middle: dict[str, set[str]] = {}
        for t, k in self.k.items():
            if k:
                ps = pieces(t, k)
                self.first.setdefault(ps[0], set()).add(t)
                self.last.setdefault(ps[-1], set()).add(t)
                for m in ps[1:-1]:
                    self.middle.setdefault(m, set()).add(t)
        self.first_lens = sorted({len(p) for p in self.first})
        self.last_lens = sorted({len(p) for p in self.last})
        self.middle_lens = sorted({len(p) for p in self.middle})

    def matches(self, term: str) -> list[tuple[str, int]]:
        """Terms of the set that ``term`` matches, with the edit distance (exact first)."""
        found: set[str] = set()
        for n in self.first_lens:
            found |= self.first.get(term[:n], set())
        for n in self.last_lens:
            found |= self.last.get(term[-n:], set()) if n <= len(term) else set()
        for n in self.middle_lens:
            for i in range(len(term) - n + 1):
                found |= self.middle.get(term[i:i + n], set())
        out = [(term, 0)] if term in self.exact else []
        for t in found:
            if t != term:
                d = distance(t, term, self.k[t])
                if d <= self.k[t]:
                    out.append((t, d))
        return sorted(out, key=lambda x: (x[1], x[0]))


__all__ = ["max_edits", "pieces", "distance", "py_distance", "FuzzySet"]
