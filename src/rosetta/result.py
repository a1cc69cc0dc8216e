"""The one result tree: RotatedBox -> Word -> Line -> Result, frozen, with lossless to_dict/from_dict.

Every output format (JSON, text, TSV, hOCR, ALTO, HTTP, batch rows) is derived from a Result.
Boxes are in absolute pixels of the (EXIF-oriented) input image; the angle convention is the one
of :mod:`rosetta.geometry` (degrees, counter-clockwise on screen, 0 = horizontal text).

>>> w = Word("Hi", 0.9, 0.8, RotatedBox(20, 10, 30, 12, 0))
>>> r = Result.build(100, 50, [w])
>>> r.text, len(r.lines), Result.from_dict(r.to_dict()) == r
('Hi', 1, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

from rosetta.charset import is_rtl_text
from rosetta.geometry import box_to_quad

SCHEMA = "rosetta.result/1"


@dataclass(frozen=True)
class RotatedBox:
    """``(cx, cy, w, h, angle)``: centre, extent along / across the reading direction, degrees CCW."""

    cx: float
    cy: float
    w: float
    h: float
    angle: float

    def polygon(self) -> list[list[float]]:
        """Corners TL, TR, BR, BL (clockwise on screen), as read."""
        return [[round(float(x), 2), round(float(y), 2)] for x, y in box_to_quad(self.as_tuple())]

    def bounds(self) -> tuple[int, int, int, int]:
        """Enclosing axis-aligned rectangle (left, top, right, bottom), integer pixels."""
        q = box_to_quad(self.as_tuple())
        return (int(math.floor(q[:, 0].min())), int(math.floor(q[:, 1].min())),
                int(math.ceil(q[:, 0].max())), int(math.ceil(q[:, 1].max())))

    def as_tuple(self) -> tuple[float, float, float, float, float]:
        return (self.cx, self.cy, self.w, self.h, self.angle)

    def to_list(self) -> list[float]:
        return [round(float(v), 3) for v in self.as_tuple()]

    @classmethod
    def from_list(cls, v: Sequence[float]) -> "RotatedBox":
        return cls(*(float(x) for x in v))


@dataclass(frozen=True)
class Word:
    text: str  # logical (reading) order, also for right-to-left scripts
    confidence: float  # recognizer's confidence in the text, 0..1
    score: float  # detector's confidence that this is a word, 0..1
    box: RotatedBox

    @property
    def rtl(self) -> bool:
        return is_rtl_text(self.text)

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "confidence": round(float(self.confidence), 4), "score": round(float(self.score), 4),
                "box": self.box.to_list(), "points": self.box.polygon()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Word":
        return cls(d["text"], float(d["confidence"]), float(d["score"]), RotatedBox.from_list(d["box"]))

    def rounded(self) -> "Word":
        """The word as it survives serialisation (floats rounded as in :meth:`to_dict`)."""
        return Word.from_dict(self.to_dict())


@dataclass(frozen=True)
class Line:
    words: tuple[Word, ...]  # in reading order (right to left for Arabic lines)

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words if w.text)

    @property
    def rtl(self) -> bool:
        return is_rtl_text(self.text)

    @property
    def angle(self) -> float:
        return self.words[0].box.angle if self.words else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "rtl": self.rtl, "words": [w.to_dict() for w in self.words]}


@dataclass(frozen=True)
class Result:
    width: int
    height: int
    lines: tuple[Line, ...] = ()
    image: str | None = None  # the input's name, as given
    error: str | None = None  # why this input could not be read (batch APIs); None when fine
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)  # timings, model versions

    @classmethod
    def build(cls, width: int, height: int, words: Sequence[Word], image: str | None = None,
              meta: dict[str, Any] | None = None) -> "Result":
        """Group words into lines in reading order and wrap them in a Result."""
        words = [w.rounded() for w in words]
        return cls(int(width), int(height), tuple(group_lines(words)), image, None, dict(meta or {}))

    @classmethod
    def failed(cls, image: str | None, error: str) -> "Result":
        """The result for an input that could not be read: no words, the reason in ``error``."""
        return cls(0, 0, (), image, error)

    @property
    def words(self) -> tuple[Word, ...]:
        return tuple(w for line in self.lines for w in line.words)

    def resized(self, width: int, height: int) -> "Result":
        """The same words for the image at ``width`` x ``height`` (read reduced, answered in the upload's pixels).

        >>> r = Result.build(100, 50, [Word("Hi", 0.9, 0.8, RotatedBox(20, 10, 30, 12, 5))])
        >>> r.resized(400, 200).words[0].box
        RotatedBox(cx=80.0, cy=40.0, w=120.0, h=48.0, angle=5.0)
        """
        fx, fy = width / max(1, self.width), height / max(1, self.height)
        f = math.sqrt(fx * fy)  # the two differ by rounding only: reduced images keep their aspect

        def scaled(w: Word) -> Word:
            b = w.box
            return Word(w.text, w.confidence, w.score, RotatedBox(b.cx * fx, b.cy * fy, b.w * f, b.h * f, b.angle))

        lines = tuple(Line(tuple(scaled(w).rounded() for w in ln.words)) for ln in self.lines)
        return Result(int(width), int(height), lines, self.image, self.error, dict(self.meta))

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "image": self.image, "width": self.width, "height": self.height,
                "error": self.error, "text": self.text, "words": [w.to_dict() for w in self.words],
                "lines": [{"text": ln.text, "rtl": ln.rtl, "words": list(range(i, i + len(ln.words)))}
                          for i, ln in zip(_starts(self.lines), self.lines)],
                "meta": self.meta}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Result":
        if d.get("schema") != SCHEMA:
            raise ValueError(f"unsupported result schema {d.get('schema')!r} (this version reads {SCHEMA})")
        words = [Word.from_dict(w) for w in d["words"]]
        lines = tuple(Line(tuple(words[i] for i in ln["words"])) for ln in d["lines"])
        return cls(int(d["width"] or 0), int(d["height"] or 0), lines, d.get("image"), d.get("error"),
                   dict(d.get("meta") or {}))


def _starts(lines: Sequence[Line]) -> list[int]:
    out, k = [], 0
    for ln in lines:
        out.append(k)
        k += len(ln.words)
    return out


def _same_line(a: Word, b: Word) -> bool:
    """Do two words sit on one text line: similar angle and height, aligned, and close along it?"""
    da = abs((a.box.angle - b.box.angle + 90.0) % 180.0 - 90.0)
    if da > 12.0:
        return False
    ha, hb = a.box.h, b.box.h
    if max(ha, hb) > 1.8 * max(1e-3, min(ha, hb)):
        return False
    t = math.radians(a.box.angle)
    ux, uy = math.cos(t), -math.sin(t)
    dx, dy = b.box.cx - a.box.cx, b.box.cy - a.box.cy
    along, across = dx * ux + dy * uy, -dx * uy + dy * ux
    h = max(ha, hb)
    gap = abs(along) - (a.box.w + b.box.w) / 2
    return abs(across) < 0.5 * h and gap < 1.5 * h


def group_lines(words: Sequence[Word]) -> list[Line]:
    """Words -> lines (union of same-line pairs), each in reading order; lines top to bottom."""
    n = len(words)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(n):
        for j in range(i + 1, n):
            if _same_line(words[i], words[j]):
                parent[find(i)] = find(j)
    groups: dict[int, list[Word]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(words[i])
    lines = []
    for ws in groups.values():
        t = math.radians(sum(w.box.angle for w in ws) / len(ws))
        ux, uy = math.cos(t), -math.sin(t)
        ws = sorted(ws, key=lambda w: w.box.cx * ux + w.box.cy * uy)  # left to right along the line
        rtl = sum(len(w.text) for w in ws if w.rtl) > sum(len(w.text) for w in ws if not w.rtl)
        lines.append(Line(tuple(reversed(ws)) if rtl else tuple(ws)))
    lines.sort(key=lambda ln: (round(min(w.box.cy for w in ln.words) / max(8.0, ln.words[0].box.h)),
                               min(w.box.cx for w in ln.words)))
    return lines


__all__ = ["SCHEMA", "RotatedBox", "Word", "Line", "Result", "group_lines"]
