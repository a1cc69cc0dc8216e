"""RGB uint8 images -> the detector's input batch, in NumPy and OpenCV (no PyTorch): shared by the PyTorch
model's transform (:class:`rosetta.detection.transform.DetectionTransform`) and the runtime
(:mod:`rosetta.runtime.detector`), so both see the same pixels.

The long side is resized to ``size`` (aspect kept, area averaging when shrinking, bilinear when enlarging);
the batch is padded to a multiple of 32.

>>> batch, sizes, scales = normalized([np.zeros((100, 50, 3), np.uint8)], 64)
>>> batch.shape, batch.dtype, sizes, scales
((1, 3, 64, 32), dtype('float32'), [(64, 32)], [0.64])
"""

from __future__ import annotations

import cv2
import numpy as np

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
PAD_PIXEL = tuple(round(255 * m) for m in MEAN)  # (124, 116, 104): the pixel closest to a normalized 0
DIVISOR = 32  # the batch's sides are multiples of this (the coarsest feature level's stride)


def working_size(h: int, w: int, size: int) -> tuple[int, int, float]:
    """(new height, new width, scale) of an (h, w) image whose long side becomes ``size``.

    >>> working_size(100, 50, 64)
    (64, 32, 0.64)
    """
    s = size / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    return nh, nw, (nh / h if h >= w else nw / w)


def padded(sizes: list[tuple[int, int]], divisor: int = DIVISOR) -> tuple[int, int]:
    """The batch's (height, width): the largest image's, rounded up to a multiple of ``divisor``.

    >>> padded([(64, 32), (50, 70)])
    (64, 96)
    """
    return tuple(int(-(-max(v) // divisor) * divisor) for v in zip(*sizes))


def resized(images: list[np.ndarray], size: int) -> tuple[list[np.ndarray], list[tuple[int, int]], list[float]]:
    """Each RGB uint8 image at long side ``size`` by OpenCV (area averaging when shrinking, bilinear when
    enlarging), with its (height, width) and scale."""
    out, sizes, scales = [], [], []
    for im in images:
        h, w = im.shape[:2]
        nh, nw, scale = working_size(h, w, size)
        if (nh, nw) != (h, w):
            im = cv2.resize(im, (nw, nh), interpolation=cv2.INTER_AREA if size < max(h, w) else cv2.INTER_LINEAR)
        out.append(im)
        sizes.append((nh, nw))
        scales.append(scale)
    return out, sizes, scales


def normalized(images: list[np.ndarray], size: int, divisor: int = DIVISOR
               ) -> tuple[np.ndarray, list[tuple[int, int]], list[float]]:
    """RGB uint8 (H, W, 3) images -> float32 (B, 3, H', W') normalized per channel (``(x / 255 - mean) / std``,
    padding 0), with each image's (height, width) at the working size and its scale."""
    images, sizes, scales = resized(images, size)
    mh, mw = padded(sizes, divisor)
    batch = np.empty((len(images), 3, mh, mw), np.float32)
    scale = [np.float32(1 / (255.0 * s)) for s in STD]  # x / 255 -> (x - mean) / std
    shift = [np.float32(-m / s) for m, s in zip(MEAN, STD)]
    for i, im in enumerate(images):  # NumPy per channel, into the batch: 2x cheaper than a permuted torch copy
        h, w = im.shape[:2]
        batch[i, :, h:], batch[i, :, :h, w:] = 0.0, 0.0  # padding: 0
        for c in range(3):
            out = batch[i, c, :h, :w]
            np.multiply(im[:, :, c], scale[c], out=out)  # (h, w) uint8 -> float32
            out += shift[c]
    return batch, sizes, scales


def patches(images: list[np.ndarray], size: int, k: int = 4, divisor: int = DIVISOR
            ) -> tuple[np.ndarray, list[tuple[int, int]], list[float]]:
    """The batch as raw pixel patches for a graph that folds the normalization into its first convolution:
    uint8 (B, H/k, W/k, k*k*3), each cell the k x k patch of pixels a ``patch4`` stem sees there
    (:func:`space_to_depth`). Resized as :func:`normalized`, padded with :data:`PAD_PIXEL` (the mean colour:
    what 0 is after normalization, to half a grey level).

    >>> b, sizes, scales = patches([np.full((100, 40, 3), 7, np.uint8)], 64)
    >>> b.shape, b.dtype, sizes, b[0, 0, 0, :3].tolist(), b[0, 0, -1, -3:].tolist()
    ((1, 16, 8, 48), dtype('uint8'), [(64, 26)], [7, 7, 7], [124, 116, 104])
    """
    images, sizes, scales = resized(images, size)
    mh, mw = padded(sizes, divisor)
    out = [cv2.copyMakeBorder(im, 0, mh - im.shape[0], 0, mw - im.shape[1], cv2.BORDER_CONSTANT, value=PAD_PIXEL)
           for im in images]  # one SIMD pass each: (mh, mw, 3)
    batch = out[0][None] if len(out) == 1 else np.stack(out)  # (B, mh, mw, 3)
    return space_to_depth(batch, k), sizes, scales  # -> (B, mh/k, mw/k, k*k*3)


def space_to_depth(pixels: np.ndarray, k: int = 4) -> np.ndarray:
    """(B, H, W, C) -> (B, H/k, W/k, k*k*C): each k x k patch's values in (row, column, channel) order,
    what a k x k stride-k convolution sees at one output cell (H, W multiples of k).

    >>> x = np.arange(2 * 4 * 3).reshape(1, 2, 4, 3)
    >>> space_to_depth(x, 2)[0, 0, 1].tolist()   # the patch at rows 0-1, columns 2-3
    [6, 7, 8, 9, 10, 11, 18, 19, 20, 21, 22, 23]
    """
    b, h, w, c = pixels.shape
    run = np.ascontiguousarray(pixels).reshape(b, h, w * c).view(f"V{k * c * pixels.itemsize}")  # (B, H, W/k)
    cells = run.reshape(b, h // k, k, w // k).transpose(0, 1, 3, 2)  # (B, H/k, ky, W/k) -> (B, H/k, W/k, ky)
    # one k*C run of bytes per element: a copy of whole patch rows, ~1.5x faster than k copies of (.., k, C) slices
    return np.ascontiguousarray(cells).view(pixels.dtype).reshape(b, h // k, w // k, k * k * c)


__all__ = ["MEAN", "STD", "PAD_PIXEL", "DIVISOR", "working_size", "padded", "resized", "normalized", "patches",
           "space_to_depth"]
