"""Queries: parsing (words and "quoted phrases") and ranking images by the words that match them.

A query is a list of clauses. A bare word is one clause (a word that normalises to several terms, such as
"coca-cola", must match them in order, like a phrase); a "quoted phrase" is one clause whose terms must
follow each other in reading order, across neighbouring words. An image's score sums, per clause, the best
match's weight: the matched term's rarity (idf) x 1, 0.6 or 0.35 for 0, 1 or 2 edits x (0.5 + confidence / 2).
Images matching more clauses come first.

>>> parse('pet shop "dog food" coca-cola')
[Clause(terms=('pet',), phrase=False), Clause(terms=('shop',), phrase=False), Clause(terms=('dog', 'food'), phrase=True), Clause(terms=('coca', 'cola'), phrase=True)]
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import NamedTuple, Sequence

from rosetta.search.normalize import terms as term_list
from rosetta.search.store import Posting

_CLAUSE = re.compile(r'"([^"]*)"?|(\S+)')
EDIT_WEIGHT = (1.0, 0.6, 0.35)  # a match's weight by its edit distance from the query term


@dataclass(frozen=True)
class Clause:
    terms: tuple[str, ...]
    phrase: bool  # the terms must follow each other in reading order


class Match(NamedTuple):
    posting: Posting
    pos: int  # the term's position within the word's terms
    term: str  # the query term it matches
    distance: int  # edits between the query term and the word's term
    weight: float


def parse(query: str) -> list[Clause]:
    """The clauses of ``query`` (empty terms dropped)."""
    out = []
    for quoted, bare in _CLAUSE.findall(query):
        ts = tuple(term_list(quoted if quoted else bare))
        if ts:
            out.append(Clause(ts, len(ts) > 1))
    return out


def idf(n_images: int, count: int) -> float:
    """Rarity of a term found in ``count`` words among ``n_images`` images.

    >>> round(idf(1000, 1), 2) > round(idf(1000, 100), 2)
    True
    """
    return math.log(1.0 + max(1, n_images) / max(1, count))


def collect(postings: Sequence[Posting], expansions: dict[str, dict[str, int]], counts: dict[str, int],
            n_images: int) -> dict[int, dict[str, list[Match]]]:
    """image -> query term -> its matches; ``expansions`` maps each query term to {index term: distance}."""
    back: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for qt, found in expansions.items():
        for t, d in found.items():
            back[t].append((qt, d))
    rarity = {t: idf(n_images, counts.get(t, 1)) for t in back}
    out: dict[int, dict[str, list[Match]]] = defaultdict(lambda: defaultdict(list))
    for p in postings:
        conf = 0.5 + 0.5 * p.confidence
        for k, t in enumerate(p.terms):
            for qt, d in back.get(t, ()):
                out[p.image][qt].append(Match(p, k, qt, d, rarity[t] * EDIT_WEIGHT[min(d, 2)] * conf))
    return out


def score_clause(clause: Clause, matches: dict[str, list[Match]]) -> tuple[float, list[Match]]:
    """(score, matches used) of one clause in one image; (0, []) when it does not match there."""
    if not clause.phrase:
        ms = matches.get(clause.terms[0], [])
        if not ms:
            return 0.0, []
        best = max(ms, key=lambda m: m.weight)
        return best.weight, [best]
    at: list[dict[tuple[int, int], Match]] = []
    for t in clause.terms:
        by_pos: dict[tuple[int, int], Match] = {}
        for m in matches.get(t, []):
            key = (m.posting.idx, m.pos)
            if key not in by_pos or m.weight > by_pos[key].weight:
                by_pos[key] = m
        at.append(by_pos)
    best: tuple[float, list[Match]] = (0.0, [])
    for start in at[0].values():
        chain, m = [start], start
        for nxt in at[1:]:
            p = m.posting
            key = (p.idx, m.pos + 1) if m.pos + 1 < len(p.terms) else (p.idx + 1, 0)
            if key not in nxt:
                break
            m = nxt[key]
            chain.append(m)
        if len(chain) == len(clause.terms):
            s = sum(c.weight for c in chain)
            if s > best[0]:
                best = (s, chain)
    return best


def rank(clauses: Sequence[Clause], found: dict[int, dict[str, list[Match]]], limit: int,
         allowed: set[int] | None = None) -> list[tuple[int, int, float, list[Match]]]:
    """Top ``limit`` images as (image id, clauses matched, score, matches), best first."""
    scored = []
    for image, matches in found.items():
        if allowed is not None and image not in allowed:
            continue
        hit, total, used = 0, 0.0, []
        for c in clauses:
            s, ms = score_clause(c, matches)
            if ms:
                hit, total = hit + 1, total + s
                used += ms
        if hit:
            scored.append((image, hit, total, used))
    scored.sort(key=lambda x: (-x[1], -x[2], x[0]))
    return scored[:limit]


__all__ = ["Clause", "Match", "parse", "idf", "collect", "score_clause", "rank", "EDIT_WEIGHT"]
