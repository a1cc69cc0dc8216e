"""Rotated region proposal network: objectness and rotated box deltas for every anchor.

``forward(features, image_sizes, targets=None)`` returns proposals per image and, in training,
the named losses ``rpn_objectness`` and ``rpn_box``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from rosetta.boxes.topk import top_indices
from rosetta.detection.anchors import AnchorGenerator
from rosetta.detection.box_coder import RotatedBoxCoder
from rosetta.detection.factorized import conv3x3
from rosetta.detection.matching import IGNORE_OVERLAP, Matcher, balanced_sample, mark_ignored
from rosetta.ops.rotated import batched_rotated_nms


@dataclass(frozen=True)
class RPNConfig:
    pre_nms_train: int = 1000  # per level
    pre_nms_test: int = 500
    post_nms_train: int = 400  # per image
    post_nms_test: int = 200
    nms_thresh: float = 0.7
    pos_thresh: float = 0.5
    neg_thresh: float = 0.3
    batch_per_image: int = 256
    pos_fraction: float = 0.5
    min_size: float = 2.0


class RPNHead(nn.Module):
    """Shared 3x3 conv, then per-anchor objectness (A) and deltas (5A) at every level."""

    def __init__(self, channels: int, anchors_per_cell: int, rank: int = 0):
        """``rank``: the 3x3 conv as a 3x1 / 1x3 pair through that many channels (0: full)."""
        super().__init__()
        self.conv = nn.Sequential(conv3x3(channels, channels, rank), nn.ReLU(inplace=True))
        self.cls = nn.Conv2d(channels, anchors_per_cell, 1)
        self.reg = nn.Conv2d(channels, anchors_per_cell * 5, 1)
        for m in (self.cls, self.reg):
            nn.init.normal_(m.weight, std=0.01)
            nn.init.zeros_(m.bias)
        nn.init.constant_(self.cls.bias, -4.0)  # start from "mostly background"

    def forward(self, feats: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        logits, deltas = [], []
        for f in feats:
            t = self.conv(f)
            logits.append(self.cls(t))
            deltas.append(self.reg(t))
        return logits, deltas


def _flatten(logits: list[torch.Tensor], deltas: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """Per-level (B, A, H, W) and (B, 5A, H, W) -> (B, sum HWA) and (B, sum HWA, 5), cell-major like the anchors."""
    lo, de, counts = [], [], []
    for lg, dl in zip(logits, deltas):
        b, a, h, w = lg.shape
        lo.append(lg.permute(0, 2, 3, 1).reshape(b, -1))  # (B, A, H, W) -> (B, H, W, A) -> (B, HWA)
        de.append(dl.view(b, a, 5, h, w).permute(0, 3, 4, 1, 2).reshape(b, -1, 5))  # -> (B, H, W, A, 5) -> (B, HWA, 5)
        counts.append(h * w * a)
    return torch.cat(lo, 1), torch.cat(de, 1), counts


def _top_indices(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the ``k`` largest of a 1-D tensor, in no particular order; among scores tied with the
    k-th largest, the first ones (an int8 graph's scores tie often, and which of them come is then defined).

    On CPU: :func:`rosetta.boxes.topk.top_indices` (NumPy, the runtime's selection too).

    >>> sorted(_top_indices(torch.tensor([0.1, 5.0, -2.0, 3.0]), 2).tolist())
    [1, 3]
    >>> _top_indices(torch.tensor([1.0, 2.0, 2.0, 2.0, 0.0]), 2).tolist()   # ties: the first ones
    [1, 2]
    """
    if k >= scores.numel():
        return torch.arange(scores.numel(), device=scores.device)
    if scores.device.type != "cpu" or scores.requires_grad:
        return scores.topk(k, sorted=False).indices
    return torch.from_numpy(top_indices(scores.numpy(), k))


class RotatedRPN(nn.Module):
    def __init__(self, head: RPNHead, anchors: AnchorGenerator, strides: tuple[int, ...], config: RPNConfig = RPNConfig()):
        super().__init__()
        self.head, self.anchor_gen, self.strides, self.cfg = head, anchors, strides, config
        self.coder = RotatedBoxCoder()
        self.matcher = Matcher(config.pos_thresh, config.neg_thresh)

    def forward(self, feats: list[torch.Tensor], image_sizes: list[tuple[int, int]],
                targets: list[dict[str, torch.Tensor]] | None = None,
                head_out: tuple[list[torch.Tensor], list[torch.Tensor]] | None = None,
                limits: tuple[int, int] | None = None):
        """``head_out``: the head's (logits, deltas) when another engine already computed them (float maps; an
        int8 graph's are dequantized first, :func:`rosetta.train.predict.features_runner`). ``limits``
        (inference): (anchors kept per level before NMS, proposals after it) for this call instead of the config's
        (pages dense with words need more)."""
        logits, deltas = head_out if head_out is not None else self.head(feats)
        grid = [tuple(f.shape[-2:]) for f in feats]  # (H, W) per level
        anchors = self.anchor_gen(grid, self.strides).to(logits[0].device)
        proposals = self._propose([l.detach() for l in logits], [d.detach() for d in deltas], anchors, image_sizes,
                                  limits)
        losses: dict[str, torch.Tensor] = {}
        if targets is not None:
            obj, dlt, _ = _flatten(logits, deltas)
            losses = self._loss(obj, dlt, anchors, targets, grid)
        return proposals, losses

    @torch.no_grad()
    def _propose(self, logits: list[torch.Tensor], deltas: list[torch.Tensor], anchors: torch.Tensor,
                 image_sizes: list[tuple[int, int]], limits: tuple[int, int] | None = None
                 ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Top anchors per level straight from the head's (B, A, H, W) maps (no flattened copy of every
        anchor), decoded, filtered, then rotated NMS over all levels together."""
        c = self.cfg
        pre = c.pre_nms_train if self.training else c.pre_nms_test
        post = c.post_nms_train if self.training else c.post_nms_test
        if limits is not None and not self.training:
            pre, post = limits
        out = []
        for b, (h, w) in enumerate(image_sizes):
            sel_boxes, sel_scores = [], []
            start = 0
            for lg, dl in zip(logits, deltas):
                _, a, fh, fw = lg.shape
                hw = fh * fw
                # cell-major, like the anchors: free views of channels-last maps (ONNX Runtime's), a copy otherwise
                s = lg[b].permute(1, 2, 0).reshape(-1)  # (A, H, W) -> (H, W, A) -> (HWA)
                top = _top_indices(s, pre)
                cell, a_idx = top // a, top % a
                d = dl[b].permute(1, 2, 0).reshape(hw, a, 5)[cell, a_idx]  # (5A, H, W) -> (H, W, 5A) -> (HW, A, 5) -> (k, 5)
                sel_boxes.append(self.coder.decode(d, anchors[start + top]))
                sel_scores.append(s[top])
                start += hw * a
            boxes, scores = torch.cat(sel_boxes), torch.cat(sel_scores)
            keep = ((boxes[:, 2] >= c.min_size) & (boxes[:, 3] >= c.min_size) & (boxes[:, 0] >= 0) & (boxes[:, 0] < w)
                    & (boxes[:, 1] >= 0) & (boxes[:, 1] < h) & torch.isfinite(boxes).all(1))
            boxes, scores = boxes[keep], scores[keep]
            keep = batched_rotated_nms(boxes, scores, torch.zeros_like(scores, dtype=torch.long), c.nms_thresh, post)
            out.append((boxes[keep], torch.sigmoid(scores[keep])))
        return out

    def _loss(self, obj, dlt, anchors, targets, grid: list[tuple[int, int]]) -> dict[str, torch.Tensor]:
        c = self.cfg
        cls_terms, box_terms, n_sampled = [], [], 0
        for b, t in enumerate(targets):
            gt = t["boxes"]
            ign = t.get("ignore_boxes", gt.new_zeros(0, 5))
            # only anchors within reach of a word and of a size that can match it
            near = self.anchor_gen.pairs_near(grid, self.strides, gt, self.matcher.lowest_iou())
            labels = self.matcher(self.matcher.iou(anchors, gt, near))
            if len(ign):
                near = self.anchor_gen.pairs_near(grid, self.strides, ign, IGNORE_OVERLAP)
                labels = mark_ignored(labels, anchors, ign, IGNORE_OVERLAP, pairs=near)
            pos, neg = balanced_sample(labels, c.batch_per_image, c.pos_fraction)
            idx = torch.cat([pos, neg])
            target = torch.cat([torch.ones(len(pos)), torch.zeros(len(neg))]).to(obj.device)
            cls_terms.append(F.binary_cross_entropy_with_logits(obj[b, idx], target, reduction="sum"))
            n_sampled += len(idx)
            if len(pos):
                reg_t = self.coder.encode(gt[labels[pos]], anchors[pos])
                box_terms.append(F.smooth_l1_loss(dlt[b, pos], reg_t, beta=1 / 9, reduction="sum"))
        n = max(1, n_sampled)
        zero = obj.sum() * 0.0
        return {"rpn_objectness": sum(cls_terms, zero) / n, "rpn_box": sum(box_terms, zero) / n}
