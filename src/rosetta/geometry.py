"""Rotated boxes and quadrilaterals: the one place that defines the angle convention.

Convention (used everywhere in Rosetta):

* Pixel coordinates, x to the right, y down, origin at the top-left corner of the image.
* A rotated box is ``(cx, cy, w, h, angle)``: ``w`` is the extent along the reading direction,
  ``h`` across it, ``angle`` in degrees, counter-clockwise as seen on screen, in ``(-180, 180]``.
  The reading direction is the unit vector ``(cos a, -sin a)``; ``angle = 0`` is horizontal text.
* A quad is 4 points ``[[x, y] x 4]`` clockwise on screen, starting at the word's top-left as read:
  top-left, top-right, bottom-right, bottom-left.

>>> import numpy as np
>>> box_to_quad((10.0, 5.0, 8.0, 2.0, 0.0)).tolist()
[[6.0, 4.0], [14.0, 4.0], [14.0, 6.0], [6.0, 6.0]]
>>> np.round(quad_to_box(box_to_quad((10, 5, 8, 2, 30))), 6).tolist()
[10.0, 5.0, 8.0, 2.0, 30.0]
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

Box = Sequence[float]  # (cx, cy, w, h, angle_degrees)


def normalize_angle(angle: float) -> float:
    """Map an angle in degrees into ``(-180, 180]``.

    >>> normalize_angle(190.0), normalize_angle(-180.0)
    (-170.0, 180.0)
    """
    a = math.fmod(angle, 360.0)
    if a <= -180.0:
        a += 360.0
    elif a > 180.0:
        a -= 360.0
    return a


def box_to_quad(box: Box) -> np.ndarray:
    """Rotated box -> (4, 2) float array of corners TL, TR, BR, BL (clockwise on screen)."""
    cx, cy, w, h, angle = (float(v) for v in box)
    t = math.radians(angle)
    ux, uy = math.cos(t), -math.sin(t)  # reading direction
    vx, vy = -uy, ux  # "down" direction of the text (90 degrees clockwise on screen)
    hw, hh = w / 2.0, h / 2.0
    pts = [
        (cx - hw * ux - hh * vx, cy - hw * uy - hh * vy),
        (cx + hw * ux - hh * vx, cy + hw * uy - hh * vy),
        (cx + hw * ux + hh * vx, cy + hw * uy + hh * vy),
        (cx - hw * ux + hh * vx, cy - hw * uy + hh * vy),
    ]
    return np.asarray(pts, dtype=np.float64)


def boxes_to_quads(boxes: np.ndarray) -> np.ndarray:
    """Vectorised :func:`box_to_quad`: (N, 5) -> (N, 4, 2)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 5)
    cx, cy, w, h, a = boxes.T
    t = np.radians(a)
    ux, uy = np.cos(t), -np.sin(t)
    vx, vy = -uy, ux
    hw, hh = w / 2, h / 2
    corners = [(-1, -1), (1, -1), (1, 1), (-1, 1)]  # (sign along u, sign along v)
    pts = [np.stack([cx + su * hw * ux + sv * hh * vx, cy + su * hw * uy + sv * hh * vy], -1) for su, sv in corners]
    return np.stack(pts, 1)  # (N, 4, 2)


def quad_to_box(quad: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """Fit a rotated box to a quad given as TL, TR, BR, BL (reading order is kept).

    The angle follows the top and bottom edges (the reading direction); width and height are the
    extents of the quad along and across that direction, so an exact rectangle round-trips.
    """
    q = np.asarray(quad, dtype=np.float64).reshape(4, 2)
    top = q[1] - q[0]
    bottom = q[2] - q[3]
    d = top + bottom
    if np.hypot(*d) < 1e-9:
        d = np.array([1.0, 0.0])
    u = d / np.hypot(*d)
    v = np.array([-u[1], u[0]])
    pu, pv = q @ u, q @ v
    w, h = pu.max() - pu.min(), pv.max() - pv.min()
    cu, cv = (pu.max() + pu.min()) / 2, (pv.max() + pv.min()) / 2
    c = cu * u + cv * v
    angle = normalize_angle(math.degrees(math.atan2(-u[1], u[0])))
    return np.array([c[0], c[1], w, h, angle])


def min_area_box(points: np.ndarray) -> np.ndarray:
    """Tightest rotated box around a point set (rotating calipers on the convex hull).

    The box's reading direction is the hull edge direction closest to horizontal, so the
    result has ``angle`` in ``(-90, 90]`` and a caller that knows the true reading direction
    should re-orient it (see :func:`orient_box`).
    """
    import cv2

    pts = np.asarray(points, dtype=np.float32).reshape(-1, 2)
    (cx, cy), (w, h), a = cv2.minAreaRect(pts)
    # cv2 angle is clockwise on screen for the side of length w; convert to our CCW convention.
    box = np.array([cx, cy, w, h, -a], dtype=np.float64)
    return orient_box(box, 0.0)


def orient_box(box: Box, reading_angle: float) -> np.ndarray:
    """Re-express a rotated box so its reading direction is the one nearest ``reading_angle``.

    A rectangle has four equivalent descriptions (angle + k*90 with w/h swapped on odd k);
    pick the one whose angle is closest to ``reading_angle``.
    """
    cx, cy, w, h, a = (float(v) for v in box)
    best = None
    for k in range(4):
        ak = normalize_angle(a + 90.0 * k)
        wk, hk = (w, h) if k % 2 == 0 else (h, w)
        diff = abs(normalize_angle(ak - reading_angle))
        if best is None or diff < best[0]:
            best = (diff, np.array([cx, cy, wk, hk, ak]))
    return best[1]


def quad_area(quad: np.ndarray) -> float:
    """Signed-area magnitude of a polygon (shoelace)."""
    q = np.asarray(quad, dtype=np.float64).reshape(-1, 2)
    x, y = q[:, 0], q[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def rotated_crop(image: np.ndarray, box: Box, margin: float | tuple[float, float] = 0.1) -> np.ndarray:
    """Cut a rotated box out of an image, turned upright (reading direction to the right).

    ``margin`` adds that fraction of the box height on every side (context for the recognizer); a pair
    ``(along, across)`` sets the ends' and the top and bottom's apart.
    The crop keeps the image's resolution; pixels outside the image repeat the border.

    >>> img = np.zeros((50, 100, 3), np.uint8)
    >>> rotated_crop(img, (50, 25, 40, 10, 90), margin=0.0).shape
    (10, 40, 3)
    >>> rotated_crop(img, (50, 25, 40, 10, 0), margin=(0.5, 0.1)).shape
    (12, 50, 3)
    """
    import cv2

    cx, cy, w, h, a = (float(v) for v in box)
    along, across = (margin, margin) if isinstance(margin, (int, float)) else margin
    w, h = w + 2 * along * h, h * (1 + 2 * across)
    ow, oh = max(1, int(round(w))), max(1, int(round(h)))
    q = box_to_quad((cx, cy, w, h, a))
    src = np.float32([q[0], q[1], q[3]])  # TL, TR, BL
    dst = np.float32([[0, 0], [ow, 0], [0, oh]])
    m = cv2.getAffineTransform(src, dst)
    return cv2.warpAffine(image, m, (ow, oh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
