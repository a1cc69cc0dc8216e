"""Detector predictor: RGB images (any size) -> rotated word boxes in the image's pixels, with scores.

Owns conversion to tensors, the inference size, thresholds and the empty/tiny-image cases; the
model (:class:`RotatedFasterRCNN`) sees tensors only.

>>> det = Detector.load()                                    # doctest: +SKIP
>>> boxes, scores = det([np.zeros((720, 1280, 3), np.uint8)])[0]   # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from rosetta.detection.model import DetectorConfig, RotatedFasterRCNN
from rosetta.models import load_weights

MIN_SIDE = 8  # images smaller than this hold no legible word


@dataclass(frozen=True)
class DetectConfig:
    size: int = 1280  # long side the image is resized to (scene photos: about native resolution)
    score_thresh: float = 0.5  # minimum word score kept
    min_box_height: float = 3.0  # px in the original image


class Detector:
    def __init__(self, model: RotatedFasterRCNN, config: DetectConfig = DetectConfig(), meta: dict | None = None):
        self.model, self.config, self.meta = model.eval(), config, dict(meta or {})

    @classmethod
    def load(cls, folder: Path | None = None, **kwargs) -> "Detector":
        state, meta = load_weights("detector", folder)
        width = float((meta.get("model_config") or {}).get("width", 0.5))
        model = RotatedFasterRCNN.build(DetectorConfig(width=width))
        model.load_state_dict(state)
        return cls(model, meta=meta, **kwargs)

    def with_config(self, **changes) -> "Detector":
        return Detector(self.model, replace(self.config, **changes), self.meta)

    @torch.inference_mode()
    def __call__(self, images: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """RGB uint8 (H, W, 3) images -> per image (boxes (N, 5) float32, scores (N,)), best first."""
        out: list[tuple[np.ndarray, np.ndarray]] = []
        for im in images:
            h, w = im.shape[:2]
            if min(h, w) < MIN_SIDE:
                out.append((np.zeros((0, 5), np.float32), np.zeros(0, np.float32)))
                continue
            x = torch.from_numpy(np.array(im, copy=True)).permute(2, 0, 1).float().div_(255.0)  # (H, W, 3) -> (3, H, W)
            r = self.model([x], size=self.config.size)[0]
            boxes, scores = r["boxes"].numpy().astype(np.float32), r["scores"].numpy().astype(np.float32)
            keep = (scores >= self.config.score_thresh) & (boxes[:, 3] >= self.config.min_box_height)
            out.append((boxes[keep], scores[keep]))
        return out


__all__ = ["Detector", "DetectConfig"]
