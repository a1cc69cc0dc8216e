"""Long thin images (strips, banners, tickers) cut into overlapping tiles along their long side for detection.

Seen whole, a 10000 x 50 strip is shrunk to the detector's long-side cap and its text to a few pixels; seen as tiles
of about ``tile`` pixels, each at the detector's own scale, the words keep their size. A word cut by a tile's inner
edge is dropped there: it lies whole in the neighbouring tile as long as it is shorter than the overlap; words found
twice in an overlap are merged by rotated NMS.

>>> windows((50, 10000), tile=1280, overlap=400)[:3], len(windows((50, 10000), 1280, 400))
([(0, 1280), (872, 2152), (1744, 3024)], 11)
>>> windows((50, 900), tile=1280, overlap=400)
[(0, 900)]
"""

from __future__ import annotations

import numpy as np

from rosetta.boxes.nms import union
from rosetta.geometry import boxes_to_quads


def windows(shape: tuple[int, ...], tile: int, overlap: int) -> list[tuple[int, int]]:
    """(start, end) spans along the long side of an image of ``shape`` (H, W[, C]): equal tiles of ``tile`` px
    overlapping by at least ``overlap`` px, the last one ending at the image's end; one span when it fits."""
    long_side = max(shape[:2])
    if long_side <= tile:
        return [(0, long_side)]
    step = max(1, tile - overlap)
    n = int(np.ceil((long_side - tile) / step)) + 1
    starts = np.linspace(0, long_side - tile, n).round().astype(int)  # evenly spread: overlaps >= ``overlap``
    return [(int(s), int(s) + tile) for s in starts]


def needs_tiles(shape: tuple[int, ...], min_aspect: float, seen_scale: float, wanted_scale: float) -> bool:
    """Whether an image is a long strip (long / short side >= ``min_aspect``) that the detector would see at under
    half of the scale it was tuned for (``seen_scale`` vs ``wanted_scale``).

    >>> needs_tiles((50, 10000, 3), 4.0, 0.16, 1.25), needs_tiles((720, 1280, 3), 4.0, 1.25, 1.25)
    (True, False)
    """
    h, w = shape[:2]
    return max(h, w) >= min_aspect * max(1, min(h, w)) and seen_scale < 0.5 * wanted_scale


def cut(image: np.ndarray, spans: list[tuple[int, int]]) -> list[np.ndarray]:
    """The tiles of ``image`` (H, W, C) for ``spans`` along its long side."""
    wide = image.shape[1] >= image.shape[0]
    return [image[:, a:b] if wide else image[a:b] for a, b in spans]


def merge(shape: tuple[int, ...], spans: list[tuple[int, int]], dets: list[tuple[np.ndarray, np.ndarray]],
          iou: float = 0.3, edge: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Per-tile detections (boxes (N, 5) in tile pixels, scores (N,)) -> the image's (boxes, scores), best first.

    Boxes are moved into image pixels; a box reaching within ``edge`` px of an inner cut is dropped (it is whole in
    the next tile); duplicates from overlaps are removed by rotated NMS at ``iou``.

    >>> spans = [(0, 100), (60, 160)]
    >>> a = (np.array([[30., 10, 40, 12, 0], [90., 10, 20, 12, 0]], np.float32), np.array([.9, .8], np.float32))
    >>> b = (np.array([[35., 10, 30, 12, 0]], np.float32), np.array([.7], np.float32))
    >>> boxes, scores = merge((20, 160), spans, [a, b])
    >>> boxes[:, 0].tolist(), [round(float(v), 2) for v in scores]
    ([30.0, 95.0], [0.9, 0.7])
    """
    wide = shape[1] >= shape[0]
    long_side = max(shape[:2])
    kept = []
    for (a, b), (boxes, scores) in zip(spans, dets):
        if len(boxes) == 0:
            continue
        boxes = boxes.astype(np.float32).copy()
        boxes[:, 0 if wide else 1] += a
        quads = boxes_to_quads(boxes)  # (N, 4, 2)
        along = quads[..., 0 if wide else 1]
        keep = np.ones(len(boxes), bool)
        if a > 0:
            keep &= along.min(1) > a + edge
        if b < long_side:
            keep &= along.max(1) < b - edge
        kept.append((boxes[keep], scores[keep]))
    return union(kept, iou)


__all__ = ["windows", "needs_tiles", "cut", "merge"]
