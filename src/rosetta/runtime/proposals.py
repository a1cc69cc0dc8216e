"""The RPN's proposals in NumPy, as :meth:`rosetta.detection.rpn.RotatedRPN._propose` makes them: per level the
top anchors straight from the graph's channels-last maps, decoded, filtered, then rotated NMS over all levels.

Boxes are ``(cx, cy, w, h, angle)`` in pixels, angle in degrees in [-90, 90) (:mod:`rosetta.geometry`).

>>> a = np.array([[50., 40., 40., 10., 30.]], np.float32)
>>> decode(np.zeros((1, 5), np.float32), a, (10.0, 10.0, 5.0, 5.0, 1.0)).tolist() == a.tolist()
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from rosetta.boxes.nms import nms
from rosetta.boxes.topk import top_indices

ANGLE_SCALE = np.float32(45.0)  # degrees per unit of the angle delta (rosetta.detection.box_coder)
MAX_LOG = np.float32(math.log(1000.0 / 16))


@dataclass(frozen=True)
class RPNSpec:
    """What the proposals need from the model's configuration (the graph's metadata,
    :func:`rosetta.graphs.detector.spec`)."""
    strides: tuple[int, ...] = (8, 16, 32)
    heights: tuple[tuple[float, ...], ...] = ((12.0, 24.0), (48.0, 96.0), (192.0, 384.0))  # anchor heights per level
    aspects: tuple[float, ...] = (1.0, 3.0, 7.0)
    angles: tuple[float, ...] = (-60.0, -30.0, 0.0, 30.0, 60.0, 90.0)
    pre_nms: int = 500  # anchors kept per level before NMS
    post_nms: int = 200  # proposals per image after it
    nms_thresh: float = 0.7
    min_size: float = 2.0
    coder_weights: tuple[float, ...] = (10.0, 10.0, 5.0, 5.0, 1.0)

    @classmethod
    def from_spec(cls, spec: dict) -> "RPNSpec":
        a, r = spec["anchors"], spec["rpn"]
        return cls(tuple(spec["strides"]), tuple(tuple(h) for h in a["heights"]), tuple(a["aspects"]),
                   tuple(a["angles"]), int(r["pre_nms_test"]), int(r["post_nms_test"]), float(r["nms_thresh"]),
                   float(r["min_size"]), tuple(r["coder_weights"]))

    def cell_anchors(self, level: int) -> np.ndarray:
        """(A, 5) float32 anchors centred at the origin for one level, ordered (height, aspect, angle), as
        :meth:`rosetta.detection.anchors.AnchorGenerator.cell_anchors`.

        >>> RPNSpec().cell_anchors(0)[[0, 6]].tolist()
        [[0.0, 0.0, 12.0, 12.0, -60.0], [0.0, 0.0, 36.0, 12.0, -60.0]]
        """
        return np.array([[0.0, 0.0, h * r, h, a] for h in self.heights[level] for r in self.aspects
                         for a in self.angles], np.float32)


def wrap180(angle: np.ndarray) -> np.ndarray:
    """Map angles (degrees) into [-90, 90): an undirected line's angle.

    >>> wrap180(np.array([90.0, -100.0, 45.0], np.float32)).tolist()
    [-90.0, 80.0, 45.0]
    """
    return np.remainder(angle + np.float32(90.0), np.float32(180.0)) - np.float32(90.0)


def decode(deltas: np.ndarray, anchors: np.ndarray, weights: Sequence[float]) -> np.ndarray:
    """(N, 5) deltas relative to (N, 5) anchors -> (N, 5) float32 boxes, angle in [-90, 90), as
    :meth:`rosetta.detection.box_coder.RotatedBoxCoder.decode` (the centre offset in the anchor's own frame)."""
    wx, wy, ww, wh, wa = (np.float32(w) for w in weights)
    dx, dy = deltas[:, 0] / wx, deltas[:, 1] / wy
    dw = np.minimum(deltas[:, 2] / ww, MAX_LOG)
    dh = np.minimum(deltas[:, 3] / wh, MAX_LOG)
    da = deltas[:, 4] / wa
    t = np.deg2rad(anchors[:, 4])
    ux, uy = np.cos(t), -np.sin(t)  # reading direction of the anchor
    vx, vy = -uy, ux  # its "down"
    ox, oy = dx * anchors[:, 2], dy * anchors[:, 3]
    out = np.empty((len(anchors), 5), np.float32)
    out[:, 0] = anchors[:, 0] + ox * ux + oy * vx
    out[:, 1] = anchors[:, 1] + ox * uy + oy * vy
    out[:, 2] = anchors[:, 2] * np.exp(dw)
    out[:, 3] = anchors[:, 3] * np.exp(dh)
    out[:, 4] = wrap180(anchors[:, 4] + da * ANGLE_SCALE)
    return out


class QuantizedMap:
    """A uint8 channels-last (B, H, W, C) map an int8 graph hands over undequantized, with how to dequantize it:
    ``(q - zero_point) * scale``, then times ``factor`` (C,) if given (the graph's metadata,
    ``rosetta.dequantize``). Only the anchors the RPN selects are dequantized (:meth:`cells`), in the float32
    arithmetic ONNX Runtime would have used for all.

    >>> m = QuantizedMap(np.arange(12, dtype=np.uint8).reshape(1, 3, 1, 4), 0.5, 1)
    >>> m.cells(0, np.array([2]), np.array([1]), 2).tolist()   # cell 2's channels 2, 3: 10, 11
    [[4.5, 5.0]]
    """

    def __init__(self, q: np.ndarray, scale: float, zero_point: int, factor: Sequence[float] | None = None):
        self.q, self.scale, self.zero_point = q, np.float32(scale), np.float32(zero_point)
        self.factor = None if factor is None else np.asarray(factor, np.float32)
        self.shape = q.shape

    def cells(self, b: int, cell: np.ndarray, group: np.ndarray, per: int) -> np.ndarray:
        """Image ``b``'s channel groups ``group`` of ``per`` channels at flat cells ``cell``: (K, per) float32."""
        _, h, w, c = self.q.shape
        q = self.q[b].reshape(h * w, c // per, per)[cell, group]  # (H, W, C) -> (HW, C/per, per) -> (K, per)
        x = (q.astype(np.float32) - self.zero_point) * self.scale
        if self.factor is not None:
            x = x * self.factor.reshape(c // per, per)[group]
        return x


def _level_deltas(deltas: np.ndarray | QuantizedMap, b: int, cell: np.ndarray, a_idx: np.ndarray) -> np.ndarray:
    """The selected anchors' (K, 5) deltas from a (B, H, W, 5A) map, float32 or quantized."""
    if isinstance(deltas, QuantizedMap):
        return deltas.cells(b, cell, a_idx, 5)
    _, h, w, c = deltas.shape
    return deltas[b].reshape(h * w, c // 5, 5)[cell, a_idx]  # (H, W, 5A) -> (HW, A, 5) -> (K, 5)


def propose(logits: Sequence[np.ndarray], deltas: Sequence[np.ndarray | QuantizedMap], sizes: Sequence[tuple[int, int]],
            spec: RPNSpec, limits: tuple[int, int] | None = None) -> list[np.ndarray]:
    """Per image of the batch, the (N, 5) float32 proposals in the working frame, best first.

    ``logits``: per level (B, H, W, A) objectness; ``deltas``: per level (B, H, W, 5A) (or :class:`QuantizedMap`);
    ``sizes``: each image's (height, width) in the batch; ``limits``: (anchors per level, proposals) instead of
    the spec's."""
    pre, post = limits if limits is not None else (spec.pre_nms, spec.post_nms)
    out = []
    for b, (h, w) in enumerate(sizes):
        boxes, scores = [], []
        for level, (lg, dl) in enumerate(zip(logits, deltas)):
            _, fh, fw, a = lg.shape
            s = lg[b].reshape(-1)  # (H, W, A) -> (HWA,): cell-major, a view of the channels-last map
            top = top_indices(s, pre)
            cell, a_idx = top // a, top % a
            stride = np.float32(spec.strides[level])
            anchors = spec.cell_anchors(level)[a_idx]  # (K, 5), centred at the origin
            anchors[:, 0] += (cell % fw).astype(np.float32) + np.float32(0.5)
            anchors[:, 0] *= stride
            anchors[:, 1] += (cell // fw).astype(np.float32) + np.float32(0.5)
            anchors[:, 1] *= stride
            boxes.append(decode(_level_deltas(dl, b, cell, a_idx), anchors, spec.coder_weights))
            scores.append(s[top])
        bx, sc = np.concatenate(boxes), np.concatenate(scores)
        keep = ((bx[:, 2] >= spec.min_size) & (bx[:, 3] >= spec.min_size) & (bx[:, 0] >= 0) & (bx[:, 0] < w)
                & (bx[:, 1] >= 0) & (bx[:, 1] < h) & np.isfinite(bx).all(1))
        bx, sc = bx[keep], sc[keep]
        out.append(bx[nms(bx, sc, spec.nms_thresh, post)])
    return out


__all__ = ["RPNSpec", "QuantizedMap", "decode", "wrap180", "propose"]
