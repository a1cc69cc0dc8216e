"""Rotated Faster R-CNN: ShuffleNetV2 trunk + top-down neck + rotated RPN + rotated RoI heads.

``forward(images, targets=None)``: named losses in training; in eval, per image
``{"boxes": (N, 5) rotated boxes in the input image's pixels, "scores": (N,)}``.

>>> import torch
>>> m = RotatedFasterRCNN.build(DetectorConfig()).eval()
>>> out = m([torch.rand(3, 120, 200)])
>>> sorted(out[0]), out[0]["boxes"].shape[1]
(['boxes', 'scores'], 5)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from rosetta.backbones.shufflenet import ShuffleNetV2
from rosetta.detection.anchors import AnchorGenerator
from rosetta.detection.factorized import conv3x3
from rosetta.detection.roi_heads import RoIBoxHead, RoIConfig, RotatedRoIHeads
from rosetta.detection.rpn import RotatedRPN, RPNConfig, RPNHead
from rosetta.detection.transform import DetectionTransform, scale_boxes

STRIDES = (8, 16, 32)


@dataclass(frozen=True)
class DetectorConfig:
    width: float = 0.5  # ShuffleNetV2 width multiplier
    stem: str = "pool"  # the trunk's stride-4 stem (rosetta.backbones.shufflenet.STEMS)
    neck_channels: int = 64
    # the neck's and RPN head's 3x3 convolutions as 3x1 then 1x3 pairs through this many channels
    # (rosetta.detection.factorized; 0: full 3x3)
    factor_rank: int = 0
    size: int = 800  # long side at inference
    anchors: AnchorGenerator = field(default_factory=lambda: AnchorGenerator(
        heights=((12.0, 24.0), (48.0, 96.0), (192.0, 384.0))))
    rpn: RPNConfig = field(default_factory=RPNConfig)
    roi: RoIConfig = field(default_factory=RoIConfig)

    @classmethod
    def from_arch(cls, arch: dict | None) -> "DetectorConfig":
        """The architecture recorded as ``model_config`` in a checkpoint or a model card.

        >>> DetectorConfig.from_arch({"width": 0.5, "stem": "patch4"}).stem, DetectorConfig.from_arch(None).stem
        ('patch4', 'pool')
        >>> DetectorConfig.from_arch({"factor_rank": 48}).factor_rank
        48
        """
        arch = arch or {}
        return cls(width=float(arch.get("width", 0.5)), stem=str(arch.get("stem", "pool")),
                   factor_rank=int(arch.get("factor_rank", 0)))

    def arch(self) -> dict:
        """What :meth:`from_arch` reads back (``model_config`` of checkpoints and cards); the rank only when set,
        so full detectors' records stay as they were.

        >>> DetectorConfig(stem="patch4").arch(), DetectorConfig(factor_rank=32).arch()["factor_rank"]
        ({'width': 0.5, 'stem': 'patch4'}, 32)
        """
        return {"width": self.width, "stem": self.stem, **({"factor_rank": self.factor_rank} if self.factor_rank else {})}


class TopDownNeck(nn.Module):
    """FPN-style fusion: lateral 1x1 convs, upsample-and-add from coarse to fine, 3x3 smoothing."""

    def __init__(self, in_channels: tuple[int, ...], channels: int, rank: int = 0):
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(c, channels, 1) for c in in_channels)
        self.smooth = nn.ModuleList(nn.Sequential(conv3x3(channels, channels, rank), nn.ReLU(inplace=True))
                                    for _ in in_channels)
        self.add = nn.ModuleList(torch.ao.nn.quantized.FloatFunctional() for _ in in_channels)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        lat = [l(f) for l, f in zip(self.lateral, feats)]
        out = [lat[-1]]
        for i in range(len(lat) - 2, -1, -1):
            up = F.interpolate(out[0], size=lat[i].shape[-2:], mode="nearest")
            out.insert(0, self.add[i].add(lat[i], up))
        return [s(o) for s, o in zip(self.smooth, out)]


class RotatedFasterRCNN(nn.Module):
    def __init__(self, trunk: nn.Module, neck: nn.Module, rpn: RotatedRPN, roi_heads: RotatedRoIHeads,
                 transform: DetectionTransform, config: DetectorConfig):
        super().__init__()
        self.trunk, self.neck, self.rpn, self.roi_heads = trunk, neck, rpn, roi_heads
        self.transform, self.config = transform, config
        # optional (B, 3, H, W) -> ([features], (RPN logits, RPN deltas)) callable (ONNX Runtime at inference)
        self.features_engine = None
        # the RoI head reads maps already through its 1x1 reduction, as from the exported graph (the same
        # function in float; quantization-aware training turns it on to see that graph's rounding)
        self.reduce_maps_for_roi = False

    @classmethod
    def build(cls, config: DetectorConfig = DetectorConfig()) -> "RotatedFasterRCNN":
        trunk = ShuffleNetV2(config.width, config.stem)
        neck = TopDownNeck(trunk.channels, config.neck_channels, config.factor_rank)
        rpn = RotatedRPN(RPNHead(config.neck_channels, config.anchors.per_cell(0), config.factor_rank), config.anchors,
                         STRIDES, config.rpn)
        roi = RotatedRoIHeads(RoIBoxHead(config.neck_channels, config.roi.output_size), STRIDES, config.roi)
        return cls(trunk, neck, rpn, roi, DetectionTransform(config.size), config)

    def features(self, batch: torch.Tensor) -> list[torch.Tensor]:
        return self.neck(self.trunk(batch))

    def forward(self, images: list[torch.Tensor], targets: list[dict[str, torch.Tensor]] | None = None,
                size: int | None = None):
        """``images``: (3, H, W) floats in [0, 1]. ``targets`` (training): per image ``boxes`` (G, 5) and
        optional ``ignore_boxes`` (I, 5), in the image's own pixels."""
        batch, sizes, scales = self.transform(images, size)
        if targets is None:
            return self.detect(batch, sizes, scales)
        feats = self.features(batch)
        targets = [{k: scale_boxes(v, s) for k, v in t.items()} for t, s in zip(targets, scales)]
        proposals, rpn_losses = self.rpn(feats, sizes, targets)
        roi_feats, reduced = self._roi_inputs(feats)
        _, roi_losses = self.roi_heads(roi_feats, [p[0] for p in proposals], sizes, targets, reduced=reduced)
        return {**rpn_losses, **roi_losses}

    def _roi_inputs(self, feats: list[torch.Tensor]) -> tuple[list[torch.Tensor], bool]:
        """The maps the RoI head samples, and whether they went through its reduction already."""
        if self.reduce_maps_for_roi:
            return [self.roi_heads.head.reduce_map(f) for f in feats], True  # (B, 64, H, W) -> (B, 32, H, W)
        return feats, False

    def detect(self, batch: torch.Tensor, sizes: list[tuple[int, int]], scales: list[float],
               score_thresh: float | None = None, limits: tuple[int, int, int] | None = None
               ) -> list[dict[str, torch.Tensor]]:
        """Inference on a batch the transform made: per image ``boxes`` (N, 5) in the original image's
        pixels and ``scores`` (N,); ``score_thresh`` lowers the RoI head's own threshold (see there).
        ``limits``: (RPN anchors per level, proposals, words) for this call instead of the configs'."""
        reduced = False
        if self.features_engine is not None and not self.training:
            feats, head_out = self.features_engine(batch)
            reduced = getattr(self.features_engine, "roi_reduced", False)  # maps through the RoI head's 1x1 conv
        else:
            feats, head_out = self.features(batch), None
        proposals, _ = self.rpn(feats, sizes, None, head_out, limits[:2] if limits else None)
        if not reduced:
            feats, reduced = self._roi_inputs(feats)
        results, _ = self.roi_heads(feats, [p[0] for p in proposals], sizes, None, score_thresh, reduced,
                                    limits[2] if limits else None)
        for r, s in zip(results, scales):
            r["boxes"] = scale_boxes(r["boxes"], 1.0 / s)
        return results
