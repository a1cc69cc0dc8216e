"""The result tree and every format derived from it: round trips, parsers, rotated angles kept."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from rosetta.export import draw_overlay, to_alto, to_hocr, to_json, to_jsonl, to_text, to_tsv
from rosetta.result import SCHEMA, Result, RotatedBox, Word, group_lines


def _result() -> Result:
    words = [Word("world", 0.9, 0.8, RotatedBox(160, 52, 70, 20, 0)),
             Word("Hello", 0.95, 0.9, RotatedBox(80, 50, 80, 22, 0)),
             Word("tilted", 0.7, 0.6, RotatedBox(120, 150, 90, 24, 30.0)),
             Word("مرحبا", 0.8, 0.7, RotatedBox(200, 250, 60, 20, 0)),
             Word("بكم", 0.85, 0.7, RotatedBox(130, 251, 40, 20, 0))]
    return Result.build(320, 300, words, image="page.png", meta={"detect_ms": 1.0})


def test_lines_in_reading_order_rtl_included():
    r = _result()
    assert [ln.text for ln in r.lines] == ["Hello world", "tilted", "مرحبا بكم"]
    assert r.lines[2].rtl and not r.lines[0].rtl
    assert group_lines([]) == []


def test_dict_round_trip_is_lossless_and_versioned():
    r = _result()
    d = json.loads(to_json(r))
    assert d["schema"] == SCHEMA and d["error"] is None
    back = Result.from_dict(d)
    assert back == r and back.words[2].box.angle == 30.0
    assert Result.from_dict(json.loads(to_jsonl(r))) == r
    with pytest.raises(ValueError, match="schema"):
        Result.from_dict({**d, "schema": "other/9"})
    failed = Result.failed("x.png", "x.png: truncated image file")
    assert Result.from_dict(failed.to_dict()).error == failed.error


def test_jsonl_has_the_promised_fields():
    row = json.loads(to_jsonl(_result()))
    assert {"image", "width", "height", "words", "lines", "error"} <= set(row)
    w = row["words"][0]
    assert {"text", "confidence", "score", "points"} <= set(w) and len(w["points"]) == 4


def test_text_and_tsv():
    r = _result()
    assert to_text(r).splitlines() == ["Hello world", "tilted", "مرحبا بكم"]
    rows = [line.split("\t") for line in to_tsv(r).splitlines()]
    assert rows[0][:2] == ["level", "page_num"] and len(rows) == 6
    assert all(len(x) == 12 for x in rows)
    hello = rows[1]
    assert hello[-1] == "Hello" and hello[6:10] == ["40", "39", "80", "22"]


def test_hocr_and_alto_parse_and_keep_the_angle():
    r = _result()
    root = ET.fromstring(to_hocr(r))
    ns = "{http://www.w3.org/1999/xhtml}"
    words = [e for e in root.iter(f"{ns}span") if e.get("class") == "ocrx_word"]
    assert [w.text for w in words] == [w.text for w in r.words]
    tilted = next(w for w in words if w.text == "tilted")
    assert "textangle 30" in tilted.get("title") and "x_wconf 70" in tilted.get("title")
    alto = ET.fromstring(to_alto(r))
    strings = [e for e in alto.iter() if e.tag.endswith("String")]
    assert [s.get("CONTENT") for s in strings] == [w.text for w in r.words]
    assert next(s for s in strings if s.get("CONTENT") == "tilted").get("ROTATION") == "30"


def test_empty_result_exports():
    r = Result.build(10, 10, [])
    assert to_text(r) == "" and len(to_tsv(r).splitlines()) == 1
    ET.fromstring(to_hocr(r))
    ET.fromstring(to_alto(r))
    assert Result.from_dict(r.to_dict()) == r


def test_overlay_draws_on_a_copy():
    img = np.full((300, 320, 3), 255, np.uint8)
    out = draw_overlay(img, _result())
    assert out.shape == img.shape and (out != 255).any() and (img == 255).all()
