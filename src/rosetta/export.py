"""Output formats, all pure functions of a :class:`~rosetta.result.Result`.

JSON / JSON Lines (lossless, :meth:`Result.to_dict`), plain text, TSV with Tesseract's columns,
hOCR (``bbox`` of the enclosing rectangle plus ``textangle`` and ``x_wconf``), ALTO 4 XML
(``ROTATION`` on each string) and an overlay PNG for people to look at.

>>> from rosetta.result import Result, RotatedBox, Word
>>> r = Result.build(64, 32, [Word("Hi", 0.9, 0.8, RotatedBox(20, 10, 30, 12, 10))], image="a.png")
>>> to_text(r)
'Hi\\n'
>>> "textangle 10" in to_hocr(r)
True
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from rosetta.result import Result

LABEL_FONTS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/truetype/freefont/FreeSans.ttf")
FORMATS = ("json", "jsonl", "text", "tsv", "hocr", "alto")


def to_json(result: Result | list[Result], indent: int | None = 2) -> str:
    data: Any = [r.to_dict() for r in result] if isinstance(result, list) else result.to_dict()
    return json.dumps(data, ensure_ascii=False, indent=indent) + "\n"


def to_jsonl(result: Result) -> str:
    """One line: {"image", "width", "height", "words": [{"text", "confidence", "score", "points", "box"}],
    "lines", "text", "error", ...}: the lossless dict on one line (``Result.from_dict`` reads it back)."""
    return json.dumps(result.to_dict(), ensure_ascii=False) + "\n"


def to_text(result: Result) -> str:
    return result.text + "\n" if result.lines else ""


TSV_COLUMNS = ("level", "page_num", "block_num", "par_num", "line_num", "word_num", "left", "top", "width",
               "height", "conf", "text")


def to_tsv(result: Result, header: bool = True) -> str:
    """Tesseract-like TSV: one row per word (level 5), conf in 0..100, boxes the enclosing rectangle."""
    rows = ["\t".join(TSV_COLUMNS)] if header else []
    for li, line in enumerate(result.lines, 1):
        for wi, w in enumerate(line.words, 1):
            x0, y0, x1, y1 = w.box.bounds()
            text = w.text.replace("\t", " ").replace("\n", " ")
            rows.append("\t".join(str(v) for v in (5, 1, 1, 1, li, wi, x0, y0, x1 - x0, y1 - y0,
                                                    round(100 * w.confidence, 2), text)))
    return "\n".join(rows) + "\n"


def _title(result: Result) -> str:
    return escape(result.image or "image")


def to_hocr(result: Result) -> str:
    """hOCR 1.2: ocr_page > ocr_line > ocrx_word with bbox, textangle and x_wconf."""
    page_title = f"image {result.image or ''}; bbox 0 0 {result.width} {result.height}"
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">',
           f"<head><title>{_title(result)}</title>",
           '<meta http-equiv="Content-Type" content="text/html; charset=utf-8" />',
           '<meta name="ocr-system" content="rosetta" />',
           '<meta name="ocr-capabilities" content="ocr_page ocr_line ocrx_word" />',
           "</head><body>",
           f'<div class="ocr_page" id="page_1" title={quoteattr(page_title)}>']
    wid = 0
    for li, line in enumerate(result.lines, 1):
        xs = [w.box.bounds() for w in line.words]
        lb = (min(b[0] for b in xs), min(b[1] for b in xs), max(b[2] for b in xs), max(b[3] for b in xs))
        direction = ' dir="rtl"' if line.rtl else ""
        out.append(f'<span class="ocr_line" id="line_1_{li}"{direction} title="bbox {lb[0]} {lb[1]} {lb[2]} {lb[3]}; '
                   f'textangle {_angle(line.angle)}">')
        for w in line.words:
            wid += 1
            x0, y0, x1, y1 = w.box.bounds()
            title = f"bbox {x0} {y0} {x1} {y1}; textangle {_angle(w.box.angle)}; x_wconf {round(100 * w.confidence)}"
            out.append(f'<span class="ocrx_word" id="word_1_{wid}" title="{title}">{escape(w.text)}</span>')
        out.append("</span>")
    out += ["</div>", "</body></html>"]
    return "\n".join(out) + "\n"


def _angle(a: float) -> str:
    v = round(float(a), 2)
    return str(int(v)) if v == int(v) else str(v)


def to_alto(result: Result) -> str:
    """ALTO v4: Page > PrintSpace > TextBlock > TextLine > String (HPOS/VPOS/WIDTH/HEIGHT, WC, ROTATION)."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<alto xmlns="http://www.loc.gov/standards/alto/ns-v4#" '
           'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
           'xsi:schemaLocation="http://www.loc.gov/standards/alto/ns-v4# '
           'http://www.loc.gov/standards/alto/v4/alto-4-2.xsd">',
           "<Description><MeasurementUnit>pixel</MeasurementUnit>",
           f"<sourceImageInformation><fileName>{_title(result)}</fileName></sourceImageInformation>",
           "<OCRProcessing ID=\"OCR_0\"><ocrProcessingStep><processingSoftware>"
           "<softwareName>rosetta</softwareName></processingSoftware></ocrProcessingStep></OCRProcessing>",
           "</Description><Layout>",
           f'<Page ID="P1" PHYSICAL_IMG_NR="1" WIDTH="{result.width}" HEIGHT="{result.height}">',
           f'<PrintSpace HPOS="0" VPOS="0" WIDTH="{result.width}" HEIGHT="{result.height}">']
    wid = 0
    for li, line in enumerate(result.lines, 1):
        xs = [w.box.bounds() for w in line.words]
        lb = (min(b[0] for b in xs), min(b[1] for b in xs), max(b[2] for b in xs), max(b[3] for b in xs))
        geo = f'HPOS="{lb[0]}" VPOS="{lb[1]}" WIDTH="{lb[2] - lb[0]}" HEIGHT="{lb[3] - lb[1]}"'
        out.append(f'<TextBlock ID="B{li}" {geo}><TextLine ID="L{li}" {geo}>')
        for k, w in enumerate(line.words):
            wid += 1
            x0, y0, x1, y1 = w.box.bounds()
            if k:
                out.append("<SP/>")
            out.append(f'<String ID="S{wid}" HPOS="{x0}" VPOS="{y0}" WIDTH="{x1 - x0}" HEIGHT="{y1 - y0}" '
                       f'ROTATION="{_angle(w.box.angle)}" WC="{round(w.confidence, 4)}" CONTENT={quoteattr(w.text)}/>')
        out.append("</TextLine></TextBlock>")
    out += ["</PrintSpace>", "</Page>", "</Layout>", "</alto>"]
    return "\n".join(out) + "\n"


EXPORTERS: dict[str, Callable[[Result], str]] = {"json": to_json, "jsonl": to_jsonl, "text": to_text, "tsv": to_tsv,
                                                 "hocr": to_hocr, "alto": to_alto}


def draw_overlay(image: np.ndarray, result: Result) -> np.ndarray:
    """The image (RGB uint8) with every word's quad and text drawn on it."""
    import cv2
    from PIL import Image, ImageDraw

    canvas = image.copy()
    for w in result.words:
        q = np.round(np.array(w.box.polygon())).astype(np.int32)
        cv2.polylines(canvas, [q], True, (255, 40, 40), max(1, round(min(image.shape[:2]) / 400)), cv2.LINE_AA)
        cv2.circle(canvas, tuple(int(v) for v in q[0]), 2, (40, 200, 40), -1)  # the word's top-left, as read
    pil = Image.fromarray(canvas)
    draw = ImageDraw.Draw(pil)
    font_path = next((p for p in LABEL_FONTS if Path(p).exists()), None)  # Latin, Cyrillic and Arabic glyphs
    for w in result.words:
        x0, y0, _, _ = w.box.bounds()
        size = int(max(10, min(28, w.box.h * 0.8)))
        try:
            from PIL import ImageFont

            font = ImageFont.truetype(font_path, size) if font_path else ImageFont.load_default()
        except OSError:
            font = ImageFont.load_default()
        label = f"{w.text} {w.confidence:.2f}"
        tb = draw.textbbox((x0, max(0, y0 - size - 2)), label, font=font)
        draw.rectangle(tb, fill=(255, 255, 200))
        draw.text((x0, max(0, y0 - size - 2)), label, fill=(160, 0, 0), font=font)
    return np.asarray(pil)


__all__ = ["FORMATS", "EXPORTERS", "to_json", "to_jsonl", "to_text", "to_tsv", "to_hocr", "to_alto",
           "draw_overlay"]
