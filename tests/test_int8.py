"""int8 recognizer (ONNX Runtime static QDQ): agrees with fp32 on clean words; stale or unsupported models refuse."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from rosetta.models import MODEL_DIR
from rosetta.quant.ort_int8 import quantize_recognizer
from rosetta.recognition.recognizer import INT8_FILE, Recognizer, build_int8
from tests.test_recognition import _render

WORDS = ["STATION", "coffee", "hello", "2024", "OPEN", "market", "Berlin", "TAXI", "Jazz", "station", "PIZZA",
         "garden", "EXIT", "hotel", "Zone", "river"]
FONTS = ["DejaVu Sans", "Liberation Serif", "Liberation Sans", "Noto Sans"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("models")
    for f in ("recognizer.safetensors", "recognizer.json"):
        shutil.copy(MODEL_DIR / f, d / f)
    calib = [_render(w, f, s) for w in WORDS for f in FONTS for s in (28, 40)][:96]
    build_int8(d, calib)
    return d


def test_int8_agrees_with_fp32(folder):
    crops = [_render(w, f, 34) for w in WORDS for f in FONTS[:2]]
    fp32, int8 = Recognizer.load(folder), Recognizer.load(folder, engine="int8")
    a, b = fp32(crops), int8(crops)
    same = np.mean([x[0] == y[0] for x, y in zip(a, b)])
    assert same >= 0.9, list(zip(a, b))  # stated tolerance: 90% identical strings on clean words
    assert np.mean([abs(x[1] - y[1]) for x, y in zip(a, b)]) < 0.05  # confidences within 0.05 on average


def test_stale_int8_model_is_refused(folder, tmp_path):
    for f in ("recognizer.safetensors", "recognizer.json", INT8_FILE, "recognizer.int8.json"):
        shutil.copy(folder / f, tmp_path / f)
    (tmp_path / "recognizer.int8.json").write_text(json.dumps({"weights_sha1": "0" * 40}))
    with pytest.raises(ValueError, match="rosetta quantize"):
        Recognizer.load(tmp_path, engine="int8")


def test_unsupported_layer_raises_instead_of_falling_back(folder, tmp_path):
    class WithGelu(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x, targets=None):
            logits, _ = self.inner(x)
            return torch.nn.functional.gelu(logits), None

    rec = Recognizer.load(folder)
    calib = [_render(w, "DejaVu Sans", 34) for w in WORDS] * 3
    with pytest.raises(ValueError, match="unsupported layer"):
        quantize_recognizer(WithGelu(rec.model), calib, tmp_path / "x.onnx")
