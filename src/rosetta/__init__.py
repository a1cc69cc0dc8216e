"""Rosetta: read every word in everyday images, with rotated boxes, on plain CPUs.

>>> import rosetta
>>> ocr = rosetta.OCR()                       # doctest: +SKIP
>>> print(ocr("sign.jpg").text)               # doctest: +SKIP
"""

from rosetta.io import ImageError, load_image
from rosetta.ocr import OCR, OCRConfig
from rosetta.result import Line, Result, RotatedBox, Word

__version__ = "0.1.0"
__all__ = ["OCR", "OCRConfig", "Result", "Line", "Word", "RotatedBox", "ImageError", "load_image", "__version__"]
