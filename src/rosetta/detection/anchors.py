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
