"""Why end-to-end words are missed and why false positives happen: one reason for every ground-truth word an OCR
does not get right end to end, and one for every word it returns that matches nothing, so that each change can
say which row it moved (``rosetta eval ocr --explain``).

The OCR's words are given with their ``confidence`` and all of them, down to confidence 0 (empty reads too, as
text ""); ``floor`` is the confidence the OCR keeps words at. The kept words are scored with the ICDAR 2015
protocol of :mod:`rosetta.eval`, and each miss and false positive is put in the first row that fits, in the order
of :data:`MISS_REASONS` and :data:`FP_REASONS`.

>>> box = lambda x0, x1: [[x0, 0], [x1, 0], [x1, 10], [x0, 10]]
>>> gt = [{"points": box(0, 40), "text": "EXIT"}, {"points": box(60, 100), "text": "door"}]
>>> det = [{"points": box(0, 40), "text": "EX1T", "confidence": 0.9},
...        {"points": box(60, 100), "text": "door", "confidence": 0.5}]
>>> r = explain_image(gt, det, floor=0.8)
>>> r["misses"], r["false_positives"]
(['misread: one character', 'dropped by the confidence floor: read right'], ['on a word, misread'])
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from typing import Sequence

from rosetta.eval import IOU_THRESH, e2e_form, match_pairs, polygon
from rosetta.metrics import edit_distance, standard_form

SMALL_PX = 12.0  # a word box shorter than this (across its text) is "small"

MISS_REASONS = (
    "misread: case or punctuation only",  # matched box, letters and digits right (inner punctuation differs)
    "misread: script mix",  # a letter of a script the word does not use ("ч5ь7" for "4567")
    "misread: one character",  # one edit away (after case folding and edge punctuation)
    "misread: other",
    "dropped by the confidence floor: read right",  # a box at IoU > 0.5 read right, under the floor
    "dropped by the confidence floor: misread",
    "dropped: read as empty",
    "merged with a neighbour",  # one box covers most of this word and of another one
    "split",  # two or more boxes, each mostly inside this word
    "box too loose",  # one box covers most of the word but is much larger
    "box too tight",  # one box mostly inside the word covers too little of it
    "box shifted",  # boxes overlap the word (IoU > 0.1) but none of the above
    "found under the detector's threshold",  # a box at IoU > 0.5 among the detector's weaker boxes (not read)
    "not detected: small",  # nothing overlaps, word under SMALL_PX high
    "not detected",
)
FP_REASONS = (
    "on a word, misread",  # matched a word at IoU > 0.5 (the word's miss is counted on the other side too)
    "duplicate",  # on a word another box already matched
    "covers several words",
    "part of a word",
    "loose or shifted box on a word",
    "touches a don't-care region",
    "no text near",
)


def _scripts(text: str) -> set[str]:
    """The scripts of the letters in ``text`` (first word of their Unicode names: LATIN, CYRILLIC, ...)."""
    return {unicodedata.name(c, "?").split(" ")[0] for c in text if c.isalpha()}


def misread_kind(pred: str, truth: str) -> str:
    """How a read differs from the truth (one of the "misread: ..." rows).

    >>> misread_kind("a-b", "AB"), misread_kind("ч5ь7", "4567"), misread_kind("EX1T", "exit"), misread_kind("x", "exit")
    ('misread: case or punctuation only', 'misread: script mix', 'misread: one character', 'misread: other')
    """
    if standard_form(pred) == standard_form(truth):
        return "misread: case or punctuation only"
    if _scripts(pred) - (_scripts(truth) or {"LATIN"}):
        return "misread: script mix"
    if edit_distance(e2e_form(pred), e2e_form(truth)) == 1:
        return "misread: one character"
    return "misread: other"


def _height(poly) -> float:
    """The shorter side of a polygon's minimum rotated rectangle (a word's height across its text)."""
    rect = poly.minimum_rotated_rectangle
    if rect.geom_type != "Polygon":  # a degenerate box (a line or a point): no height
        return 0.0
    xs, ys = rect.exterior.coords.xy
    sides = [((xs[i + 1] - xs[i]) ** 2 + (ys[i + 1] - ys[i]) ** 2) ** 0.5 for i in range(2)]
    return float(min(sides))


def _overlaps(a, b) -> tuple[float, float, float]:
    """(intersection / area of a, intersection / area of b, IoU)."""
    if not a.intersects(b) or a.area <= 0 or b.area <= 0:
        return 0.0, 0.0, 0.0
    inter = a.intersection(b).area
    return inter / a.area, inter / b.area, inter / (a.area + b.area - inter)


def explain_image(gt: Sequence[dict], det: Sequence[dict], floor: float = 0.0,
                  weak: Sequence[dict] = ()) -> dict[str, list[str]]:
    """``{"misses": one reason per cared ground-truth word not matched end to end, "false_positives": one reason
    per kept word (confidence >= ``floor``, text not empty) not matched end to end}`` for one image. ``weak``:
    the detector's boxes under the score it reads words at (``{"points"}``), if known."""
    kept = [d for d in det if d.get("confidence", 1.0) >= floor and d.get("text", "")]
    care, kept_idx, pairs = match_pairs(gt, kept)
    ok = {(i, j) for i, j in pairs if e2e_form(gt[i].get("text", "")) == e2e_form(kept[j].get("text", ""))}
    gt_ok, det_ok = {i for i, _ in ok}, {j for _, j in ok}
    pair_of_gt = {i: j for i, j in pairs}
    pair_of_det = {j: i for i, j in pairs}
    gpoly = [polygon(g["points"]) for g in gt]
    kpoly = [polygon(d["points"]) for d in kept]
    # every read (below the floor and empty ones too), matched by the same protocol
    _, _, all_pairs = match_pairs(gt, list(det))
    all_of_gt = {i: j for i, j in all_pairs}
    apoly = [polygon(d["points"]) for d in det]
    care_set = set(care)

    misses = []
    for i in care:
        if i in gt_ok:
            continue
        truth = gt[i].get("text", "")
        if i in pair_of_gt:
            misses.append(misread_kind(kept[pair_of_gt[i]].get("text", ""), truth))
            continue
        if i in all_of_gt:
            d = det[all_of_gt[i]]
            if not d.get("text", ""):
                misses.append("dropped: read as empty")
            elif e2e_form(d["text"]) == e2e_form(truth):
                misses.append("dropped by the confidence floor: read right")
            else:
                misses.append("dropped by the confidence floor: misread")
            continue
        misses.append(_box_reason(i, gpoly, apoly, care_set, [polygon(w["points"]) for w in weak]))

    fps = []
    for j in kept_idx:
        if j in det_ok:
            continue
        if j in pair_of_det:
            fps.append("on a word, misread")
            continue
        fps.append(_fp_reason(kpoly[j], gpoly, care_set, set(pair_of_gt) | gt_ok))
    return {"misses": misses, "false_positives": fps}


def _box_reason(i: int, gpoly: list, dpoly: list, care: set[int], weak: list) -> str:
    g = gpoly[i]
    near = [(d, *_overlaps(g, d)) for d in dpoly]  # (poly, share of g, share of d, IoU)
    for d, sg, _, _ in near:
        if sg >= 0.5 and any(k != i and _overlaps(gpoly[k], d)[0] >= 0.5 for k in care):
            return "merged with a neighbour"
    inside = [(d, sg) for d, sg, sd, _ in near if sd >= 0.5]
    if len(inside) >= 2 and sum(sg for _, sg in inside) >= 0.5:
        return "split"
    for d, sg, sd, iou in near:
        if sg >= 0.5 and d.area > g.area:
            return "box too loose"
    for d, sg, sd, iou in near:
        if sd >= 0.5:
            return "box too tight"
    if any(iou > 0.1 for *_, iou in near):
        return "box shifted"
    if any(_overlaps(g, w)[2] > IOU_THRESH for w in weak):
        return "found under the detector's threshold"
    return "not detected: small" if _height(g) < SMALL_PX else "not detected"


def _fp_reason(d, gpoly: list, care: set[int], taken: set[int]) -> str:
    near = [(k, *_overlaps(gpoly[k], d)) for k in range(len(gpoly))]  # (gt index, share of gt, share of d, IoU)
    cared = [x for x in near if x[0] in care]
    if any(iou > IOU_THRESH and k in taken for k, _, _, iou in cared):
        return "duplicate"
    if sum(sg >= 0.5 for _, sg, _, _ in cared) >= 2:
        return "covers several words"
    if any(sd >= 0.5 for _, _, sd, _ in cared):
        return "part of a word"
    if any(iou > 0.1 for _, _, _, iou in cared):
        return "loose or shifted box on a word"
    if any(sd > 0.0 for k, _, sd, _ in near if k not in care):
        return "touches a don't-care region"
    return "no text near"


def explain_images(gts: Sequence[Sequence[dict]], dets: Sequence[Sequence[dict]], floor: float = 0.0,
                   weak: Sequence[Sequence[dict]] | None = None) -> dict:
    """Counts over images: ``{"misses": {reason: n}, "false_positives": {reason: n}, "gt": cared words,
    "kept": kept words, "e2e_match": words right end to end}``, every reason listed (0 where none)."""
    misses, fps = Counter(), Counter()
    n_gt = n_kept = n_ok = 0
    for k, (g, d) in enumerate(zip(gts, dets)):
        r = explain_image(g, d, floor, weak[k] if weak is not None else ())
        misses.update(r["misses"])
        fps.update(r["false_positives"])
        kept = [x for x in d if x.get("confidence", 1.0) >= floor and x.get("text", "")]
        care, kept_idx, _ = match_pairs(g, kept)
        n_gt += len(care)
        n_kept += len(kept_idx)
        n_ok += len(care) - len(r["misses"])
    return {"misses": {k: misses[k] for k in MISS_REASONS}, "false_positives": {k: fps[k] for k in FP_REASONS},
            "gt": n_gt, "kept": n_kept, "e2e_match": n_ok}


def explain_table(counts: dict) -> str:
    """:func:`explain_images`'s counts as a Markdown table (share of cared words / of kept words).

    >>> print(explain_table({"misses": {"not detected": 2}, "false_positives": {"no text near": 1},
    ...                      "gt": 4, "kept": 3, "e2e_match": 2}).splitlines()[2])
    | missed: not detected | 2 | 50.0% |
    """
    rows = ["| end-to-end error | words | share |", "|---|---|---|"]
    rows += [f"| missed: {k} | {v} | {100 * v / max(1, counts['gt']):.1f}% |" for k, v in counts["misses"].items()]
    rows += [f"| false positive: {k} | {v} | {100 * v / max(1, counts['kept']):.1f}% |"
             for k, v in counts["false_positives"].items()]
    rows.append(f"| right end to end | {counts['e2e_match']} of {counts['gt']} words, {counts['kept']} returned | |")
    return "\n".join(rows)
