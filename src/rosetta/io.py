"""Images in: a path, bytes, a numpy array or a PIL image -> RGB uint8 (H, W, 3), or a clear error.

EXIF orientation is applied; RGBA/LA/P/CMYK/16-bit/float/grayscale are converted; animated images
give their first frame; truncated, corrupt, oversized (decompression bombs) and non-image inputs
raise :class:`ImageError` naming the input and the problem.

>>> import numpy as np
>>> load_image(np.zeros((4, 6), np.uint8)).shape
(4, 6, 3)
>>> load_image(b"not an image", name="x.bin")
Traceback (most recent call last):
...
rosetta.io.ImageError: x.bin: not a readable image (unknown format)

A service that must bound its memory reads the header first (nothing decoded) and decodes large images
reduced, to the size the detector would see anyway (JPEG: already while decoding, at 1/2, 1/4 or 1/8):

>>> buf = io.BytesIO(); Image.new("L", (3000, 1000)).save(buf, "PNG")
>>> read_header(buf.getvalue())
ImageHeader(width=3000, height=1000, format='PNG')
>>> load_image(buf.getvalue(), max_side=1000).shape, load_image(buf.getvalue(), max_side=1200).shape
((334, 1000, 3), (334, 1000, 3))
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PIXELS = 80_000_000  # refuse larger images: a decompression bomb or a scan far beyond any photo
ImageInput = Union[str, os.PathLike, bytes, bytearray, np.ndarray, Image.Image]


class ImageError(ValueError):
    """An input that is not a usable image; the message names the input and the problem."""

    def __init__(self, name: str, problem: str):
        super().__init__(f"{name}: {problem}")
        self.name, self.problem = name, problem


@dataclass(frozen=True)
class ImageHeader:
    """An encoded image's size as it will be decoded (EXIF orientation applied) and its format."""

    width: int
    height: int
    format: str

    @property
    def pixels(self) -> int:
        return self.width * self.height


def read_header(data: bytes, name: str | None = None) -> ImageHeader:
    """The size and format from the header alone, nothing decoded; :class:`ImageError` for what
    :func:`load_image` would refuse by its header (empty, not an image, over :data:`MAX_PIXELS`)."""
    name = name or describe(data)
    if len(data) == 0:
        raise ImageError(name, "empty input (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            w, h = im.size
            turned = _turned(im)
    except UnidentifiedImageError as exc:
        raise ImageError(name, "not a readable image (unknown format)") from exc
    except Image.DecompressionBombError as exc:
        raise ImageError(name, f"image too large (possible decompression bomb: {exc})") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(name, f"corrupt image ({exc})") from exc
    if w * h > MAX_PIXELS:
        raise ImageError(name, f"image too large ({w}x{h} = {w * h / 1e6:.0f} MP > "
                               f"{MAX_PIXELS / 1e6:.0f} MP limit; possible decompression bomb)")
    return ImageHeader(h, w, im.format or "") if turned else ImageHeader(w, h, im.format or "")


def _turned(im: Image.Image) -> bool:
    """Whether the EXIF orientation swaps width and height, read without decoding the pixels."""
    if im.format == "PNG" and "exif" not in im.info:
        return False  # PIL's PNG getexif() decodes the whole image to look for an eXIf chunk after the pixels
    try:
        return im.getexif().get(0x0112) in (5, 6, 7, 8)
    except Exception:  # a broken EXIF block: load_image keeps the stored orientation too
        return False


def decoded_pixels(header: ImageHeader, max_side: int | None = None) -> int:
    """The most pixels :func:`load_image` holds at once decoding this image with ``max_side``: JPEG is reduced
    by 1/2, 1/4 or 1/8 while decoding; other formats are decoded whole, then reduced.

    >>> decoded_pixels(ImageHeader(8000, 6000, "JPEG"), 4000), decoded_pixels(ImageHeader(8000, 6000, "PNG"), 4000)
    (12000000, 48000000)
    """
    if not max_side or header.format != "JPEG" or max(header.width, header.height) <= max_side:
        return header.pixels
    target = _fit(header.width, header.height, max_side)
    s = next(s for s in (8, 4, 2, 1) if -(-header.width // s) >= target[0] and -(-header.height // s) >= target[1])
    return -(-header.width // s) * -(-header.height // s)


def _fit(w: int, h: int, max_side: int) -> tuple[int, int]:
    """(w, h) scaled so that the long side is ``max_side`` (never up)."""
    f = min(1.0, max_side / max(w, h))
    return max(1, round(w * f)), max(1, round(h * f))


def describe(src: ImageInput) -> str:
    """A short name for an input, for messages and results."""
    if isinstance(src, (str, os.PathLike)):
        return str(src)
    if isinstance(src, (bytes, bytearray)):
        return f"<{len(src)} bytes>"
    if isinstance(src, np.ndarray):
        return f"<array {src.shape} {src.dtype}>"
    if isinstance(src, Image.Image):
        return f"<PIL image {src.size[0]}x{src.size[1]} {src.mode}>"
    return f"<{type(src).__name__}>"


def load_image(src: ImageInput, name: str | None = None, max_side: int | None = None) -> np.ndarray:
    """Decode any supported input to an RGB uint8 array (H, W, 3); encoded images (paths, bytes) whose long
    side is over ``max_side`` come out reduced by the smallest whole factor that brings it to ``max_side`` or
    under (so between half of it and all of it; JPEG already in the decoder)."""
    name = name or describe(src)
    if isinstance(src, np.ndarray):
        return _from_array(src, name)
    if isinstance(src, Image.Image):
        return _from_pil(src, name)
    if isinstance(src, (bytes, bytearray)):
        if len(src) == 0:
            raise ImageError(name, "empty input (0 bytes)")
        return _open(io.BytesIO(bytes(src)), name, max_side)
    if isinstance(src, (str, os.PathLike)):
        path = Path(src)
        if not path.exists():
            raise ImageError(name, "no such file")
        if path.is_dir():
            raise ImageError(name, "is a directory, not an image")
        if path.stat().st_size == 0:
            raise ImageError(name, "empty file (0 bytes)")
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            raise ImageError(name, f"cannot read file ({exc.strerror or exc})") from exc
        return _open(io.BytesIO(data), name, max_side)
    raise ImageError(name, f"unsupported input type {type(src).__name__} (give a path, bytes, a numpy array "
                           "or a PIL image)")


def _open(fh: io.BytesIO, name: str, max_side: int | None = None) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(fh)
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise ImageError(name, f"image too large ({w}x{h} = {w * h / 1e6:.0f} MP > "
                                       f"{MAX_PIXELS / 1e6:.0f} MP limit; possible decompression bomb)")
            im.seek(0)  # animated images: the first frame
            if max_side and max(w, h) > max_side:
                im.draft("RGB", _fit(w, h, max_side))  # JPEG: decoded at 1/2, 1/4 or 1/8 (others: no-op)
                im.load()
                k = -(-max(im.size) // max_side)
                if k > 1:  # k x k pixels averaged: 8x faster than a bicubic resize of a 79 MP image, never aliased
                    im = _reducible(im).reduce(k)
            im.load()
    except ImageError:
        raise
    except UnidentifiedImageError as exc:
        raise ImageError(name, "not a readable image (unknown format)") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(name, f"image too large (possible decompression bomb: {exc})") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        msg = str(exc)
        if "truncated" in msg.lower() or isinstance(exc, EOFError):
            raise ImageError(name, f"truncated image file ({msg or 'unexpected end of data'})") from exc
        raise ImageError(name, f"corrupt image ({msg})") from exc
    return _from_pil(im, name)


def _reducible(im: Image.Image) -> Image.Image:
    """``im`` in a mode whose pixels can be averaged (palette indices and 1-bit or 16-bit pixels cannot)."""
    if im.mode == "P":
        return im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode == "1":
        return im.convert("L")
    if im.mode.startswith("I;16"):
        return im.convert("I")
    return im


def _from_pil(im: Image.Image, name: str) -> np.ndarray:
    w, h = im.size
    if w * h > MAX_PIXELS:
        raise ImageError(name, f"image too large ({w}x{h} > {MAX_PIXELS / 1e6:.0f} MP limit)")
    if w == 0 or h == 0:
        raise ImageError(name, f"empty image ({w}x{h})")
    try:
        im = ImageOps.exif_transpose(im) or im
    except Exception:  # a broken EXIF block must not lose the picture; orientation stays as stored
        pass
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return _from_array(np.asarray(im), name)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))  # transparent parts read as white paper
        return np.asarray(Image.alpha_composite(bg, rgba).convert("RGB"))
    if mode != "RGB":
        im = im.convert("RGB")  # L, 1, P, CMYK, YCbCr, LAB, HSV
    return np.asarray(im)


def _from_array(a: np.ndarray, name: str) -> np.ndarray:
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise ImageError(name, f"array of shape {a.shape} is not an image (want (H, W), (H, W, 3) or (H, W, 4))")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ImageError(name, f"empty image {a.shape}")
    if a.shape[0] * a.shape[1] > MAX_PIXELS:
        raise ImageError(name, f"image too large ({a.shape[1]}x{a.shape[0]})")
    if a.dtype != np.uint8:
        if a.dtype == np.bool_:
            a = a.astype(np.uint8) * 255
        elif np.issubdtype(a.dtype, np.floating):
            a = np.nan_to_num(a.astype(np.float32))
            top = 1.0 if a.max(initial=0) <= 1.0 else 255.0
            a = np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        elif np.issubdtype(a.dtype, np.integer):
            top = 255 if a.max(initial=0) <= 255 else (65535 if a.max() <= 65535 else int(a.max()))
            a = np.clip(a.astype(np.float64) * (255.0 / top) + 0.5, 0, 255).astype(np.uint8)
        else:
            raise ImageError(name, f"unsupported array dtype {a.dtype}")
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    elif a.shape[2] == 4:
        alpha = a[..., 3:4].astype(np.float32) / 255.0
        a = (a[..., :3].astype(np.float32) * alpha + 255.0 * (1 - alpha) + 0.5).astype(np.uint8)
    return np.ascontiguousarray(a)


__all__ = ["ImageError", "ImageHeader", "ImageInput", "MAX_PIXELS", "decoded_pixels", "describe", "load_image",
           "read_header"]
