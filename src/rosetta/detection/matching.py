"""Matching anchors/proposals to ground truth by rotated IoU, and balanced sampling.

Labels: ``POSITIVE_FROM`` >= 0 is the index of the matched box; ``NEGATIVE`` (-1) background;
``IGNORE`` (-2) neither (between thresholds, or on a don't-care region).

>>> import torch
>>> m = Matcher(0.5, 0.3)
>>> iou = torch.tensor([[0.9, 0.1], [0.2, 0.1], [0.4, 0.35]])   # (anchors, gt)
>>> m(iou).tolist()
[0, -1, 1]
"""

from __future__ import annotations

import torch

from rosetta.ops.rotated import rotated_iou

NEGATIVE = -1
IGNORE = -2
IGNORE_OVERLAP = 0.25  # a background row overlapping a don't-care region more than this is ignored


def sparse_rotated_iou(boxes: torch.Tensor, gt: torch.Tensor, min_iou: float = 0.1) -> torch.Tensor:
    """(N, G) rotated IoU; pairs that cannot reach ``min_iou`` are left at 0 (no matcher threshold or
    low-quality match is below 0.1, so the labels are exact)."""
    return rotated_iou(boxes, gt, min_iou=min_iou)


class Matcher:
    """Assign each row (anchor/proposal) to its best column (ground truth) by IoU thresholds."""

    def __init__(self, pos_thresh: float, neg_thresh: float, allow_low_quality: bool = True,
                 min_low_quality: float = 0.1):
        self.pos, self.neg = pos_thresh, neg_thresh
        self.allow_low_quality, self.min_low_quality = allow_low_quality, min_low_quality

    def lowest_iou(self) -> float:
        """The lowest IoU any label depends on: candidate pairs for :meth:`iou` must include all above it."""
        return min(self.neg, self.min_low_quality) if self.allow_low_quality else self.neg

    def iou(self, boxes: torch.Tensor, gt: torch.Tensor, pairs: tuple[torch.Tensor, torch.Tensor] | None = None
            ) -> torch.Tensor:
        """(N, G) rotated IoU with every value the labels depend on exact, the rest possibly 0: pairs from the
        negative threshold up (under it a row is background whatever the value), and the whole column (from
        ``min_low_quality`` up) of a ground truth whose best pair is under it, for its low-quality match.
        Most anchor pairs near a word fall between 0.1 and the negative threshold: 2-3x fewer exact IoUs.
        ``pairs``: candidate (row, column) pairs, as :func:`rosetta.ops.rotated.rotated_iou` takes them.

        >>> m = Matcher(0.5, 0.3)
        >>> boxes = torch.tensor([[10., 10., 20., 6., 0.], [14., 10., 20., 6., 0.], [50., 50., 8., 8., 0.]])
        >>> gt = torch.tensor([[12., 10., 20., 6., 0.], [52., 52., 20., 20., 0.]])
        >>> bool(torch.equal(m(m.iou(boxes, gt)), m(sparse_rotated_iou(boxes, gt))))
        True
        """
        iou = rotated_iou(boxes, gt, min_iou=self.neg, pairs=pairs)
        if self.allow_low_quality and len(gt) and len(boxes):
            weak = (iou.max(0).values < self.neg).nonzero(as_tuple=True)[0]  # columns with no pair >= neg
            if len(weak):
                sub = None
                if pairs is not None:  # the weak columns' pairs, renumbered
                    keep = torch.isin(pairs[1], weak)
                    column = torch.full((len(gt),), -1, dtype=torch.long)
                    column[weak] = torch.arange(len(weak))
                    sub = (pairs[0][keep], column[pairs[1][keep]])
                iou[:, weak] = rotated_iou(boxes, gt[weak], min_iou=self.min_low_quality, pairs=sub)
        return iou

    def __call__(self, iou: torch.Tensor) -> torch.Tensor:
        """(N, G) IoU -> (N,) labels (matched index, NEGATIVE or IGNORE)."""
        n = iou.shape[0]
        if iou.shape[1] == 0:
            return torch.full((n,), NEGATIVE, dtype=torch.long, device=iou.device)
        best, idx = iou.max(1)
        labels = idx.clone()
        labels[best < self.pos] = IGNORE
        labels[best < self.neg] = NEGATIVE
        if self.allow_low_quality:
            gt_best = iou.max(0).values  # (G,)
            ok = gt_best >= self.min_low_quality
            rows, cols = ((iou == gt_best[None, :]) & ok[None, :] & (iou > 0)).nonzero(as_tuple=True)
            labels[rows] = cols
        return labels


def mark_ignored(labels: torch.Tensor, boxes: torch.Tensor, ignore_boxes: torch.Tensor, thresh: float = IGNORE_OVERLAP,
                 pairs: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """Rows that are not positive but overlap a don't-care region become IGNORE (``pairs``: candidate
    (row, region) pairs, as :func:`rosetta.ops.rotated.rotated_iou` takes them)."""
    if ignore_boxes.numel() == 0 or boxes.numel() == 0:
        return labels
    iou = rotated_iou(boxes, ignore_boxes, min_iou=thresh, pairs=pairs).max(1).values  # exact from ``thresh`` up
    labels = labels.clone()
    labels[(labels < 0) & (iou > thresh)] = IGNORE
    return labels


def balanced_sample(labels: torch.Tensor, size: int, pos_fraction: float, generator: torch.Generator | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of sampled positives and negatives (at most ``size`` in all)."""
    pos = (labels >= 0).nonzero(as_tuple=True)[0]
    neg = (labels == NEGATIVE).nonzero(as_tuple=True)[0]
    npos = min(len(pos), int(size * pos_fraction))
    nneg = min(len(neg), size - npos)
    pos = pos[torch.randperm(len(pos), generator=generator)[:npos]]
    neg = neg[torch.randperm(len(neg), generator=generator)[:nneg]]
    return pos, neg


__all__ = ["IGNORE_OVERLAP", "Matcher", "NEGATIVE", "IGNORE", "sparse_rotated_iou", "mark_ignored", "balanced_sample", "rotated_iou"]
