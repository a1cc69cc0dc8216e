"""Image input: every supported kind converts to RGB uint8; every bad kind raises a clear ImageError."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from rosetta.io import MAX_PIXELS, ImageError, ImageHeader, load_image, read_header


def _png(im: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "LA", "L", "1", "P", "CMYK", "I;16", "I", "F"])
def test_modes_convert_to_rgb(mode):
    base = Image.new("RGB", (20, 10), (200, 30, 30))
    im = base.convert(mode) if mode not in ("I;16", "I", "F") else Image.new(mode, (20, 10), 1000)
    fmt = "TIFF" if mode in ("CMYK", "F", "I") else "PNG"
    a = load_image(_png(im, fmt), name="x")
    assert a.shape == (10, 20, 3) and a.dtype == np.uint8


def test_rgba_transparency_reads_as_white_and_16bit_scales():
    im = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    assert load_image(im).min() == 255
    a16 = np.full((3, 3), 65535, np.uint16)
    assert load_image(a16).max() == 255
    assert load_image(np.full((2, 2), 0.5, np.float32))[0, 0, 0] == 128


def test_exif_orientation_is_applied(tmp_path):
    im = Image.new("RGB", (40, 10), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    p = tmp_path / "o.jpg"
    im.save(p, exif=exif.tobytes())
    assert load_image(p).shape == (40, 10, 3)


def test_animated_gif_gives_first_frame():
    frames = [Image.new("P", (8, 8), i) for i in (10, 200)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    assert load_image(buf.getvalue()).shape == (8, 8, 3)


def test_truncated_corrupt_empty_missing_and_non_images(tmp_path):
    good = _png(Image.new("RGB", (64, 64), (1, 2, 3)), "JPEG")
    with pytest.raises(ImageError, match="t.jpg: truncated"):
        load_image(good[: len(good) // 2], name="t.jpg")
    with pytest.raises(ImageError, match="not a readable image"):
        load_image(b"%PDF-1.4 hello", name="doc.pdf")
    p = tmp_path / "empty.png"
    p.write_bytes(b"")
    with pytest.raises(ImageError, match="empty.png: empty file"):
        load_image(p)
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(ImageError, match="is a directory"):
        load_image(tmp_path)
    with pytest.raises(ImageError, match="not an image"):
        load_image(np.zeros((2, 2, 7), np.uint8))
    with pytest.raises(ImageError, match="unsupported input type"):
        load_image(3.5)  # type: ignore[arg-type]


def test_decompression_bomb_is_refused():
    side = int(MAX_PIXELS ** 0.5) + 100
    bomb = _png(Image.new("1", (side, side)))  # a few KB that would decode to > 80 MP
    assert len(bomb) < 2_000_000
    with pytest.raises(ImageError, match="too large"):
        load_image(bomb, name="bomb.png")


@pytest.mark.parametrize("mode", ["1", "L", "P", "RGB", "RGBA", "LA", "I;16", "CMYK"])
def test_large_images_decode_reduced_in_every_mode(mode):
    """``max_side``: a 300 x 120 image comes out at most 100 px long, at least half that (a whole factor: 3; JPEG
    first at 1/2 in the decoder, then 2), its aspect kept."""
    im = Image.new("RGB", (300, 120), (250, 250, 250)).convert(mode)
    fmt = "JPEG" if mode == "CMYK" else ("TIFF" if mode == "I;16" else "PNG")
    buf = io.BytesIO()
    im.save(buf, fmt)
    a = load_image(buf.getvalue(), max_side=100)
    assert a.shape == ((30, 75, 3) if fmt == "JPEG" else (40, 100, 3)) and a.dtype == np.uint8
    assert abs(int(a[..., 0].mean()) - 250) <= 8  # averaged, not sampled from a palette or bits
    assert read_header(buf.getvalue()).pixels == 300 * 120
    assert load_image(buf.getvalue(), max_side=400).shape == (120, 300, 3)  # under the cap: untouched


def test_read_header_reads_only_the_header():
    """The size of a PNG whose pixel data is cut off: the header is read, nothing decoded (a service checks
    sizes before it commits memory); decoding it fails as truncated. Orientation is applied to the size."""
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (600, 800, 3), np.uint8)).save(buf, "PNG")
    cut = buf.getvalue()[:2000]
    assert read_header(cut) == ImageHeader(800, 600, "PNG")
    with pytest.raises(ImageError, match="truncated"):
        load_image(cut)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees: width and height swap
    buf = io.BytesIO()
    Image.new("RGB", (300, 100)).save(buf, "JPEG", exif=exif)
    assert read_header(buf.getvalue()) == ImageHeader(100, 300, "JPEG") and load_image(buf.getvalue()).shape[:2] == (300, 100)
    with pytest.raises(ImageError, match="not a readable image"):
        read_header(b"hello")
