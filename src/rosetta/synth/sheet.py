"""Contact sheets for people to look at: word samples per script, and scenes with quads drawn.

Regenerate the PNGs in ``docs/`` with ``rosetta synth sheet --out docs`` (or ``make sheets``).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from rosetta.synth.fonts import FontRegistry
from rosetta.synth.render import layout_kwargs
from rosetta.synth.scenes import SceneSynth, SceneSynthConfig
from rosetta.synth.words import WordSynth, WordSynthConfig


def _label_font(size: int = 14) -> ImageFont.ImageFont:
    for p in ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",):
        if Path(p).exists():
            return ImageFont.truetype(p, size, layout_engine=ImageFont.Layout.RAQM)
    return ImageFont.load_default()


def words_sheet(script: str, seed: int = 7, rows: int = 16, cols: int = 3, cell: tuple[int, int] = (300, 40)) -> Image.Image:
    """A grid of word crops of one script, each with its label underneath."""
    gen = WordSynth.create(WordSynthConfig(scripts=(script,), seed=seed, difficulty=0.8))
    cw, ch = cell
    font = _label_font(13)
    sheet = Image.new("RGB", (cols * (cw + 10), rows * (ch + 20) + 30), "white")
    d = ImageDraw.Draw(sheet)
    d.text((6, 6), f"synthetic {script} word crops (seed {seed}); label under each crop", fill="black", font=font)
    for k in range(rows * cols):
        s = gen.sample(k)
        im = s.image.copy()
        im.thumbnail((cw, ch))
        x, y = (k % cols) * (cw + 10) + 5, (k // cols) * (ch + 20) + 30
        sheet.paste(im, (x, y))
        d.text((x, y + ch + 2), s.text[:40], fill=(0, 0, 160), font=font, **layout_kwargs(s.text[:40]))
    return sheet


def scenes_sheet(seed: int = 11, count: int = 6, width: int = 640) -> Image.Image:
    """Scenes scaled to ``width`` with every word's quad drawn (red) and its top edge (green)."""
    gen = SceneSynth.create(SceneSynthConfig(seed=seed))
    tiles = []
    for k in range(count):
        s = gen.sample(k)
        im = s.image.copy()
        d = ImageDraw.Draw(im)
        for w in s.words:
            pts = [tuple(p) for p in w["points"]]
            d.polygon(pts, outline=(255, 0, 0))
            d.line([pts[0], pts[1]], fill=(0, 255, 0), width=2)
        r = width / im.width
        tiles.append(im.resize((width, int(im.height * r))))
    cols = 2
    rows = (len(tiles) + cols - 1) // cols
    hmax = max(t.height for t in tiles)
    sheet = Image.new("RGB", (cols * (width + 10), rows * (hmax + 10)), "white")
    for k, t in enumerate(tiles):
        sheet.paste(t, ((k % cols) * (width + 10), (k // cols) * (hmax + 10)))
    return sheet


def write_sheets(out: str | Path) -> list[Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for script in ("latin", "cyrillic", "arabic"):
        p = out / f"synth_words_{script}.png"
        words_sheet(script).save(p, optimize=True)
        paths.append(p)
    p = out / "synth_scenes.png"
    scenes_sheet(width=480).save(p, optimize=True)
    paths.append(p)
    reg = FontRegistry.discover()
    (out / "synth_fonts.txt").write_text(
        "\n".join(f"{s}: {len(reg.families(s))} families: {', '.join(reg.families(s))}"
                  for s in ("latin", "cyrillic", "arabic")) + f"\nall: {len(reg.families())} families\n")
    return paths
