"""Second stage: rotated RoI align on each proposal, then text/background score and box refinement.

Each RoI is sampled along its own reading direction into a (6, 24) grid (text is wide), from the
feature level that suits its height, so a tilted word is read as an upright strip.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from rosetta.detection.box_coder import RotatedBoxCoder
from rosetta.detection.matching import Matcher, balanced_sample, mark_ignored
from rosetta.ops.rotated import batched_rotated_nms, multilevel_roi_align


@dataclass(frozen=True)
class RoIConfig:
    output_size: tuple[int, int] = (6, 24)
    sampling_ratio: int = 1  # bilinear samples per bin side: 1 is 4x cheaper than 2 and the bins are small
    batch_per_image: int = 128
    pos_fraction: float = 0.25
    pos_thresh: float = 0.5
    neg_thresh: float = 0.5
    score_thresh: float = 0.5
    nms_thresh: float = 0.3
    max_detections: int = 300
    level_heights: tuple[float, ...] = (40.0, 160.0)  # RoIs taller than these use the next level
    refine_steps: int = 0  # inference: the head reads its kept boxes again this many times, moving them each time


class RoIBoxHead(nn.Module):
    def __init__(self, channels: int, output_size: tuple[int, int], hidden: int = 256, reduced: int = 32):
        super().__init__()
        oh, ow = output_size
        self.reduce = nn.Sequential(nn.Conv2d(channels, reduced, 1), nn.ReLU(inplace=True))
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(reduced * oh * ow, hidden), nn.ReLU(inplace=True),
                                nn.Linear(hidden, hidden), nn.ReLU(inplace=True))
        self.cls = nn.Linear(hidden, 1)
        self.reg = nn.Linear(hidden, 5)
        nn.init.normal_(self.cls.weight, std=0.01)
        nn.init.normal_(self.reg.weight, std=0.001)
        nn.init.zeros_(self.cls.bias)
        nn.init.zeros_(self.reg.bias)

    def reduce_map(self, f: torch.Tensor) -> torch.Tensor:
        """``reduce``'s convolution without its bias on a whole feature map, (B, C, H, W) -> (B, 32, H, W):
        what the exported graph hands over; RoIs sampled from it go through ``forward(x, reduced=True)``."""
        return F.conv2d(f, self.reduce[0].weight)

    def forward(self, x: torch.Tensor, reduced: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """(K, C, oh, ow) RoI features -> (K,) logits, (K, 5) deltas. ``reduced``: ``x`` was sampled from
        maps that already went through ``reduce``'s convolution without its bias (an exported graph did it;
        the two commute with the sampling), so only the bias and the ReLU are left."""
        if reduced:
            x = torch.relu(x + self.reduce[0].bias.view(1, -1, 1, 1))  # (K, 32, oh, ow)
        else:
            x = self.reduce(x)  # (K, C, oh, ow) -> (K, 32, oh, ow)
        h = self.fc(x)  # -> (K, hidden)
        return self.cls(h).squeeze(1), self.reg(h)


class RotatedRoIHeads(nn.Module):
    def __init__(self, head: RoIBoxHead, strides: tuple[int, ...], config: RoIConfig = RoIConfig()):
        super().__init__()
        self.head, self.strides, self.cfg = head, strides, config
        self.coder = RotatedBoxCoder(weights=(10.0, 10.0, 5.0, 5.0, 2.0))
        self.matcher = Matcher(config.pos_thresh, config.neg_thresh, allow_low_quality=False)

    def pool(self, feats: list[torch.Tensor], boxes: list[torch.Tensor]) -> torch.Tensor:
        """Rotated RoI align of every image's boxes, each from its level: (sum K, C, oh, ow)."""
        rois = torch.cat([torch.cat([torch.full((len(b), 1), float(i), device=b.device), b], 1) for i, b in enumerate(boxes)])
        level = torch.zeros(len(rois), dtype=torch.long, device=rois.device)
        for th in self.cfg.level_heights:
            level += (rois[:, 4] > th).long()
        level = level.clamp(max=len(feats) - 1)
        return multilevel_roi_align(feats, rois, level, self.cfg.output_size, [1.0 / s for s in self.strides[:len(feats)]],
                                    self.cfg.sampling_ratio)

    def forward(self, feats: list[torch.Tensor], proposals: list[torch.Tensor], image_sizes: list[tuple[int, int]],
                targets: list[dict[str, torch.Tensor]] | None = None, score_thresh: float | None = None,
                reduced: bool = False, max_detections: int | None = None):
        """``score_thresh`` (inference): boxes scored below it are dropped before NMS, when it is below the
        configured one (a lower-scored box never suppresses a higher one, so the caller can filter the rest
        afterwards at any higher threshold and get exactly what NMS would have kept). ``reduced``: ``feats``
        already went through the head's 1x1 reduction (see :meth:`RoIBoxHead.forward`)."""
        c = self.cfg
        if targets is not None:
            proposals, labels, reg_targets = self._sample(proposals, targets)
        x = self.pool(feats, proposals)
        logits, deltas = self.head(x, reduced)
        if targets is not None:
            lab = torch.cat(labels)
            cls_loss = F.binary_cross_entropy_with_logits(logits, (lab >= 0).float(), reduction="mean") if len(lab) else logits.sum() * 0
            pos = lab >= 0
            if pos.any():
                box_loss = F.smooth_l1_loss(deltas[pos], torch.cat(reg_targets)[pos], beta=1 / 9, reduction="sum") / max(1, len(lab))
            else:
                box_loss = deltas.sum() * 0.0
            return [], {"roi_cls": cls_loss, "roi_box": box_loss}
        thresh = c.score_thresh if score_thresh is None else min(c.score_thresh, score_thresh)
        kept: list[tuple[torch.Tensor, torch.Tensor]] = []  # per image: boxes (K, 5), scores (K,) over thresh
        start = 0
        for props in proposals:
            n = len(props)
            sc = torch.sigmoid(logits[start:start + n])
            bx = self.coder.decode(deltas[start:start + n], props) if n else props
            start += n
            keep = sc >= thresh
            kept.append((bx[keep], sc[keep]))
        for _ in range(c.refine_steps):
            kept = self._refine(feats, kept, reduced)
        results = []
        for bx, sc in kept:
            keep = batched_rotated_nms(bx, sc, torch.zeros(len(sc), dtype=torch.long, device=sc.device), c.nms_thresh,
                                       max_detections or c.max_detections)
            results.append({"boxes": bx[keep], "scores": sc[keep]})
        return results, {}

    def _refine(self, feats: list[torch.Tensor], kept: list[tuple[torch.Tensor, torch.Tensor]],
                reduced: bool) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """One more pass of the head over its own boxes: each box moves by the deltas the head reads at its
        new place; scores stay the first pass's (so the threshold and NMS's order are unchanged)."""
        boxes = [bx for bx, _ in kept]
        if not sum(len(b) for b in boxes):
            return kept
        _, deltas = self.head(self.pool(feats, boxes), reduced)  # (sum K, 5)
        out, start = [], 0
        for bx, sc in kept:
            n = len(bx)
            out.append((self.coder.decode(deltas[start:start + n], bx) if n else bx, sc))
            start += n
        return out

    @torch.no_grad()
    def _sample(self, proposals, targets):
        c = self.cfg
        out_p, out_l, out_t = [], [], []
        for props, t in zip(proposals, targets):
            gt = t["boxes"]
            ign = t.get("ignore_boxes", gt.new_zeros(0, 5))
            props = torch.cat([props, gt]) if len(gt) else props  # the ground truth helps early on
            labels = self.matcher(self.matcher.iou(props, gt))
            labels = mark_ignored(labels, props, ign)
            pos, neg = balanced_sample(labels, c.batch_per_image, c.pos_fraction)
            idx = torch.cat([pos, neg])
            p, lab = props[idx], labels[idx]
            reg = props.new_zeros(len(idx), 5)
            if len(pos):
                reg[: len(pos)] = self.coder.encode(gt[lab[: len(pos)]], p[: len(pos)])
            out_p.append(p)
            out_l.append(lab)
            out_t.append(reg)
        return out_p, out_l, out_t
