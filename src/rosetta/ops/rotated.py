"""Rotated-box ops in plain PyTorch (no torchvision): IoU and RoI align (NMS: :mod:`rosetta.ops.nms`).

Boxes are ``(cx, cy, w, h, angle)`` in pixels with the angle in degrees, counter-clockwise on
screen (see :mod:`rosetta.geometry`). These are reference implementations, vectorised and exact;
they are the one place to swap in faster kernels.

>>> import torch
>>> a = torch.tensor([[10., 10., 8., 4., 0.]])
>>> b = torch.tensor([[10., 10., 8., 4., 90.]])
>>> round(float(rotated_iou(a, b)[0, 0]), 4)   # a cross: overlap 4x4 = 16, union 32 + 32 - 16
0.3333
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from rosetta.ops.nms import batched_rotated_nms, rotated_nms  # NMS lives in NumPy (faster here); re-exported

_EPS = 1e-6
_CHUNK = 65536  # pairs per vectorised IoU call: (chunk, 24, 2) candidate points stay small


def box_corners(boxes: torch.Tensor) -> torch.Tensor:
    """(N, 5) rotated boxes -> (N, 4, 2) corners TL, TR, BR, BL (clockwise on screen).

    >>> box_corners(torch.tensor([[10., 5., 8., 2., 0.]])).tolist()
    [[[6.0, 4.0], [14.0, 4.0], [14.0, 6.0], [6.0, 6.0]]]
    """
    cx, cy, w, h, a = boxes.unbind(1)
    t = torch.deg2rad(a)
    ux, uy = torch.cos(t), -torch.sin(t)  # reading direction
    vx, vy = -uy, ux  # "down" of the text
    hw, hh = w / 2, h / 2
    signs = ((-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0))
    pts = [torch.stack([cx + su * hw * ux + sv * hh * vx, cy + su * hw * uy + sv * hh * vy], -1) for su, sv in signs]
    return torch.stack(pts, 1)  # 4 x (N, 2) -> (N, 4, 2)


def _cross(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def _inside_sum(p: torch.Tensor, q: torch.Tensor, strict: bool) -> torch.Tensor:
    """Twice the signed area swept from the origin by the parts of ``p``'s edges inside convex ``q``.

    ``p``, ``q``: (K, 4, 2) quads of the same orientation. Each edge ``p_i + t r_i`` is clipped to the
    half-planes ``cross(e_j, x - q_j) >= 0`` of ``q``'s edges (Cyrus-Beck) and contributes
    ``cross(a, b)`` of its inside part ``[a, b]``. ``strict``: an edge lying on ``q``'s boundary is out
    (so an edge the two quads share is counted once, from ``p``'s side). Returns (K,).
    """
    r = p.roll(-1, 1) - p  # (K, 4, 2) edges of p
    e = q.roll(-1, 1) - q  # (K, 4, 2) edges of q
    c0 = _cross(e[:, None], p[:, :, None] - q[:, None])  # (K, 4 edges of p, 4 half-planes of q) at t = 0
    c1 = _cross(e[:, None], r[:, :, None])  # (K, 4, 4) slope in t
    t = -c0 / torch.where(c1 == 0, torch.ones_like(c1), c1)
    lo = torch.where(c1 > 0, t, torch.zeros_like(t)).amax(2).clamp(min=0)  # (K, 4) entering
    hi = torch.where(c1 < 0, t, torch.ones_like(t)).amin(2).clamp(max=1)  # (K, 4) leaving
    parallel_out = (c1 == 0) & ((c0 <= 0) if strict else (c0 < 0))
    ok = (hi > lo) & ~parallel_out.any(2)
    a, b = p + lo[..., None] * r, p + hi[..., None] * r
    return torch.where(ok, _cross(a, b), torch.zeros_like(lo)).sum(1)


def _intersection_area(q1: torch.Tensor, q2: torch.Tensor) -> torch.Tensor:
    """Area of the intersection of paired convex quads (K, 4, 2) x (K, 4, 2) -> (K,).

    Green's theorem: the intersection's boundary is made of the parts of each quad's edges that lie
    inside the other, so its area is half the sum of their ``cross(a, b)`` (no vertex sorting).
    Coordinates are taken about ``q1``'s centre for precision.

    >>> sq = torch.tensor([[[0., 0.], [2., 0.], [2., 2.], [0., 2.]]])
    >>> [round(float(_intersection_area(sq, sq + d)[0]), 4) for d in (0.0, 1.0, 3.0)]
    [4.0, 1.0, 0.0]
    """
    o = q1.mean(1, keepdim=True)  # (K, 1, 2)
    q1, q2 = q1 - o, q2 - o
    return (0.5 * (_inside_sum(q1, q2, strict=False) + _inside_sum(q2, q1, strict=True))).abs()


def rotated_iou_pairwise(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of paired rotated boxes: (K, 5) and (K, 5) -> (K,).

    >>> a = torch.tensor([[0., 0., 4., 2., 30.], [0., 0., 2., 2., 0.]])
    >>> b = torch.tensor([[0., 0., 4., 2., 30.], [10., 0., 2., 2., 0.]])
    >>> rotated_iou_pairwise(a, b).tolist()
    [1.0, 0.0]
    """
    a, b = a.float(), b.float()
    out = []
    for i in range(0, len(a), _CHUNK):
        aa, bb = a[i:i + _CHUNK], b[i:i + _CHUNK]
        inter = _intersection_area(box_corners(aa), box_corners(bb))
        union = aa[:, 2] * aa[:, 3] + bb[:, 2] * bb[:, 3] - inter
        out.append((inter / union.clamp(min=_EPS)).clamp(0.0, 1.0))
    return torch.cat(out) if out else a.new_zeros(0)


def iou_upper_bound(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """A cheap upper bound of the rotated IoU of paired boxes, (K, 5) x (K, 5) -> (K,).

    The intersection lies inside each box and inside the other's projection onto that box's axes,
    so it is at most the product of the overlaps of the projections (taken in both frames), and
    ``x / (A + B - x)`` grows with ``x``.
    """
    def frame_bound(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:  # in p's frame: (K,)
        t = torch.deg2rad(p[:, 4])
        ux, uy = torch.cos(t), -torch.sin(t)
        dx, dy = q[:, 0] - p[:, 0], q[:, 1] - p[:, 1]
        du, dv = dx * ux + dy * uy, -dx * uy + dy * ux  # q's centre along / across p's reading direction
        dt = torch.deg2rad(q[:, 4] - p[:, 4])
        c, s = torch.cos(dt).abs(), torch.sin(dt).abs()
        eu, ev = 0.5 * (q[:, 2] * c + q[:, 3] * s), 0.5 * (q[:, 2] * s + q[:, 3] * c)  # q's half extents
        ou = (torch.minimum(p[:, 2] / 2, du + eu) - torch.maximum(-p[:, 2] / 2, du - eu)).clamp(min=0)
        ov = (torch.minimum(p[:, 3] / 2, dv + ev) - torch.maximum(-p[:, 3] / 2, dv - ev)).clamp(min=0)
        return ou * ov

    area_a, area_b = a[:, 2] * a[:, 3], b[:, 2] * b[:, 3]
    inter = torch.minimum(frame_bound(a, b), frame_bound(b, a))
    return inter / (area_a + area_b - inter).clamp(min=_EPS)


def rotated_iou(a: torch.Tensor, b: torch.Tensor, min_iou: float = 0.0, upper: bool = False,
                pairs: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """Dense IoU matrix of rotated boxes: (N, 5) x (M, 5) -> (N, M).

    Only pairs whose circumscribed circles meet and that may overlap by more than ``min_iou`` (by
    :func:`iou_upper_bound`) are computed exactly; the others are 0. ``min_iou`` > 0 suits callers
    that only compare with a threshold. ``upper``: only entries (i, j) with i < j (the rest 0), for a
    set of boxes against itself. ``pairs``: candidate (row, column) index pairs, a superset of those whose
    circles meet (e.g. from the anchors' grid, :meth:`rosetta.detection.anchors.AnchorGenerator.pairs_near`):
    the N x M distance test is then made on them only, with the same result.

    >>> a = torch.tensor([[10., 10., 20., 6., 0.], [60., 10., 20., 6., 30.]])
    >>> b = torch.tensor([[12., 10., 20., 6., 10.]])
    >>> full = rotated_iou(a, b)
    >>> bool(torch.equal(full, rotated_iou(a, b, pairs=(torch.tensor([0, 1]), torch.tensor([0, 0]))))), full[1, 0].item()
    (True, 0.0)
    """
    n, m = a.shape[0], b.shape[0]
    out = torch.zeros(n, m, dtype=torch.float32, device=a.device)
    if n == 0 or m == 0:
        return out
    a, b = a.float(), b.float()
    ra, rb = 0.5 * torch.hypot(a[:, 2], a[:, 3]), 0.5 * torch.hypot(b[:, 2], b[:, 3])
    if pairs is None:  # circumscribed circles meet
        d2 = (a[:, None, 0] - b[None, :, 0]) ** 2 + (a[:, None, 1] - b[None, :, 1]) ** 2  # (N, M)
        i, j = (d2 < (ra[:, None] + rb[None, :]) ** 2).nonzero(as_tuple=True)
    else:  # the same test, on the candidate pairs only
        i, j = pairs
        d2 = (a[i, 0] - b[j, 0]) ** 2 + (a[i, 1] - b[j, 1]) ** 2  # (K,)
        near = d2 < (ra[i] + rb[j]) ** 2
        i, j = i[near], j[near]
    if upper:
        keep = i < j
        i, j = i[keep], j[keep]
    if min_iou > 0:  # IoU <= min(area) / max(area): boxes of very different sizes cannot reach min_iou
        aa, ab = a[i, 2] * a[i, 3], b[j, 2] * b[j, 3]
        near = torch.minimum(aa, ab) > min_iou * torch.maximum(aa, ab)
        i, j = i[near], j[near]
    if min_iou > 0 and len(i):
        near = iou_upper_bound(a[i], b[j]) > min_iou
        i, j = i[near], j[near]
    if len(i):
        out[i, j] = rotated_iou_pairwise(a[i], b[j])
    return out


def roi_sampling_grid(rois: torch.Tensor, output_size: tuple[int, int], sampling_ratio: int) -> torch.Tensor:
    """Sample positions in input pixels for rotated RoIs (K, 5) -> (K, oh*sr, ow*sr, 2) as (x, y).

    Row 0 runs along the box's top edge from its left end, so the crop is the box turned upright.
    """
    oh, ow = output_size
    sr = sampling_ratio
    cx, cy, w, h, a = rois.unbind(1)
    t = torch.deg2rad(a)
    ux, uy = torch.cos(t), -torch.sin(t)
    vx, vy = -uy, ux
    fu = (torch.arange(ow * sr, dtype=rois.dtype, device=rois.device) + 0.5) / (ow * sr) - 0.5  # (ow*sr,) in [-.5, .5]
    fv = (torch.arange(oh * sr, dtype=rois.dtype, device=rois.device) + 0.5) / (oh * sr) - 0.5  # (oh*sr,)
    du = w[:, None, None] * fu[None, None, :]  # (K, 1, ow*sr) offset along the reading direction
    dv = h[:, None, None] * fv[None, :, None]  # (K, oh*sr, 1) offset across it
    x = cx[:, None, None] + du * ux[:, None, None] + dv * vx[:, None, None]  # (K, oh*sr, ow*sr)
    y = cy[:, None, None] + du * uy[:, None, None] + dv * vy[:, None, None]
    return torch.stack([x, y], -1)


def rotated_roi_align(features: torch.Tensor, rois: torch.Tensor, output_size: tuple[int, int],
                      spatial_scale: float, sampling_ratio: int = 2) -> torch.Tensor:
    """Rotated RoI align by bilinear ``grid_sample``.

    ``features``: (B, C, H, W). ``rois``: (K, 6) as (batch index, cx, cy, w, h, angle) in input
    pixels; ``spatial_scale`` maps input pixels to feature cells (1 / stride). Each output bin
    averages ``sampling_ratio``^2 bilinear samples; points outside the map read zeros.
    Returns (K, C, oh, ow).
    """
    levels = torch.zeros(len(rois), dtype=torch.long, device=rois.device)
    return multilevel_roi_align([features], rois, levels, output_size, [spatial_scale], sampling_ratio)


def multilevel_roi_align(features: Sequence[torch.Tensor], rois: torch.Tensor, levels: torch.Tensor,
                         output_size: tuple[int, int], spatial_scales: Sequence[float], sampling_ratio: int = 2
                         ) -> torch.Tensor:
    """:func:`rotated_roi_align` of each RoI from its own level: ``features[levels[k]]`` (B, C, H_l, W_l) at
    ``spatial_scales[levels[k]]``; ``levels`` (K,) in ``range(len(features))``. The sampling grid is made
    once for all RoIs and each level's samples go straight into one output (K, C, oh, ow)."""
    c = features[0].shape[1]
    oh, ow = output_size
    sr = sampling_ratio
    out = features[0].new_empty((len(rois), c, oh, ow))  # every RoI has a level and an image: all written
    if len(rois) == 0:
        return out
    grid = roi_sampling_grid(rois[:, 1:].to(features[0].dtype), output_size, sr)  # (K, oh*sr, ow*sr, 2) pixels
    bidx = rois[:, 0].long()
    for lvl, (f, scale) in enumerate(zip(features, spatial_scales)):
        b, _, fh, fw = f.shape
        for i in range(b):
            m = ((levels == lvl) & (bidx == i)).nonzero(as_tuple=True)[0]
            if len(m) == 0:
                continue
            g = grid[m] * scale  # feature coordinates
            # align_corners=False: feature coordinate 0 is the left edge of cell 0 and W its right edge
            g = torch.stack([2 * g[..., 0] / fw - 1, 2 * g[..., 1] / fh - 1], -1)
            g = g.reshape(1, len(m) * oh * sr, ow * sr, 2)  # (k, oh*sr, ow*sr, 2) -> (1, k*oh*sr, ow*sr, 2)
            s = F.grid_sample(f[i:i + 1], g, mode="bilinear", padding_mode="zeros", align_corners=False)
            if sr > 1:  # pooled before the permute, on contiguous rows (each RoI's oh*sr rows pool alone)
                s = F.avg_pool2d(s, sr)  # (1, C, k*oh*sr, ow*sr) -> (1, C, k*oh, ow)
            out[m] = s.reshape(c, len(m), oh, ow).permute(1, 0, 2, 3)  # (1, C, k*oh, ow) -> (k, C, oh, ow)
    return out


__all__ = ["box_corners", "iou_upper_bound", "rotated_iou", "rotated_iou_pairwise", "rotated_nms", "batched_rotated_nms",
           "roi_sampling_grid", "rotated_roi_align", "multilevel_roi_align"]
