"""Text recognition metrics: the standard word accuracy (case-insensitive, letters and digits
only), case-sensitive accuracy, 1 - normalised edit distance, and character error rate.

>>> standard_form("Hello, World!")
'helloworld'
>>> text_scores(["Hello", "wrld"], ["hello!", "world"])["word_acc"]
0.5
"""

from __future__ import annotations

from typing import Sequence

from rosetta.charset import normalize


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance between two strings.

    >>> edit_distance("kitten", "sitting")
    3
    """
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def standard_form(text: str) -> str:
    """The standard protocol's comparison form: lower-case, letters and digits only."""
    return "".join(c for c in normalize(text).lower() if c.isalnum())


def text_scores(preds: Sequence[str], gts: Sequence[str]) -> dict[str, float]:
    """word_acc (standard protocol), word_acc_cs (exact, NFC), one_minus_ned, cer (chars, NFC)."""
    if len(preds) != len(gts):
        raise ValueError(f"{len(preds)} predictions for {len(gts)} labels")
    n = max(1, len(gts))
    acc = acc_cs = ned = 0.0
    errs = chars = 0
    for p, g in zip(preds, gts):
        p, g = normalize(p), normalize(g)
        acc += standard_form(p) == standard_form(g)
        acc_cs += p == g
        d = edit_distance(p, g)
        ned += 1 - d / max(1, len(p), len(g))
        errs += d
        chars += len(g)
    return {"n": len(gts), "word_acc": acc / n, "word_acc_cs": acc_cs / n, "one_minus_ned": ned / n,
            "cer": errs / max(1, chars)}
