"""Build the recognizer's int8 graph ``recognizer.int8.onnx`` beside its weights, stamped with them
(:mod:`rosetta.quant.files`), so that the runtime refuses it once the weights change."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from rosetta.quant.files import int8_path, stamp
from rosetta.quant.ort_int8 import RECOGNIZER_INT8, Int8Config, quantize_recognizer
from rosetta.recognition.model import load_model


def build_int8(folder: Path, calibration: Sequence[np.ndarray], config: Int8Config | None = None) -> Path:
    """Quantize the recognizer in ``folder`` to ``recognizer.int8.onnx``, calibrated on ``calibration`` (real word
    crops), and stamp it with the weights it came from."""
    config = config or RECOGNIZER_INT8
    folder = Path(folder)
    model, _ = load_model(folder)
    out = quantize_recognizer(model, calibration, int8_path(folder, "recognizer"), config)
    stamp(folder, "recognizer", calibration=config.calibration, calibration_crops=len(calibration))
    return out


__all__ = ["build_int8"]
