"""Crops -> recognizer input: grayscale, height 32 with the aspect ratio kept, zero-padded batches (NumPy only).

>>> import numpy as np
>>> x = to_input(np.full((20, 50, 3), 255, np.uint8))
>>> x.shape, float(x.max())
((32, 80), 1.0)
>>> batch, widths = pad_batch([x, to_input(np.zeros((10, 10), np.uint8))])
>>> batch.shape, batch.dtype, widths.tolist()
((2, 1, 32, 80), dtype('float32'), [80, 32])
>>> output_lengths(widths).tolist()
[20, 8]
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

HEIGHT = 32  # the recognizer's input height (rosetta.recognition.model.HEIGHT, checked equal in the tests)
MIN_WIDTH = 8
MAX_WIDTH = 1600  # ~100 characters; wider crops are squeezed


def to_gray(img: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, 1), (H, W, 3) or (H, W, 4) uint8 -> (H, W) uint8 (an empty crop stays empty)."""
    if img.size == 0:
        return np.zeros((0, 0), np.uint8)
    if img.ndim == 3:
        if img.shape[2] == 1:
            img = img[..., 0]
        elif img.shape[2] == 4:
            img = cv2.cvtColor(img, cv2.COLOR_RGBA2GRAY)
        else:
            img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    return img


def target_width(h: int, w: int) -> int:
    return int(min(MAX_WIDTH, max(MIN_WIDTH, round(w * HEIGHT / max(1, h)))))


def to_input(img: np.ndarray) -> np.ndarray:
    """One crop -> (32, W) float32 in [-1, 1]. Degenerate crops (0 or 1 px) still give a valid input."""
    g = to_gray(np.asarray(img))
    if g.size == 0:
        g = np.zeros((HEIGHT, MIN_WIDTH), np.uint8)
    h, w = g.shape
    tw = target_width(h, w)
    interp = cv2.INTER_AREA if h > HEIGHT else cv2.INTER_LINEAR
    g = cv2.resize(g, (tw, HEIGHT), interpolation=interp)
    return g.astype(np.float32) * (2.0 / 255.0) - 1.0


def pad_batch(inputs: Sequence[np.ndarray], multiple: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Stack (32, W_i) inputs into (B, 1, 32, W_max) float32 with zero padding on the right.

    Returns the batch and the true widths (B,) int64, so the CTC input lengths ignore the padding."""
    widths = [x.shape[1] for x in inputs]
    wmax = max(widths) if widths else MIN_WIDTH
    wmax = int(np.ceil(wmax / multiple) * multiple)
    out = np.zeros((len(inputs), 1, HEIGHT, wmax), np.float32)
    for i, x in enumerate(inputs):
        out[i, 0, :, : x.shape[1]] = x
    return out, np.asarray(widths, dtype=np.int64)


def output_lengths(widths: np.ndarray) -> np.ndarray:
    """Number of valid output columns for crops of the given pixel widths (stride 4, 'same' pads): the NumPy
    twin of :func:`rosetta.recognition.model.output_lengths` (checked equal in the tests).

    >>> output_lengths(np.array([1, 4, 5, 64])).tolist()
    [1, 1, 2, 16]
    """
    w = (np.asarray(widths, dtype=np.int64) + 1) // 2  # stem: k3 s2 p1
    return (w + 1) // 2  # stage1: k3 s2 p1


def width_batches(widths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar width (sorted), to waste little padding."""
    order = sorted(range(len(widths)), key=lambda i: widths[i])
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


__all__ = ["HEIGHT", "MIN_WIDTH", "MAX_WIDTH", "to_gray", "target_width", "to_input", "pad_batch", "output_lengths",
           "width_batches"]
