"""ICDAR 2015 style evaluation: detection and end-to-end precision / recall / hmean.

Protocol (as in the Robust Reading Competition's Task 4.1 / 4.4 scripts):

* Detections whose area lies more than half inside a don't-care region ("###", ``ignore``) are
  dropped before matching; don't-care regions are never counted as misses.
* One-to-one greedy matching in order of ground truth and detection at polygon IoU > 0.5; a pair
  is matched only if neither side is already matched.
* End-to-end additionally needs the transcription equal, case-insensitively, after removing
  punctuation at the start and end of both words (as the competition's script does: ``"EXIT."``
  matches ``exit``; inner characters always count).

>>> gt = [{"points": [[0, 0], [10, 0], [10, 5], [0, 5]], "text": "Hi", "ignore": False}]
>>> det = [{"points": [[0, 0], [10, 0], [10, 5], [0, 5]], "text": "hi"}]
>>> evaluate_images([gt], [det])["det"]["hmean"], evaluate_images([gt], [det])["e2e"]["hmean"]
(1.0, 1.0)
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from shapely.geometry import Polygon
from shapely.validation import make_valid

IOU_THRESH = 0.5
IGNORE_AREA_THRESH = 0.5


def polygon(points) -> Polygon:
    """A valid shapely polygon of a word's corners (a self-crossing quad becomes its valid part or hull).

    >>> polygon([[0, 0], [4, 0], [4, 2], [0, 2]]).area
    8.0
    """
    p = Polygon(np.asarray(points, dtype=np.float64).reshape(-1, 2))
    if not p.is_valid:
        p = make_valid(p)
        if p.geom_type != "Polygon":
            p = p.convex_hull
    return p


def _iou(a: Polygon, b: Polygon) -> float:
    if not a.intersects(b):
        return 0.0
    inter = a.intersection(b).area
    union = a.area + b.area - inter
    return float(inter / union) if union > 0 else 0.0


def match_pairs(gt: Sequence[dict], det: Sequence[dict]) -> tuple[list[int], list[int], list[tuple[int, int]]]:
    """The protocol's matching for one image: cared ground-truth indices, kept detection indices (those not
    mostly inside a don't-care region) and the (ground truth, detection) pairs, greedy in ground-truth order,
    each pair at IoU > ``IOU_THRESH``."""
    gt_polys = [polygon(g["points"]) for g in gt]
    care = [i for i, g in enumerate(gt) if not g.get("ignore", False) and g.get("text") != "###"]
    dont = [i for i in range(len(gt)) if i not in care]
    det_polys = [polygon(d["points"]) for d in det]
    kept = []
    for j, dp in enumerate(det_polys):
        area = dp.area
        if area <= 0:
            continue
        drop = any(dp.intersects(gt_polys[i]) and dp.intersection(gt_polys[i]).area / area > IGNORE_AREA_THRESH
                   for i in dont)
        if not drop:
            kept.append(j)
    gt_used: set[int] = set()
    det_used: set[int] = set()
    pairs = []
    for i in care:
        for j in kept:
            if i in gt_used or j in det_used:
                continue
            if _iou(gt_polys[i], det_polys[j]) > IOU_THRESH:
                gt_used.add(i)
                det_used.add(j)
                pairs.append((i, j))
    return care, kept, pairs


def match_image(gt: Sequence[dict], det: Sequence[dict]) -> dict[str, int]:
    """Counts for one image: cared ground truth, kept detections, detection matches, e2e matches."""
    care, kept, pairs = match_pairs(gt, det)
    e2e = sum(1 for i, j in pairs if e2e_form(gt[i].get("text", "")) == e2e_form(det[j].get("text", "")))
    return {"gt": len(care), "det": len(kept), "match": len(pairs), "e2e_match": e2e}


_EDGE_PUNCT = "!?.:,;*\"'()[]{}<>/\\-_`~«»„“”‘’"


def e2e_form(text: object) -> str:
    """Comparison form for end-to-end matching: lower case, punctuation stripped at both ends.

    >>> e2e_form("EXIT."), e2e_form("(Café)"), e2e_form("a.b")
    ('exit', 'café', 'a.b')
    """
    return str(text).strip().strip(_EDGE_PUNCT).lower()


def prf(match: int, n_gt: int, n_det: int) -> dict[str, float]:
    p = match / n_det if n_det else 0.0
    r = match / n_gt if n_gt else 0.0
    h = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "hmean": h}


def evaluate_images(gts: Sequence[Sequence[dict]], dets: Sequence[Sequence[dict]]) -> dict[str, dict[str, float]]:
    """Aggregate detection and end-to-end scores over images (lists of word dicts with ``points``)."""
    tot = {"gt": 0, "det": 0, "match": 0, "e2e_match": 0}
    for g, d in zip(gts, dets):
        for k, v in match_image(g, d).items():
            tot[k] += v
    return {"det": prf(tot["match"], tot["gt"], tot["det"]), "e2e": prf(tot["e2e_match"], tot["gt"], tot["det"]),
            "counts": tot}


def noisy_copies(images: Sequence[np.ndarray], seed: int, amplitude: float = 1.0) -> list[np.ndarray]:
    """The images plus uniform +-``amplitude`` grey levels of noise (invisible; JPEG's own error is larger), one
    draw per ``seed`` (the same draw for the same seed, so engines compared on it are paired).

    >>> a, b = noisy_copies([np.full((2, 2, 3), 100, np.uint8)], 1), noisy_copies([np.full((2, 2, 3), 100, np.uint8)], 1)
    >>> bool((a[0] == b[0]).all()), int(np.abs(a[0].astype(int) - 100).max()) <= 1
    (True, True)
    """
    rng = np.random.default_rng(seed)
    return [np.clip(im + rng.uniform(-amplitude, amplitude, im.shape), 0, 255).round().astype(np.uint8)
            for im in images]


def paired_gap(ref: Sequence[float], other: Sequence[float], digits: int = 4) -> tuple[float, float]:
    """Mean and standard error of ``ref - other`` over paired draws (the same noise draw for both; 0 SE for
    one), rounded to ``digits``.

    >>> paired_gap([0.5, 0.6, 0.7], [0.4, 0.6, 0.6])
    (0.0667, 0.0333)
    >>> paired_gap([0.5], [0.4])
    (0.1, 0.0)
    """
    g = np.asarray(ref, np.float64) - np.asarray(other, np.float64)
    se = float(g.std(ddof=1) / np.sqrt(len(g))) if len(g) > 1 else 0.0
    return round(float(g.mean()), digits), round(se, digits)


def scored_words(result) -> list[dict]:
    """An OCR result's words as :func:`evaluate_images` takes them (``{"points": quad, "text": str}``).

    >>> from rosetta.result import Result, RotatedBox, Word
    >>> res = Result.build(100, 50, [Word("cat", 0.9, 0.95, RotatedBox(50, 25, 40, 10, 0.0))])
    >>> scored_words(res)[0]["text"], len(scored_words(res)[0]["points"])
    ('cat', 4)
    """
    return [{"points": w.box.polygon(), "text": w.text} for w in result.words]


def e2e_hmean(ocr, images: Sequence[np.ndarray], gts: Sequence[Sequence[dict]]) -> float:
    """End-to-end hmean of an OCR (anything called on an image that returns a result with ``words``)."""
    return evaluate_images(gts, [scored_words(ocr(im)) for im in images])["e2e"]["hmean"]
