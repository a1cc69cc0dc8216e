"""The recognizer predictor on the PyTorch model, for training, evaluation and the runtime's equality tests.

:class:`TorchRecognizer` is the runtime's :class:`~rosetta.runtime.recognizer.Recognizer` (same batching, decoding,
scripts and tall-crop rule) whose network is the PyTorch model itself (``engine="torch"``), the model exported on the
fly into a cache (``"onnx"``, :func:`rosetta.engine.onnx.recognizer_session`) or the int8 graph (``"int8"``). It reads
a checkpoint's weights without writing a graph first; users read with the runtime.

>>> rec = TorchRecognizer.load()
>>> rec([np.full((32, 90, 3), 255, np.uint8)])[0][0], rec.engine
('', 'torch')
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from rosetta.charset import Charset
from rosetta.engine.onnx import recognizer_session
from rosetta.models import MODEL_DIR
from rosetta.quant.files import int8_session
from rosetta.recognition.model import CTCRecognizer, load_model
from rosetta.runtime.recognizer import DecodeConfig, Recognizer

log = logging.getLogger(__name__)


class TorchRecognizer(Recognizer):
    def __init__(self, model: CTCRecognizer, charset: Charset, decode: DecodeConfig = DecodeConfig(),
                 lexicon: Sequence[str] | None = None, engine: str = "torch", meta: dict | None = None,
                 folder: Path | None = None):
        """``folder``: where the model files live (the int8 engine reads ``recognizer.int8.onnx`` there)."""
        self.model = model.eval()
        self.session = None  # the ONNX Runtime session of the "onnx" and "int8" engines
        if engine == "onnx":
            try:
                self.session = recognizer_session(self.model)
            except Exception as exc:  # PyTorch is the fallback engine; say so
                log.warning("ONNX Runtime unavailable for the recognizer (%s); using PyTorch", exc)
                engine = "torch"
        elif engine == "int8":
            self.session = int8_session(Path(folder or MODEL_DIR), "recognizer")
        elif engine != "torch":
            raise ValueError(f"unknown engine {engine!r} (torch, onnx or int8)")
        super().__init__(self._logits, charset, decode, lexicon, meta, engine)

    @classmethod
    def load(cls, folder: Path | None = None, engine: str = "torch", **kwargs) -> "TorchRecognizer":
        """The shipped recognizer (``src/rosetta/models/recognizer.*``) or one in ``folder``."""
        model, meta = load_model(folder)
        return cls(model, Charset.from_text(meta["charset"]), engine=engine, meta=meta, folder=folder, **kwargs)

    def _logits(self, x: np.ndarray) -> np.ndarray:
        """(B, 1, 32, W) -> (B, T, C) logits of the engine."""
        if self.session is not None:
            return self.session.run(None, {"x": x})[0]
        with torch.inference_mode():
            return self.model(torch.from_numpy(x))[0].float().numpy()


__all__ = ["TorchRecognizer", "DecodeConfig"]
