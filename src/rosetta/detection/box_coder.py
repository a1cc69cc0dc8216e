"""Rotated box coder: (cx, cy, w, h, angle) <-> regression deltas relative to an anchor.

Detector boxes are undirected: ``angle`` is in degrees in [-90, 90) and ``w`` runs along the
text line (see rosetta.geometry for the on-screen convention). The centre offset is expressed in
the anchor's own frame, so encoding is equivariant to rotating anchor and box together.

>>> import torch
>>> coder = RotatedBoxCoder()
>>> a = torch.tensor([[50., 40., 40., 10., 30.]])
>>> g = torch.tensor([[53., 38., 48., 12., 41.]])
>>> torch.allclose(coder.decode(coder.encode(g, a), a), g, atol=1e-4)
True
"""

from __future__ import annotations

import math

import torch

ANGLE_SCALE = 45.0  # degrees per unit of the angle delta
MAX_LOG = math.log(1000.0 / 16)


def wrap180(angle: torch.Tensor) -> torch.Tensor:
    """Map angles (degrees) into [-90, 90): an undirected line's angle."""
    return torch.remainder(angle + 90.0, 180.0) - 90.0


class RotatedBoxCoder:
    def __init__(self, weights: tuple[float, float, float, float, float] = (10.0, 10.0, 5.0, 5.0, 1.0)):
        self.weights = weights

    def encode(self, boxes: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
        """(N, 5) target boxes and (N, 5) anchors -> (N, 5) deltas."""
        wx, wy, ww, wh, wa = self.weights
        t = torch.deg2rad(anchors[:, 4])
        ux, uy = torch.cos(t), -torch.sin(t)  # reading direction of the anchor
        vx, vy = -uy, ux  # "down" of the anchor
        ddx, ddy = boxes[:, 0] - anchors[:, 0], boxes[:, 1] - anchors[:, 1]
        dx = (ddx * ux + ddy * uy) / anchors[:, 2]
        dy = (ddx * vx + ddy * vy) / anchors[:, 3]
        dw = torch.log(boxes[:, 2].clamp(min=1e-3) / anchors[:, 2])
        dh = torch.log(boxes[:, 3].clamp(min=1e-3) / anchors[:, 3])
        da = wrap180(boxes[:, 4] - anchors[:, 4]) / ANGLE_SCALE
        return torch.stack([wx * dx, wy * dy, ww * dw, wh * dh, wa * da], 1)

    def decode(self, deltas: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
        """(N, 5) deltas and (N, 5) anchors -> (N, 5) boxes with angle in [-90, 90)."""
        wx, wy, ww, wh, wa = self.weights
        dx, dy = deltas[:, 0] / wx, deltas[:, 1] / wy
        dw = (deltas[:, 2] / ww).clamp(max=MAX_LOG)
        dh = (deltas[:, 3] / wh).clamp(max=MAX_LOG)
        da = deltas[:, 4] / wa
        t = torch.deg2rad(anchors[:, 4])
        ux, uy = torch.cos(t), -torch.sin(t)
        vx, vy = -uy, ux
        ox, oy = dx * anchors[:, 2], dy * anchors[:, 3]
        cx = anchors[:, 0] + ox * ux + oy * vx
        cy = anchors[:, 1] + ox * uy + oy * vy
        w = anchors[:, 2] * torch.exp(dw)
        h = anchors[:, 3] * torch.exp(dh)
        a = wrap180(anchors[:, 4] + da * ANGLE_SCALE)
        return torch.stack([cx, cy, w, h, a], 1)


def canonical(boxes: torch.Tensor) -> torch.Tensor:
    """Undirected form of rotated boxes: angle wrapped into [-90, 90), w and h kept."""
    out = boxes.clone()
    out[:, 4] = wrap180(out[:, 4])
    return out
