"""Words and lines for scoring: split a recognised text line into words at the CTC columns where each character
was decoded, and merge words into lines, so that OCRs that return lines and OCRs that return words are scored
alike (``benchmarks/peers.py``).

Both work on the word dicts of :func:`rosetta.eval.evaluate_images` (``{"points": 4 corners, "text": str}``), with
the corners in reading order: top-left, top-right, bottom-right, bottom-left of the text as read.

>>> line = [[0, 0], [100, 0], [100, 20], [0, 20]]
>>> [w["text"] for w in split_line(line, "ab cd", cols=[2, 6, 14, 18], n_cols=20)]
['ab', 'cd']
>>> [ln["text"] for ln in merge_lines(split_line(line, "ab cd", cols=[2, 6, 14, 18], n_cols=20))]
['ab cd']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from rosetta.eval import e2e_form, evaluate_images
from rosetta.metrics import standard_form


def reading_quad(points: Sequence[Sequence[float]], rotated90: bool = False, flipped: bool = False) -> np.ndarray:
    """A line box's corners in reading order, given how its crop was turned before it was read.

    ``points``: corners clockwise from the box's top-left as cropped (p0 -> p1 is the crop's width);
    ``rotated90``: the crop was turned 90 degrees counter-clockwise (``np.rot90``, as PP-OCR does to crops at
    least 1.5x taller than wide), so the text runs p1 -> p2; ``flipped``: then turned 180 degrees (an upside-down
    line, PP-OCR's direction classifier).

    >>> reading_quad([[0, 0], [10, 0], [10, 40], [0, 40]], rotated90=True).tolist()
    [[10.0, 0.0], [10.0, 40.0], [0.0, 40.0], [0.0, 0.0]]
    >>> reading_quad([[0, 0], [10, 0], [10, 2], [0, 2]], flipped=True).tolist()
    [[10.0, 2.0], [0.0, 2.0], [0.0, 0.0], [10.0, 0.0]]
    """
    q = np.asarray(points, np.float64).reshape(4, 2)
    if rotated90:  # np.rot90: the new top-left is the old top-right, the new top-right the old bottom-right
        q = q[[1, 2, 3, 0]]
    if flipped:
        q = q[[2, 3, 0, 1]]
    return q


def split_line(quad: Sequence[Sequence[float]], text: str, cols: Sequence[int], n_cols: float) -> list[dict]:
    """A recognised line cut into its words along the line's own axis.

    ``quad``: the line's corners in reading order (:func:`reading_quad`); ``text``: its text; ``cols``: the CTC
    output column where each non-space character of ``text`` was decoded, in order; ``n_cols``: the number of
    columns the line's crop spans (the crop's share of the padded batch). A character decoded at column ``c``
    sits at ``(c + 0.5) / n_cols`` of the way along the line; each word reaches half a character pitch (the
    median column step between neighbouring characters of the line) beyond its outer characters, and never past
    the midpoint between its outer character and the next word's. The word's box is the line box between those
    two fractions (top edge and bottom edge interpolated separately, so rotated and slanted lines work).

    >>> ws = split_line([[0, 0], [100, 0], [100, 10], [0, 10]], "ab cd", [2, 6, 14, 18], 20)
    >>> [(w["text"], [round(p[0]) for p in w["points"]]) for w in ws]
    [('ab', [2, 43, 43, 2]), ('cd', [62, 100, 100, 62])]
    >>> split_line([[0, 0], [100, 0], [100, 10], [0, 10]], "  ", [], 20)
    []
    """
    words = text.split()
    chars = [c for c in text if not c.isspace()]
    if not words:
        return []
    if len(cols) != len(chars) or n_cols <= 0:
        raise ValueError(f"{len(cols)} columns for {len(chars)} characters of {text!r}")
    q = np.asarray(quad, np.float64).reshape(4, 2)
    pos = (np.asarray(cols, np.float64) + 0.5) / n_cols  # fraction along the line of each character
    steps = np.diff(pos)
    pitch = float(np.median(steps)) if len(steps) else 1.0 / max(1, len(chars))
    spans, k = [], 0
    for w in words:
        spans.append((k, k + len(w) - 1))
        k += len(w)
    out = []
    for n, (a, b) in enumerate(spans):
        t0, t1 = pos[a] - pitch / 2, pos[b] + pitch / 2
        if n > 0:
            t0 = max(t0, (pos[spans[n - 1][1]] + pos[a]) / 2)
        if n + 1 < len(spans):
            t1 = min(t1, (pos[b] + pos[spans[n + 1][0]]) / 2)
        t0, t1 = float(np.clip(t0, 0, 1)), float(np.clip(t1, 0, 1))
        top0, top1 = q[0] + (q[1] - q[0]) * t0, q[0] + (q[1] - q[0]) * t1
        bot0, bot1 = q[3] + (q[2] - q[3]) * t0, q[3] + (q[2] - q[3]) * t1
        out.append({"points": [p.tolist() for p in (top0, top1, bot1, bot0)], "text": words[n]})
    return out


@dataclass(frozen=True)
class LineRule:
    """When two words are on one line (all relative to the taller word's height)."""

    max_angle: float = 10.0  # degrees between their reading directions
    max_height_ratio: float = 1.6  # taller / shorter
    max_offset: float = 0.5  # distance across the text between their centre lines
    max_gap: float = 1.0  # empty space along the text between them


def _frame(q: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """(centre, unit reading direction, height, corners) of a quad in reading order."""
    u = (q[1] - q[0]) + (q[2] - q[3])
    norm = float(np.hypot(*u))
    u = u / norm if norm > 0 else np.array([1.0, 0.0])
    v = np.array([-u[1], u[0]])
    h = float(np.ptp(q @ v)) or 1.0
    return q.mean(0), u, h, q


def _same_line(a, b, rule: LineRule) -> bool:
    (ca, ua, ha, qa), (cb, ub, hb, qb) = a, b
    if float(np.degrees(np.arccos(np.clip(ua @ ub, -1, 1)))) > rule.max_angle:
        return False
    h = max(ha, hb)
    if h > rule.max_height_ratio * min(ha, hb):
        return False
    u = (ua + ub) / np.hypot(*(ua + ub))
    v = np.array([-u[1], u[0]])
    if abs(float((cb - ca) @ v)) > rule.max_offset * h:
        return False
    pa, pb = qa @ u, qb @ u
    gap = max(pa.min(), pb.min()) - min(pa.max(), pb.max())
    return gap <= rule.max_gap * h


def merge_lines(words: Sequence[dict], rule: LineRule = LineRule()) -> list[dict]:
    """Words grouped into lines: ``{"points": the line's box (corners in reading order), "text": its words in
    reading order, each in :func:`rosetta.eval.e2e_form`, joined by one space, "ignore": bool}``. Two words are on
    one line when ``rule`` says so (and lines are the connected groups). A line is a don't-care region
    (``ignore``) when any of its words is one (``ignore`` or text ``###``): its cared words cannot be told apart
    from it, so it counts for no system.

    >>> ws = [{"points": [[0, 0], [10, 0], [10, 5], [0, 5]], "text": "One"},
    ...       {"points": [[13, 0], [23, 0], [23, 5], [13, 5]], "text": "two!"},
    ...       {"points": [[0, 20], [10, 20], [10, 25], [0, 25]], "text": "Three"}]
    >>> [(ln["text"], ln["points"][1]) for ln in merge_lines(ws)]
    [('one two', [23.0, 0.0]), ('three', [10.0, 20.0])]
    >>> merge_lines([])
    []
    """
    frames = [_frame(np.asarray(w["points"], np.float64).reshape(4, 2)) for w in words]
    parent = list(range(len(words)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(words)):
        for j in range(i + 1, len(words)):
            if root(i) != root(j) and _same_line(frames[i], frames[j], rule):
                parent[root(j)] = root(i)
    groups: dict[int, list[int]] = {}
    for i in range(len(words)):
        groups.setdefault(root(i), []).append(i)
    lines = []
    for idx in sorted(groups.values(), key=lambda g: min(g)):
        u = sum(frames[i][1] * frames[i][2] for i in idx)  # reading direction, weighted by height
        u = u / (np.hypot(*u) or 1.0)
        v = np.array([-u[1], u[0]])
        pts = np.concatenate([frames[i][3] for i in idx])
        a, b = pts @ u, pts @ v
        corners = [u * a.min() + v * b.min(), u * a.max() + v * b.min(), u * a.max() + v * b.max(),
                   u * a.min() + v * b.max()]
        order = sorted(idx, key=lambda i: float(frames[i][0] @ u))
        ignore = any(words[i].get("ignore", False) or words[i].get("text") == "###" for i in order)
        text = " ".join(e2e_form(words[i].get("text", "")) for i in order)
        lines.append({"points": [[round(float(c), 2) for c in p] for p in corners], "text": text, "ignore": ignore})
    return lines


def line_scores(gts: Sequence[Sequence[dict]], dets: Sequence[Sequence[dict]], rule: LineRule = LineRule()) -> dict:
    """:func:`rosetta.eval.evaluate_images` at line level: the ground truth's words and each OCR's words merged into
    lines by the same ``rule``, a line's text compared in :func:`rosetta.metrics.standard_form` (letters and digits,
    case-insensitive; spaces and punctuation ignored, so a reader that glues "ONLINE SHOP" into "ONLINESHOP" or
    keeps the dot of "YOU. AUTOMATIC" reads the line right).

    >>> w = lambda x0, x1, t: {"points": [[x0, 0], [x1, 0], [x1, 20], [x0, 20]], "text": t}
    >>> line_scores([[w(0, 60, "ONLINE"), w(70, 110, "SHOP")]], [[w(0, 110, "ONLINESHOP")]])["e2e"]["hmean"]
    1.0
    """
    def form(lines: list[dict]) -> list[dict]:
        return [{**ln, "text": "###" if ln["ignore"] else standard_form(ln["text"])} for ln in lines]

    return evaluate_images([form(merge_lines(g, rule)) for g in gts], [form(merge_lines(d, rule)) for d in dets])
