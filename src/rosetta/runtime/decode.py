"""CTC decoding: greedy (best path) and prefix beam search, optionally constrained by a lexicon,
with a per-word confidence.

Confidence of a greedy decode is the geometric mean of the best-path probabilities of the frames
that emit a character (blank-only frames do not count), so a long word is not penalised for its
length; an empty result has confidence from its blank frames.

>>> import numpy as np
>>> lp = np.log(np.array([[0.1, 0.9, 0.0], [0.9, 0.1, 0.0], [0.1, 0.0, 0.9]]) + 1e-9)
>>> greedy_decode(lp)[0]
[1, 2]
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Iterable

import numpy as np

BLANK = 0


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def greedy_decode(log_probs: np.ndarray) -> tuple[list[int], float]:
    """Best path of ``log_probs`` (T, C): collapse repeats, drop blanks. Returns (indices, confidence)."""
    if log_probs.shape[0] == 0:
        return [], 0.0
    best = log_probs.argmax(-1)
    best_lp = log_probs[np.arange(len(best)), best]
    out: list[int] = []
    lps: list[float] = []
    prev = BLANK
    for k, (i, lp) in enumerate(zip(best.tolist(), best_lp.tolist())):
        if i != BLANK and i != prev:
            out.append(i)
            lps.append(lp)
        elif i != BLANK and i == prev and lps:
            lps[-1] = max(lps[-1], lp)
        prev = i
    if not lps:
        return [], float(math.exp(float(best_lp.mean())))
    return out, float(math.exp(sum(lps) / len(lps)))


def _logsumexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    m = max(a, b)
    return m + math.log(math.exp(a - m) + math.exp(b - m))


class Trie:
    """Prefix tree over lexicon words (as index sequences) for constrained beam search."""

    def __init__(self, words: Iterable[list[int]]):
        self.children: dict[tuple[int, ...], set[int]] = defaultdict(set)
        self.ends: set[tuple[int, ...]] = set()
        for w in words:
            t = tuple(w)
            for k in range(len(t)):
                self.children[t[:k]].add(t[k])
            self.ends.add(t)

    def allowed(self, prefix: tuple[int, ...]) -> set[int]:
        return self.children.get(prefix, set())


def beam_candidates(log_probs: np.ndarray, beam_width: int = 8, lexicon: Trie | None = None,
                    prune: float = -12.0) -> list[tuple[tuple[int, ...], float]]:
    """CTC prefix beam search over ``log_probs`` (T, C): the ``beam_width`` surviving labellings with their
    log-probabilities, likeliest first. With ``lexicon`` only prefixes of its words are extended (and returned).
    Classes below ``prune`` in a frame are not tried there.

    >>> lp = np.log(np.array([[0.6, 0.4, 0.0], [0.5, 0.5, 0.0]]) + 1e-12)
    >>> [(p, round(float(np.exp(s)), 2)) for p, s in beam_candidates(lp, 3)]
    [((1,), 0.7), ((), 0.3), ((1, 1), 0.0)]
    """
    t_len = log_probs.shape[0]
    # beam: prefix -> (log p ending in blank, log p ending in non-blank)
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, -math.inf)}
    tried = log_probs[:, 1:] > prune  # (T, C - 1): the classes each frame may extend with
    for t in range(t_len):
        row = log_probs[t].tolist()
        cand = (np.flatnonzero(tried[t]) + 1).tolist()
        nxt: dict[tuple[int, ...], list[float]] = defaultdict(lambda: [-math.inf, -math.inf])
        for prefix, (pb, pnb) in beams.items():
            total = _logsumexp(pb, pnb)
            e = nxt[prefix]
            e[0] = _logsumexp(e[0], total + row[BLANK])  # stay, via blank
            if prefix:
                e[1] = _logsumexp(e[1], pnb + row[prefix[-1]])  # repeat collapses
            allowed = lexicon.allowed(prefix) if lexicon is not None else None
            for k in cand:
                if allowed is not None and k not in allowed:
                    continue
                newp = prefix + (k,)
                en = nxt[newp]
                if prefix and k == prefix[-1]:
                    en[1] = _logsumexp(en[1], pb + row[k])  # a repeat needs a blank between
                else:
                    en[1] = _logsumexp(en[1], total + row[k])
        beams = dict(sorted(((p, (v[0], v[1])) for p, v in nxt.items()),
                            key=lambda kv: -_logsumexp(*kv[1]))[:max(1, beam_width)])
    return sorted(((p, _logsumexp(*v)) for p, v in beams.items()), key=lambda kv: -kv[1])


def beam_search(log_probs: np.ndarray, beam_width: int = 8, lexicon: Trie | None = None,
                prune: float = -12.0) -> tuple[list[int], float]:
    """CTC prefix beam search over ``log_probs`` (T, C) (:func:`beam_candidates`): the likeliest labelling.

    With ``lexicon`` the search only extends prefixes of lexicon words and only returns complete
    words (falls back to greedy if none survives). ``beam_width=1`` equals greedy decoding.
    Returns (indices, confidence) where confidence = exp(log P(labelling) / T_emit).
    """
    t_len = log_probs.shape[0]
    if t_len == 0:
        return [], 0.0
    if beam_width <= 1 and lexicon is None:
        return greedy_decode(log_probs)
    ranked = beam_candidates(log_probs, beam_width, lexicon, prune)
    if lexicon is not None:
        ranked = [kv for kv in ranked if kv[0] in lexicon.ends]
        if not ranked:
            return greedy_decode(log_probs)
    prefix, lp = ranked[0]
    n = max(1, len(prefix))
    return list(prefix), float(math.exp(max(lp, -50.0 * n) / n)) if prefix else float(math.exp(lp / t_len))


__all__ = ["BLANK", "log_softmax", "greedy_decode", "Trie", "beam_candidates", "beam_search"]
