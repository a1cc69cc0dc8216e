"""Make the bundled sample images (src/rosetta/samples/): signs and captions on real photographs.

Everything comes from Debian packages (wallpaper photographs, Noto/DejaVu/Liberation fonts), so the
samples are ours to ship; nothing is taken from ../shared/data. Run from the project root:

    python scripts/make_samples.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

OUT = Path("src/rosetta/samples")
BG = "/usr/share/backgrounds"
WP = "/usr/share/wallpapers"
FONTS = "/usr/share/fonts/truetype"


def photo(path: str, size: tuple[int, int]) -> Image.Image:
    im = Image.open(path).convert("RGB")
    w, h = size
    s = max(w / im.width, h / im.height)
    im = im.resize((int(im.width * s) + 1, int(im.height * s) + 1), Image.LANCZOS)
    return im.crop((0, 0, w, h))


def panel(img: Image.Image, lines: list[tuple[str, str, int]], xy: tuple[int, int], angle: float, fill, ink,
          pad: int = 24, direction: str | None = None) -> None:
    """Draw a sign: a coloured board with lines of text, rotated by ``angle`` and pasted at ``xy``."""
    fonts = [ImageFont.truetype(f"{FONTS}/{f}", s) for _, f, s in lines]
    kw = {"direction": direction, "language": "ar"} if direction else {}
    boxes = [ImageDraw.Draw(img).textbbox((0, 0), t, font=f, **kw) for (t, _, _), f in zip(lines, fonts)]
    w = max(b[2] - b[0] for b in boxes) + 2 * pad
    h = sum(b[3] - b[1] for b in boxes) + pad * (len(lines) + 1)
    board = Image.new("RGBA", (w, h), fill)
    d = ImageDraw.Draw(board)
    y = pad
    for (t, _, _), f, b in zip(lines, fonts, boxes):
        d.text(((w - (b[2] - b[0])) // 2 - b[0], y - b[1]), t, font=f, fill=ink, **kw)
        y += b[3] - b[1] + pad
    board = board.rotate(angle, expand=True, resample=Image.BICUBIC)
    shadow = Image.new("RGBA", board.size, (0, 0, 0, 0))
    shadow.putalpha(board.getchannel("A").point(lambda a: a // 2).filter(ImageFilter.GaussianBlur(6)))
    img.paste(shadow, (xy[0] + 8, xy[1] + 8), shadow)
    img.paste(board, xy, board)


def caption(img: Image.Image, text: str, font: str, size: int, y: int) -> None:
    """Meme-style caption: white letters with a black outline, centred."""
    f = ImageFont.truetype(f"{FONTS}/{font}", size)
    d = ImageDraw.Draw(img)
    b = d.textbbox((0, 0), text, font=f, stroke_width=3)
    d.text(((img.width - (b[2] - b[0])) // 2 - b[0], y), text, font=f, fill="white", stroke_width=3, stroke_fill="black")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    im = photo(f"{WP}/Path/contents/images/1280x1024.jpg", (1024, 680))
    panel(im, [("COFFEE & TEA", "dejavu/DejaVuSans-Bold.ttf", 54), ("OPEN 24 HOURS", "dejavu/DejaVuSans.ttf", 40)],
          (90, 120), 0, (250, 240, 220, 255), (90, 30, 20))
    panel(im, [("EXIT", "liberation2/LiberationSans-Bold.ttf", 48)], (700, 380), -12, (20, 120, 60, 255), "white")
    im.save(OUT / "sign_latin.jpg", quality=90)

    im = photo(f"{BG}/mate/nature/Wood.jpg", (1024, 680))
    panel(im, [("АПТЕКА", "dejavu/DejaVuSans-Bold.ttf", 64), ("круглосуточно", "dejavu/DejaVuSans.ttf", 40)],
          (140, 90), 6, (240, 250, 255, 255), (0, 90, 160))
    panel(im, [("Київ 2024", "dejavu/DejaVuSerif.ttf", 44)], (560, 430), -20, (255, 230, 120, 255), (40, 40, 40))
    im.save(OUT / "sign_cyrillic.jpg", quality=90)

    im = photo(f"{BG}/mate/nature/Dune.jpg", (1024, 680))
    panel(im, [("مرحبا بكم", "noto/NotoNaskhArabic-Bold.ttf", 64), ("مطعم السلام", "noto/NotoNaskhArabic-Regular.ttf", 48)],
          (300, 140), 0, (255, 255, 255, 235), (120, 20, 20), direction="rtl")
    im.save(OUT / "sign_arabic.jpg", quality=90)

    im = photo(f"{BG}/mate/nature/LadyBird.jpg", (900, 700))
    caption(im, "WHEN THE CODE", "dejavu/DejaVuSans-Bold.ttf", 64, 30)
    caption(im, "WORKS FIRST TIME", "dejavu/DejaVuSans-Bold.ttf", 64, 590)
    im.save(OUT / "meme.jpg", quality=90)
    print("\n".join(str(p) for p in sorted(OUT.glob("*.jpg"))))


if __name__ == "__main__":
    np.random.seed(0)
    main()
