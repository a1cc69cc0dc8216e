"""What an index stores per image, built from a :class:`~rosetta.result.Result` or a `rosetta batch` row.

>>> from rosetta.result import Result, RotatedBox, Word
>>> r = Result.build(100, 40, [Word("Café", 0.9, 0.8, RotatedBox(20, 10, 30, 12, 0))], image="a.jpg")
>>> doc = ImageDoc.from_result(r)
>>> doc.key, doc.words[0].terms, ImageDoc.from_row(doc.to_row()) == doc
('a.jpg', ('cafe',), True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from rosetta.result import Result, RotatedBox, Word
from rosetta.search.normalize import word_terms


@dataclass(frozen=True)
class WordDoc:
    text: str  # as read
    confidence: float
    box: tuple[float, ...]  # (cx, cy, w, h, angle) in pixels, as in RotatedBox (stored to 0.01 px)
    terms: tuple[str, ...]  # normalised terms, in order (a word such as "coca-cola" has several)

    @classmethod
    def make(cls, text: str, confidence: float, box: Sequence[float]) -> "WordDoc":
        return cls(text, float(confidence), tuple(box), word_terms(text))


@dataclass(frozen=True)
class ImageDoc:
    key: str  # unique per index: the batch row's id, or the Result's image name
    path: str | None  # where the image was read from, when known (for --viz)
    width: int | None
    height: int | None
    words: tuple[WordDoc, ...]  # reading order

    @classmethod
    def from_result(cls, result: Any, key: str | None = None) -> "ImageDoc":
        """From a Result (its ``image`` is the key unless ``key`` is given)."""
        name = key if key is not None else result.image
        if not name:
            raise ValueError("a Result without an image name needs a key to be indexed")
        words = tuple(WordDoc.make(w.text, w.confidence, w.box.as_tuple()) for w in result.words)
        return cls(str(name), result.image, result.width or None, result.height or None, words)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "ImageDoc":
        """From a row of `rosetta batch` output (``id, path, width, height, words[text, confidence, box]``)."""
        words = tuple(WordDoc.make(w["text"], w["confidence"], w["box"]) for w in (row.get("words") or ()))
        return cls(str(row["id"]), row.get("path"), row.get("width"), row.get("height"), words)

    def to_row(self) -> dict[str, Any]:
        """The batch-row form (the fields :meth:`from_row` reads)."""
        return {"id": self.key, "path": self.path, "width": self.width, "height": self.height,
                "words": [{"text": w.text, "confidence": w.confidence, "box": list(w.box)} for w in self.words]}

    def to_result(self):
        """A Result (lines regrouped) for tagging."""
        words = [Word(w.text, w.confidence, 1.0, RotatedBox(*w.box)) for w in self.words]
        return Result.build(self.width or 0, self.height or 0, words, image=self.path or self.key)


__all__ = ["WordDoc", "ImageDoc"]
