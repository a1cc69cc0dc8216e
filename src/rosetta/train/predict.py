"""The predictors on the PyTorch models, for training, evaluation and the runtime's equality tests.

:class:`TorchRecognizer` is the runtime's :class:`~rosetta.runtime.recognizer.Recognizer` (same batching, decoding,
scripts and tall-crop rule) whose network is the PyTorch model itself (``engine="torch"``), the model exported on the
fly into a cache (``"onnx"``, :func:`rosetta.engine.onnx.recognizer_session`) or the int8 graph (``"int8"``). It reads
a checkpoint's weights without writing a graph first; users read with the runtime.

:class:`TorchDetector` is the runtime's :class:`~rosetta.runtime.detector.Detector` (same settings, sizes and
batching) whose boxes come from the PyTorch model's own inference (:meth:`RotatedFasterRCNN.detect`, the reference
the runtime's NumPy post-processing is tested against), its network part on PyTorch (``engine="torch"``), on the
model exported on the fly (``"onnx"``) or on the int8 graph (``"int8"``, the RoI head's layers int8 on FBGEMM).

>>> rec = TorchRecognizer.load()
>>> rec([np.full((32, 90, 3), 255, np.uint8)])[0][0], rec.engine
('', 'torch')
>>> det = TorchDetector.load()
>>> det([np.zeros((720, 1280, 3), np.uint8)])[0][0].shape, det.engine
((0, 5), 'torch')
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from rosetta.charset import Charset
from rosetta.detection.model import DetectorConfig, RotatedFasterRCNN
from rosetta.engine.onnx import DEQUANTIZE_KEY, PIXEL_INPUT_KEY, ROI_REDUCED_KEY, detector_session, recognizer_session
from rosetta.models import MODEL_DIR, load_weights
from rosetta.quant.fbgemm import int8_linear
from rosetta.quant.files import int8_session
from rosetta.recognition.model import CTCRecognizer, load_model
from rosetta.runtime.detector import DetectConfig, Detector
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


def dequantized(q: torch.Tensor, scale: float, zero_point: int, factor: Sequence[float] | None = None) -> torch.Tensor:
    """A (B, C, H, W) uint8 map an int8 graph hands over undequantized, as floats: ``(q - zero_point) * scale``,
    then times ``factor`` (C,) if given; the float32 arithmetic ONNX Runtime (and the runtime's
    :class:`rosetta.runtime.proposals.QuantizedMap`, for the cells it selects) uses.

    >>> dequantized(torch.arange(4, dtype=torch.uint8).view(1, 2, 2, 1), 0.5, 1, [1.0, 2.0]).flatten().tolist()
    [-0.5, 0.0, 1.0, 2.0]
    """
    x = (q.float() - zero_point) * torch.tensor(scale, dtype=torch.float32)
    if factor is not None:
        x = x * torch.tensor(factor, dtype=torch.float32).view(1, -1, 1, 1)
    return x


def features_runner(sess):
    """Wrap a session of the detector's feature graph (fp32 or int8) as the PyTorch model's ``features_engine``:
    (B, 3, H, W) -> ([3 feature maps], ([3 RPN logits], [3 RPN deltas])), (B, C, H, W) float tensors (outputs an
    int8 graph hands over in uint8 are dequantized whole, :func:`dequantized`). ``run.roi_reduced`` tells whether
    the feature maps come through the RoI head's 1x1 reduction, ``run.pixel_input`` (k > 0) that the graph reads
    uint8 pixel patches (:meth:`rosetta.detection.transform.DetectionTransform.patches`), not a normalized batch."""
    # graphs exported before outputs went channels-last give (B, C, H, W): the channel axis is the static one
    channels_last = isinstance(sess.get_outputs()[3].shape[3], int)
    metadata = sess.get_modelmeta().custom_metadata_map
    dequantize = json.loads(metadata.get(DEQUANTIZE_KEY, "{}"))
    names = [o.name for o in sess.get_outputs()]

    def run(x: torch.Tensor) -> tuple[list, tuple[list, list]]:
        outs = [torch.from_numpy(o) for o in sess.run(None, {"x": np.ascontiguousarray(x.numpy())})]
        if channels_last:
            outs = [o.permute(0, 3, 1, 2) for o in outs]  # (B, H, W, C) -> (B, C, H, W) views, channels-last in memory
        outs = [dequantized(o, **dequantize[n]) if n in dequantize else o for n, o in zip(names, outs)]
        return outs[0:3], (outs[3:6], outs[6:9])  # 3 feature maps, 3 RPN logits, 3 RPN deltas
    run.roi_reduced = metadata.get(ROI_REDUCED_KEY) == "1"  # feature maps through the RoI head's reduction
    run.pixel_input = int(metadata.get(PIXEL_INPUT_KEY, 0))  # k > 0: reads DetectionTransform.patches(..., k) batches
    return run


class TorchDetector(Detector):
    def __init__(self, model: RotatedFasterRCNN, config: DetectConfig = DetectConfig(), meta: dict | None = None,
                 engine: str = "torch", folder: Path | None = None):
        """``engine``: "torch", "onnx" (fp32) or "int8" (the network part from ``detector.int8.onnx`` in
        ``folder`` on ONNX Runtime, the RoI head's fully connected layers int8 on FBGEMM)."""
        self.model = model.eval()
        if engine == "onnx":
            try:
                self.model.features_engine = features_runner(detector_session(self.model))
            except Exception as exc:  # PyTorch is the fallback engine; say so
                log.warning("ONNX Runtime unavailable for the detector (%s); using PyTorch", exc)
                engine = "torch"
        elif engine == "int8":  # no fallback: int8 was asked for
            self.model.features_engine = features_runner(int8_session(Path(folder or MODEL_DIR), "detector"))
            self.model.roi_heads.head = int8_linear(self.model.roi_heads.head)  # FBGEMM for the RoI head
        elif engine != "torch":
            raise ValueError(f"unknown engine {engine!r} (torch, onnx or int8)")
        self.engine = engine
        super().__init__(self.model, config, meta)

    @classmethod
    def load(cls, folder: Path | None = None, engine: str = "torch", **kwargs) -> "TorchDetector":
        """The shipped detector (``src/rosetta/models/detector.*``) or one in ``folder``; the card sets what
        :meth:`rosetta.runtime.detector.Detector.load` takes from it."""
        state, meta = load_weights("detector", folder)
        model = RotatedFasterRCNN.build(DetectorConfig.from_arch(meta.get("model_config")))
        model.load_state_dict(state)
        if meta.get("proposals"):  # the RPN's proposals per image at inference, chosen on training images
            model.rpn.cfg = replace(model.rpn.cfg, post_nms_test=int(meta["proposals"]))
        if meta.get("refine_steps"):  # RoI head passes over its own boxes (RoIConfig.refine_steps)
            model.roi_heads.cfg = replace(model.roi_heads.cfg, refine_steps=int(meta["refine_steps"]))
        tuned = {k: meta[k] for k in ("score_thresh", "size", "upscale") if k in meta}
        if tuned and "config" not in kwargs:  # the model's own threshold and scale, chosen on training images
            kwargs["config"] = DetectConfig(**tuned)
        return cls(model, meta=meta, engine=engine, folder=folder, **kwargs)

    def with_config(self, **changes) -> "TorchDetector":
        """This detector (the same model and engine) with some :class:`DetectConfig` fields changed."""
        out = copy.copy(self)
        out.config = replace(self.config, **changes)
        return out

    @torch.inference_mode()
    def detect_same_size(self, images: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Same-size images through the PyTorch model's inference: per image (boxes, scores)."""
        c = self.config
        size = self.working_size(images[0].shape[:2])
        patch = getattr(self.model.features_engine, "pixel_input", 0)  # k > 0: the graph reads k x k pixel patches
        if patch:  # an int8 graph reading uint8 pixel patches
            batch, sizes, scales = self.model.transform.patches(images, size, patch)
        else:
            batch, sizes, scales = self.model.transform.from_uint8(images, size)
        out = []
        for r in self.model.detect(batch, sizes, scales, c.score_thresh, c.limits):
            boxes, scores = r["boxes"].numpy().astype(np.float32), r["scores"].numpy().astype(np.float32)
            keep = (scores >= c.score_thresh) & (boxes[:, 3] >= c.min_box_height)
            out.append((boxes[keep], scores[keep]))
        return out


__all__ = ["TorchRecognizer", "TorchDetector", "DecodeConfig", "DetectConfig", "features_runner", "dequantized"]
