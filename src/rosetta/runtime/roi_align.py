"""Rotated RoI align in NumPy on channels-last maps, equal to :func:`rosetta.ops.rotated.multilevel_roi_align`
(PyTorch's ``grid_sample``: bilinear, ``align_corners=False``, samples outside the map read 0): the same sampling
grid, the same arithmetic in float32.

Each RoI ``(cx, cy, w, h, angle)`` is sampled along its own reading direction into an (oh, ow) grid, row 0 along
its top edge from its left end, so a tilted word comes out as an upright strip. On a 4 x 4 map of one channel
holding 0..15, a 2 x 2 box centred on the map samples the four middle cells' corners:

>>> f = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)          # (B, H, W, C)
>>> rois = np.array([[0, 2.0, 2.0, 2.0, 2.0, 0.0]], np.float32)     # image 0, centre (2, 2), 2 x 2, 0 degrees
>>> roi_align([f], rois, np.zeros(1, np.int64), (2, 2), [1.0], 1)[0, :, :, 0].tolist()
[[5.0, 6.0], [9.0, 10.0]]
>>> rois[0, 5] = 90.0                                                 # turned a quarter: read top to bottom
>>> roi_align([f], rois, np.zeros(1, np.int64), (2, 2), [1.0], 1)[0, :, :, 0].tolist()
[[9.0, 5.0], [10.0, 6.0]]
>>> rois[0, 1:] = [4.0, 4.0, 2.0, 2.0, 0.0]                           # at the far corner: outside samples read 0
>>> roi_align([f], rois, np.zeros(1, np.int64), (2, 2), [1.0], 1)[0, :, :, 0].tolist()
[[15.0, 0.0], [0.0, 0.0]]
>>> rois[0, 1:] = [2.25, 2.0, 2.0, 2.0, 0.0]                          # a quarter cell right: blended with the east
>>> roi_align([f], rois, np.zeros(1, np.int64), (1, 2), [1.0], 1)[0, :, :, 0].tolist()
[[7.25, 8.25]]
>>> roi_align([f], rois, np.zeros(1, np.int64), (1, 1), [1.0], 2)[0, :, :, 0].tolist()   # 2 x 2 samples, averaged
[[7.75]]
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def sampling_grid(rois: np.ndarray, output_size: tuple[int, int], sampling_ratio: int) -> tuple[np.ndarray, np.ndarray]:
    """Sample positions in input pixels for rotated RoIs (K, 5): x and y, each (K, oh*sr, ow*sr) float32, as
    :func:`rosetta.ops.rotated.roi_sampling_grid`."""
    oh, ow = output_size
    sr = sampling_ratio
    cx, cy, w, h, a = (rois[:, i, None, None] for i in range(5))  # (K, 1, 1) each
    t = np.deg2rad(a)
    ux, uy = np.cos(t), -np.sin(t)
    vx, vy = -uy, ux
    fu = (np.arange(ow * sr, dtype=np.float32) + np.float32(0.5)) / np.float32(ow * sr) - np.float32(0.5)
    fv = (np.arange(oh * sr, dtype=np.float32) + np.float32(0.5)) / np.float32(oh * sr) - np.float32(0.5)
    du = w * fu[None, None, :]  # (K, 1, ow*sr) offset along the reading direction
    dv = h * fv[None, :, None]  # (K, oh*sr, 1) offset across it
    return cx + du * ux + dv * vx, cy + du * uy + dv * vy


def _bilinear(f: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples of a channels-last map ``f`` (H, W, C) at feature coordinates (in cells, cell i's centre
    at i + 0.5; any shape S), neighbours outside the map reading 0: (S..., C) float32. ``grid_sample``'s
    arithmetic: the normalized coordinate and back, then the four weighted neighbours summed in its order.

    The map gets a border of zeros, so that a sample with a neighbour just outside reads 0 there with no mask
    per neighbour; a sample whose neighbours are all outside gets zero weights (2x faster than masked gathers)."""
    fh, fw, c = f.shape
    ix = ((np.float32(2) * x) / np.float32(fw) - np.float32(1) + np.float32(1)) * np.float32(fw / 2) - np.float32(0.5)
    iy = ((np.float32(2) * y) / np.float32(fh) - np.float32(1) + np.float32(1)) * np.float32(fh / 2) - np.float32(0.5)
    x0, y0 = np.floor(ix), np.floor(iy)
    we = ix - x0  # towards the east neighbour
    ww = np.float32(1) - we
    wn = iy - y0  # distance from the north row: the weight of the south one
    ws = np.float32(1) - wn
    x0, y0 = x0.astype(np.intp), y0.astype(np.intp)
    zero = np.float32(0)
    in_x, in_y = (x0 >= -1) & (x0 < fw), (y0 >= -1) & (y0 < fh)  # at least one neighbour inside, per axis
    ww, we, wn, ws = np.where(in_x, ww, zero), np.where(in_x, we, zero), np.where(in_y, wn, zero), np.where(in_y, ws, zero)
    pad = np.zeros((fh + 2, fw + 2, c), np.float32)
    pad[1:-1, 1:-1] = f
    flat = pad.reshape(-1, c)
    nw = ((np.clip(y0, -1, fh - 1) + 1) * (fw + 2) + np.clip(x0, -1, fw - 1) + 1).reshape(-1)  # in the padded map
    out = None
    for offset, wt in ((0, ws * ww), (1, ws * we), (fw + 2, wn * ww), (fw + 3, wn * we)):  # nw, ne, sw, se
        term = np.take(flat, nw + offset, axis=0)  # (N, C)
        term *= wt.reshape(-1, 1)
        if out is None:
            out = term
        else:
            out += term
    return out.reshape(*x.shape, c)


def roi_align(features: Sequence[np.ndarray], rois: np.ndarray, levels: np.ndarray, output_size: tuple[int, int],
              spatial_scales: Sequence[float], sampling_ratio: int = 1) -> np.ndarray:
    """Rotated RoI align of each RoI from its own level. ``features``: per level (B, H_l, W_l, C) channels-last
    float32 maps; ``rois``: (K, 6) as (image index, cx, cy, w, h, angle) in input pixels; ``levels`` (K,);
    ``spatial_scales``: input pixels -> feature cells per level (1 / stride). Each output bin averages
    ``sampling_ratio``^2 samples. Returns (K, oh, ow, C) float32, channels-last."""
    oh, ow = output_size
    sr = sampling_ratio
    c = features[0].shape[-1]
    out = np.zeros((len(rois), oh, ow, c), np.float32)
    if len(rois) == 0:
        return out
    gx, gy = sampling_grid(np.ascontiguousarray(rois[:, 1:], np.float32), output_size, sr)  # (K, oh*sr, ow*sr)
    bidx = rois[:, 0].astype(np.int64)
    for lvl, (f, scale) in enumerate(zip(features, spatial_scales)):
        for i in range(f.shape[0]):
            m = np.flatnonzero((levels == lvl) & (bidx == i))
            if len(m) == 0:
                continue
            s = _bilinear(f[i], gx[m] * np.float32(scale), gy[m] * np.float32(scale))  # (k, oh*sr, ow*sr, C)
            if sr > 1:
                s = s.reshape(len(m), oh, sr, ow, sr, c).mean((2, 4), dtype=np.float32)
            out[m] = s
    return out


__all__ = ["sampling_grid", "roi_align"]
