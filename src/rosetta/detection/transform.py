"""Images -> normalised, resized, padded batch; boxes into and out of the resized frame.

The long side is resized to ``size`` (aspect kept); the batch is padded to a multiple of 32.
Rotated boxes scale isotropically, so their angle is unchanged.

>>> import torch
>>> t = DetectionTransform(size=64)
>>> batch, sizes, scales = t([torch.zeros(3, 100, 50)])
>>> tuple(batch.shape), sizes, scales
((1, 3, 64, 32), [(64, 32)], [0.64])
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from rosetta import detect_batch
from rosetta.detect_batch import MEAN, PAD_PIXEL, STD  # re-exported


class DetectionTransform:
    def __init__(self, size: int = 800, divisor: int = 32):
        self.size, self.divisor = size, divisor

    @staticmethod
    def working_size(h: int, w: int, size: int) -> tuple[int, int, float]:
        """(new height, new width, scale) of an (h, w) image whose long side becomes ``size``.

        >>> DetectionTransform.working_size(100, 50, 64)
        (64, 32, 0.64)
        """
        return detect_batch.working_size(h, w, size)

    def padded(self, sizes: list[tuple[int, int]]) -> tuple[int, int]:
        """The batch's (height, width): the largest image's, rounded up to a multiple of ``divisor``."""
        return detect_batch.padded(sizes, self.divisor)

    def __call__(self, images: list[torch.Tensor], size: int | None = None
                 ) -> tuple[torch.Tensor, list[tuple[int, int]], list[float]]:
        """``images``: (3, H, W) float tensors in [0, 1]. Returns (B, 3, H', W'), sizes (h, w) and scales."""
        size = size or self.size
        resized, sizes, scales = [], [], []
        for im in images:
            h, w = im.shape[-2:]
            nh, nw, scale = self.working_size(h, w, size)
            if (nh, nw) == (h, w):
                x = im  # already at the working size
            else:
                x = F.interpolate(im[None], size=(nh, nw), mode="bilinear", align_corners=False, antialias=size < max(h, w))[0]
            resized.append(x)
            sizes.append((nh, nw))
            scales.append(scale)
        mh, mw = self.padded(sizes)
        device = images[0].device
        batch = torch.zeros(len(images), 3, mh, mw, device=device)
        inv_std = (1.0 / torch.tensor(STD)).view(3, 1, 1).to(device)
        shift = (-torch.tensor(MEAN) / torch.tensor(STD)).view(3, 1, 1).to(device)
        for i, x in enumerate(resized):  # in place on the view: (x - mean) / std, padding stays 0
            batch[i, :, : x.shape[1], : x.shape[2]].copy_(x).mul_(inv_std).add_(shift)
        return batch, sizes, scales

    def patches(self, images: list[np.ndarray], size: int | None = None, k: int = 4
                ) -> tuple[torch.Tensor, list[tuple[int, int]], list[float]]:
        """The batch as raw pixel patches, uint8 (B, H/k, W/k, k*k*3), for a graph that folds the normalization
        into its first convolution (:func:`rosetta.detect_batch.patches`, the runtime's too).

        >>> b, sizes, scales = DetectionTransform(size=64).patches([np.full((100, 40, 3), 7, np.uint8)])
        >>> tuple(b.shape), b.dtype, sizes, b[0, 0, 0, :3].tolist(), b[0, 0, -1, -3:].tolist()
        ((1, 16, 8, 48), torch.uint8, [(64, 26)], [7, 7, 7], [124, 116, 104])
        """
        batch, sizes, scales = detect_batch.patches(images, size or self.size, k, self.divisor)
        return torch.from_numpy(batch), sizes, scales

    def from_uint8(self, images: list[np.ndarray], size: int | None = None
                   ) -> tuple[torch.Tensor, list[tuple[int, int]], list[float]]:
        """The same batch from RGB uint8 (H, W, 3) images, resized in uint8 by OpenCV (area averaging when
        shrinking, bilinear when enlarging) and normalised per channel in one pass: 3x cheaper than ``__call__``
        (:func:`rosetta.detect_batch.normalized`, the runtime's too).

        >>> b, sizes, scales = DetectionTransform(size=64)([torch.zeros(3, 100, 50)])
        >>> b2, sizes2, scales2 = DetectionTransform(size=64).from_uint8([np.zeros((100, 50, 3), np.uint8)])
        >>> tuple(b2.shape) == tuple(b.shape), sizes2 == sizes, scales2 == scales, bool(torch.allclose(b, b2))
        (True, True, True, True)
        """
        batch, sizes, scales = detect_batch.normalized(images, size or self.size, self.divisor)
        return torch.from_numpy(batch), sizes, scales


def scale_boxes(boxes: torch.Tensor, scale: float) -> torch.Tensor:
    """Scale (N, 5) rotated boxes' centre and size by ``scale`` (angle unchanged)."""
    out = boxes.clone()
    out[:, :4] *= scale
    return out
