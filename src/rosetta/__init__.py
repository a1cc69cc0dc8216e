"""Rosetta: read every word in everyday images, with rotated boxes, on plain CPUs.

>>> import rosetta
>>> ocr = rosetta.OCR()                       # doctest: +SKIP
>>> print(ocr("sign.jpg").text)               # doctest: +SKIP
"""

from typing import TYPE_CHECKING

from rosetta.config import ReadConfig
from rosetta.io import ImageError, load_image
from rosetta.result import Line, Result, RotatedBox, Word

if TYPE_CHECKING:
    from rosetta.ocr import OCR
    from rosetta.search import Index, Lexicon, tag

__version__ = "0.1.0"
__all__ = ["OCR", "ReadConfig", "Index", "Lexicon", "tag", "Result", "Line", "Word", "RotatedBox", "ImageError", "load_image", "__version__"]


def __getattr__(name: str):
    """``OCR`` loads ONNX Runtime and OpenCV (~0.15 s, no PyTorch): imported on first use, so ``rosetta --version``,
    ``--help`` and code that only reads results stay fast."""
    if name == "OCR":
        from rosetta import ocr

        return getattr(ocr, name)
    if name in ("Index", "Lexicon", "tag"):  # search and tagging: ~0.15 s of imports a reader does not need
        from rosetta import search

        return getattr(search, name)
    raise AttributeError(f"module 'rosetta' has no attribute {name!r}")
