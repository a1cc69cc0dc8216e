"""Greedy rotated NMS on the CPU, in NumPy.

The same algorithm and the same kept boxes as the plain greedy one (tests compare with shapely), written
for the case inference meets: 1,500 proposals of one image, mostly near-duplicates of a few dozen words,
of which the first 200 kept are wanted. NumPy's per-call cost on these small arrays is a fraction of
PyTorch's, and the exact intersection (the bulk of the work) is computed only for pairs that a cheap
bound cannot rule out: about 2x faster than the same algorithm in PyTorch ops (docs/RESULTS.md).
No PyTorch here: the runtime (:mod:`rosetta.runtime`) and the PyTorch models (:mod:`rosetta.ops.nms`'s wrappers)
run this same function.

Boxes are ``(cx, cy, w, h, angle)`` in pixels, angle in degrees counter-clockwise on screen (see
:mod:`rosetta.geometry`), as in :mod:`rosetta.ops.rotated`.

>>> b = np.array([[10., 10., 20., 5., 0.], [11., 10., 20., 5., 2.], [50., 50., 10., 10., 45.]], np.float32)
>>> nms(b, np.array([0.9, 0.8, 0.7], np.float32), 0.5).tolist()
[0, 2]
"""

from __future__ import annotations

import numpy as np

_EPS = np.float32(1e-6)
_NEXT = np.array([1, 2, 3, 0])  # corner i -> i + 1 around the quad
_SIGNS = ((-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0))  # TL, TR, BR, BL in (along, across) half sizes


def corners(boxes: np.ndarray) -> np.ndarray:
    """(N, 5) float32 boxes -> (N, 4, 2) corners TL, TR, BR, BL (clockwise on screen), as
    :func:`rosetta.ops.rotated.box_corners`.

    >>> corners(np.array([[10., 5., 8., 2., 0.]], np.float32)).tolist()
    [[[6.0, 4.0], [14.0, 4.0], [14.0, 6.0], [6.0, 6.0]]]
    """
    cx, cy, w, h, a = boxes.T
    t = np.deg2rad(a)
    ux, uy = np.cos(t), -np.sin(t)  # reading direction
    vx, vy = -uy, ux  # "down" of the text
    hw, hh = w / 2, h / 2
    out = np.empty((len(boxes), 4, 2), np.float32)
    for k, (su, sv) in enumerate(_SIGNS):
        out[:, k, 0] = cx + su * hw * ux + sv * hh * vx
        out[:, k, 1] = cy + su * hw * uy + sv * hh * vy
    return out


def _inside_sum(px: np.ndarray, py: np.ndarray, qx: np.ndarray, qy: np.ndarray, strict: np.ndarray) -> np.ndarray:
    """Twice the signed area swept from the origin by the parts of quad p's edges inside convex quad q.

    ``px, py, qx, qy``: (4, K) corner coordinates of K paired quads of the same orientation, the pairs last
    (contiguous: every step below is a vector operation over K, 4x faster than pairs first). Edge i of p,
    ``p_i + t r_i``, is clipped to q's half-planes ``cross(e_j, x - q_j) >= 0`` (Cyrus-Beck); its inside
    part ``[lo, hi]`` contributes ``cross(p_i + lo r_i, p_i + hi r_i) = (hi - lo) cross(p_i, r_i)``.
    ``strict`` (K,) bool: an edge lying on q's boundary is out (a shared edge counts once, from the other side).
    Returns (K,).
    """
    rx, ry = px[_NEXT] - px, py[_NEXT] - py  # (4, K) edges of p
    ex, ey = (qx[_NEXT] - qx)[None], (qy[_NEXT] - qy)[None]  # (1, 4, K) edges of q
    c0 = ex * (py[:, None] - qy[None]) - ey * (px[:, None] - qx[None])  # (4 edges, 4 planes, K) at t = 0
    c1 = ex * ry[:, None] - ey * rx[:, None]  # (4, 4, K) slope in t
    parallel = c1 == 0
    t = np.divide(-c0, c1, out=np.zeros_like(c0), where=~parallel)
    lo = np.where(c1 > 0, t, np.float32(0)).max(1)  # (4, K) entering, from 0
    hi = np.where(c1 < 0, t, np.float32(1)).min(1)  # (4, K) leaving, up to 1
    np.maximum(lo, 0, out=lo)
    np.minimum(hi, 1, out=hi)
    out_of_plane = (c0 < 0) | ((c0 == 0) & strict)  # (4, 4, K)
    ok = (hi > lo) & ~(parallel & out_of_plane).any(1)
    return np.where(ok, (hi - lo) * (px * ry - py * rx), np.float32(0)).sum(0)


def _area(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection areas of paired quads given as (2, 4, K) coordinates (x/y, corner, pair), about ``a``'s
    centre for precision: (K,). Both halves of the boundary (a's edges inside b, b's inside a) in one pass
    over 2K pairs: NumPy's cost per call, not per element, dominates at the few hundred pairs NMS asks for."""
    o = a.mean(1, keepdims=True)  # (2, 1, K)
    a, b = a - o, b - o
    k = a.shape[2]
    p, q = np.concatenate([a, b], 2), np.concatenate([b, a], 2)  # (2, 4, 2K): (a in b), then (b in a)
    strict = np.arange(2 * k) >= k  # (2K,): a shared edge counts once, from a's side
    twice = _inside_sum(p[0], p[1], q[0], q[1], strict)  # (2K,)
    return np.abs(np.float32(0.5) * (twice[:k] + twice[k:]))


def intersection_area(q1: np.ndarray, q2: np.ndarray) -> np.ndarray:
    """Area of the intersection of paired convex quads (K, 4, 2) x (K, 4, 2) -> (K,), by Green's theorem
    (the boundary is made of the parts of each quad's edges inside the other).

    >>> sq = np.array([[[0., 0.], [2., 0.], [2., 2.], [0., 2.]]], np.float32)
    >>> [float(intersection_area(sq, sq + d)[0]) for d in (0.0, 1.0, 3.0)]
    [4.0, 1.0, 0.0]
    """
    return _area(np.ascontiguousarray(q1.transpose(2, 1, 0)), np.ascontiguousarray(q2.transpose(2, 1, 0)))


def iou_upper_bound(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A cheap upper bound of the IoU of paired boxes (K, 5) x (K, 5) -> (K,): the intersection lies in
    each box and in the other's extent along that box's axes (as :func:`rosetta.ops.rotated.iou_upper_bound`)."""
    return _upper_bound(np.ascontiguousarray(a.T), np.ascontiguousarray(b.T))


def _upper_bound(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """:func:`iou_upper_bound` of boxes given as (5, K) columns (cx, cy, w, h, angle), pairs last."""
    k = a.shape[1]
    p, q = np.concatenate([a, b], 1), np.concatenate([b, a], 1)  # (5, 2K): each box in the other's frame, one pass
    t = np.deg2rad(p[4])
    ux, uy = np.cos(t), -np.sin(t)
    dx, dy = q[0] - p[0], q[1] - p[1]
    du, dv = dx * ux + dy * uy, -dx * uy + dy * ux  # q's centre along / across p's reading direction
    dt = np.deg2rad(q[4] - p[4])
    c, s = np.abs(np.cos(dt)), np.abs(np.sin(dt))
    eu, ev = 0.5 * (q[2] * c + q[3] * s), 0.5 * (q[2] * s + q[3] * c)  # q's half extents
    ou = np.clip(np.minimum(p[2] / 2, du + eu) - np.maximum(-p[2] / 2, du - eu), 0, None)
    ov = np.clip(np.minimum(p[3] / 2, dv + ev) - np.maximum(-p[3] / 2, dv - ev), 0, None)
    bound = ou * ov  # (2K,): the overlap's area bound in p's frame
    inter = np.minimum(bound[:k], bound[k:])
    return inter / np.maximum(a[2] * a[3] + b[2] * b[3] - inter, _EPS)


class _Boxes:
    """Score-sorted boxes with what every pair test needs, computed once."""

    def __init__(self, boxes: np.ndarray, groups: np.ndarray):
        self.groups = groups
        self.columns = np.ascontiguousarray(boxes.T)  # (5, N): gathers of pairs come contiguous
        self.corners = np.ascontiguousarray(corners(boxes).transpose(2, 1, 0))  # (N, 4, 2) -> (2, 4, N)
        self.radius = 0.5 * np.hypot(boxes[:, 2], boxes[:, 3])  # circumscribed circle
        self.area = boxes[:, 2] * boxes[:, 3]

    def overlaps(self, rows: np.ndarray, cols: np.ndarray, thresh: float, later_only: bool = False) -> np.ndarray:
        """(len(rows), len(cols)) bool: IoU > ``thresh`` within a group; ``later_only``: only (i, j) with
        i < j (rows and cols the same boxes). Exact IoU only for pairs whose circles meet, whose areas are
        within a factor ``thresh`` and whose upper bound exceeds ``thresh``."""
        x, y = self.columns[0], self.columns[1]
        d2 = (x[rows, None] - x[None, cols]) ** 2 + (y[rows, None] - y[None, cols]) ** 2  # (R, C)
        near = (d2 < (self.radius[rows, None] + self.radius[None, cols]) ** 2)
        near &= self.groups[rows, None] == self.groups[None, cols]
        if later_only:
            near &= np.arange(len(rows))[:, None] < np.arange(len(cols))[None, :]
        i, j = near.nonzero()
        ai, aj = self.area[rows[i]], self.area[cols[j]]
        keep = np.minimum(ai, aj) > thresh * np.maximum(ai, aj)  # IoU <= min(area) / max(area)
        i, j = i[keep], j[keep]
        out = np.zeros((len(rows), len(cols)), bool)
        if len(i):
            keep = _upper_bound(self.columns[:, rows[i]], self.columns[:, cols[j]]) > thresh
            i, j = i[keep], j[keep]
        if len(i):
            p, q = rows[i], cols[j]
            inter = _area(self.corners[..., p], self.corners[..., q])  # (2, 4, K) each
            iou = np.clip(inter / np.maximum(self.area[p] + self.area[q] - inter, _EPS), 0.0, 1.0)
            hit = iou > thresh
            out[i[hit], j[hit]] = True
        return out


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, max_keep: int | None = None,
        groups: np.ndarray | None = None, block: int = 128) -> np.ndarray:
    """Greedy NMS within each group of ``groups`` (class or level; None: one group) of (N, 5) ``boxes``:
    kept indices (int64), highest score first (at most ``max_keep``).

    Blocked greedy: candidates are taken ``block`` at a time in score order, first suppressed by the
    boxes kept so far, then by each other; it stops once ``max_keep`` boxes are kept. Equal to the plain
    greedy algorithm. Boxes of equal score are taken in index order (a stable sort), so that every caller
    (an int8 graph's scores tie often) keeps the same boxes.

    >>> b = np.array([[10., 10., 20., 5., 0.]] * 3, np.float32)
    >>> nms(b, np.ones(3, np.float32), 0.5).tolist(), nms(b, np.ones(3), 0.5, groups=np.array([0, 1, 0])).tolist()
    ([0], [0, 1])
    """
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")  # descending, ties in index order
    groups = np.zeros(len(boxes), np.int64) if groups is None else np.asarray(groups)
    sorted_boxes = _Boxes(np.asarray(boxes, np.float32)[order], groups[order])
    limit = max_keep if max_keep is not None else len(boxes)
    kept: list[int] = []
    for start in range(0, len(boxes), block):
        cand = np.arange(start, min(start + block, len(boxes)))
        if kept:
            k = np.asarray(kept)
            cand = cand[~sorted_boxes.overlaps(cand, k, iou_threshold).any(1)]
        if len(cand) == 0:
            continue
        kept.extend(cand[_greedy(sorted_boxes.overlaps(cand, cand, iou_threshold, later_only=True))].tolist())
        if len(kept) >= limit:
            break
    return order[np.asarray(kept[:limit], np.int64)]


def _greedy(suppresses: np.ndarray) -> np.ndarray:
    """``suppresses[i, j]``: box i (earlier in score order) overlaps later box j too much. Keep a box
    unless a kept one suppresses it; returns the kept rows.

    >>> _greedy(np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]], bool)).tolist()
    [0, 2]
    """
    n = suppresses.shape[0]
    suppressed = np.zeros(n, dtype=bool)
    keep = []
    for i in range(n):
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= suppresses[i]
    return np.asarray(keep, dtype=np.int64)


def union(dets: list[tuple[np.ndarray, np.ndarray]], iou_threshold: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Several detections of one image (each boxes (N, 5), scores (N,)) as one, best first: boxes overlapping by
    more than ``iou_threshold`` reduced to the higher-scored (rotated NMS).

    >>> a = (np.array([[30., 10, 40, 12, 0]], np.float32), np.array([.9], np.float32))
    >>> b = (np.array([[31., 10, 40, 12, 0], [90., 10, 20, 12, 0]], np.float32), np.array([.95, .5], np.float32))
    >>> boxes, scores = union([a, b])
    >>> boxes[:, 0].tolist(), scores.tolist()
    ([31.0, 90.0], [0.949999988079071, 0.5])
    """
    dets = [(b, s) for b, s in dets if len(b)]
    if not dets:
        return np.zeros((0, 5), np.float32), np.zeros(0, np.float32)
    boxes = np.concatenate([b for b, _ in dets]).astype(np.float32)  # (sum N, 5)
    scores = np.concatenate([s for _, s in dets]).astype(np.float32)
    kept = nms(boxes, scores, iou_threshold)
    return boxes[kept], scores[kept]


__all__ = ["nms", "union", "corners", "intersection_area", "iou_upper_bound"]
