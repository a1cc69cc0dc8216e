"""Rotated anchors: at every feature-map cell, boxes at several heights, text-like aspect ratios
(wider than tall) and angles.

>>> import torch
>>> gen = AnchorGenerator(heights=((16.0,),), aspects=(1.0, 4.0), angles=(0.0, 90.0))
>>> a = gen([(2, 3)], strides=(8,))
>>> tuple(a.shape), a[0].tolist()
((24, 5), [4.0, 4.0, 16.0, 16.0, 0.0])
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch


@dataclass(frozen=True)
class AnchorGenerator:
    heights: tuple[tuple[float, ...], ...] = ((12.0, 24.0), (48.0, 96.0))  # per feature level
    aspects: tuple[float, ...] = (1.0, 3.0, 7.0)  # width / height: text is wide
    angles: tuple[float, ...] = (-60.0, -30.0, 0.0, 30.0, 60.0, 90.0)

    def per_cell(self, level: int) -> int:
        return len(self.heights[level]) * len(self.aspects) * len(self.angles)

    def cell_anchors(self, level: int) -> torch.Tensor:
        """(A, 5) anchors centred at the origin for one level, ordered (height, aspect, angle)."""
        rows = [[0.0, 0.0, h * r, h, a] for h in self.heights[level] for r in self.aspects for a in self.angles]
        return torch.tensor(rows, dtype=torch.float32)

    def __call__(self, sizes: list[tuple[int, int]], strides: tuple[int, ...]) -> torch.Tensor:
        """Anchors for feature maps of ``sizes`` [(H, W), ...]: (sum_l H_l * W_l * A_l, 5), ordered
        level, then row-major cell, then cell anchor (matching the RPN head's output layout).
        Cached per (sizes, strides): a batch of one size reuses them (do not modify the result)."""
        return _anchors(self, tuple(tuple(int(v) for v in s) for s in sizes), tuple(strides))

    def pairs_near(self, sizes: list[tuple[int, int]], strides: tuple[int, ...], boxes: torch.Tensor,
                   min_iou: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
        """(anchor index, box index) pairs, a superset of those whose circumscribed circles meet and whose
        areas allow an IoU over ``min_iou`` (the tests :func:`rosetta.ops.rotated.rotated_iou` makes first),
        found from the cell grid (the cells within reach of each box, per anchor shape) instead of testing
        every anchor against every box: ``rotated_iou``'s ``pairs``. ``boxes``: (G, 5) in input pixels.

        >>> gen = AnchorGenerator(heights=((8.0,),), aspects=(1.0,), angles=(0.0,))
        >>> i, j = gen.pairs_near([(4, 4)], (8,), torch.tensor([[4.0, 4.0, 4.0, 4.0, 0.0]]))
        >>> sorted(i.tolist())   # cells within 5.7 + 2.8 px of (4, 4), the window rounded outwards
        [0, 1, 2, 4, 5, 6, 8, 9, 10]
        """
        rows, cols = [], []
        start = 0
        rb = 0.5 * torch.hypot(boxes[:, 2], boxes[:, 3])  # (G,) box radii
        area_b = boxes[:, 2] * boxes[:, 3]  # (G,)
        for level, ((h, w), s) in enumerate(zip(sizes, strides)):
            base = self.cell_anchors(level)  # (A, 5)
            per = len(base)
            radius = 0.5 * torch.hypot(base[:, 2], base[:, 3])  # (A,): anchors of one shape share a window
            for r in torch.unique(radius):
                members = (radius == r).nonzero(as_tuple=True)[0]  # (M,) offsets within a cell
                reach = float(r) + rb
                area = float(base[members[0], 2] * base[members[0], 3])
                fits = torch.minimum(area_b, torch.tensor(area)) > min_iou * torch.maximum(area_b, torch.tensor(area))
                lo_x = ((boxes[:, 0] - reach) / s - 0.5).floor().clamp(min=0).long()  # cell centres at (x + 0.5) s
                hi_x = ((boxes[:, 0] + reach) / s - 0.5).ceil().clamp(max=w - 1).long()
                lo_y = ((boxes[:, 1] - reach) / s - 0.5).floor().clamp(min=0).long()
                hi_y = ((boxes[:, 1] + reach) / s - 0.5).ceil().clamp(max=h - 1).long()
                nx, ny = (hi_x - lo_x + 1).clamp(min=0) * fits, (hi_y - lo_y + 1).clamp(min=0)
                count = nx * ny  # (G,) cells in each box's window
                box = torch.repeat_interleave(torch.arange(len(boxes)), count)  # (K,) the box of each window cell
                local = torch.arange(int(count.sum())) - torch.repeat_interleave(count.cumsum(0) - count, count)
                cx, cy = lo_x[box] + local % nx[box], lo_y[box] + local // nx[box]
                cells = cy * w + cx  # (K,) flat row-major cell
                rows.append((start + cells[:, None] * per + members[None, :]).reshape(-1))  # (K, M) -> (K * M,)
                cols.append(box.repeat_interleave(len(members)))
            start += h * w * per
        if not rows:
            return torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long)
        return torch.cat(rows), torch.cat(cols)

    def _compute(self, sizes: tuple[tuple[int, int], ...], strides: tuple[int, ...]) -> torch.Tensor:
        out = []
        for level, ((h, w), s) in enumerate(zip(sizes, strides)):
            base = self.cell_anchors(level)  # (A, 5)
            ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
                                    indexing="ij")
            centres = torch.stack([(xs + 0.5) * s, (ys + 0.5) * s], -1).reshape(-1, 1, 2)  # (HW, 1, 2)
            a = base.unsqueeze(0).repeat(h * w, 1, 1)  # (HW, A, 5)
            a[..., :2] += centres
            out.append(a.reshape(-1, 5))  # (HW, A, 5) -> (HW*A, 5)
        return torch.cat(out) if out else torch.zeros(0, 5)


@lru_cache(maxsize=16)
def _anchors(gen: AnchorGenerator, sizes: tuple[tuple[int, int], ...], strides: tuple[int, ...]) -> torch.Tensor:
    return gen._compute(sizes, strides)
