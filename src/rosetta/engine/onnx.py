"""ONNX Runtime as an inference engine: export a model once (cached by weight hash), run it with ORT.

Measured on this project's 2-core AVX2 machine (see docs/RESULTS.md), ORT runs the recognizer and
the detector trunk faster than eager PyTorch, so it is the serving engine where it wins.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import warnings
from pathlib import Path
from typing import Sequence

import torch

from rosetta.backbones.shufflenet import pixel_stem, widen_stem
from rosetta.detection.transform import MEAN, STD
from rosetta.runtime.files import cache_folder

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    return cache_folder() / "onnx"


def _digest(model: torch.nn.Module, tag: str) -> str:
    h = hashlib.sha1(tag.encode())
    for k, v in model.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def export(model: torch.nn.Module, example: torch.Tensor, path: Path, dynamic: dict[str, dict[int, str]],
           output_names: list[str], fold_batchnorm: bool = True) -> Path:
    """Export ``model`` (eval mode) to ONNX at ``path`` (opset 17, dynamic axes). ``fold_batchnorm=False`` keeps
    each BatchNorm a node of its own: a graph stored in float16 then holds the model's own (float16) parameters,
    and ONNX Runtime folds them into the convolutions at load, in float32 (:mod:`rosetta.graphs.recognizer`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    # PRESERVE on an eval-mode model: inference BatchNorm nodes that the exporter leaves unfolded (its warning
    # about constant folding concerns models in training mode)
    mode = torch.onnx.TrainingMode.EVAL if fold_batchnorm else torch.onnx.TrainingMode.PRESERVE
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "It is recommended that constant folding be turned off")
        torch.onnx.export(model.eval(), (example,), buf, input_names=["x"], output_names=output_names,
                          dynamic_axes=dynamic, opset_version=17, dynamo=False, training=mode)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(path)  # atomic: concurrent workers never read a half-written file
    return path


def session(path: Path, threads: int | None = None, disabled_optimizers: Sequence[str] = ()):
    """An ONNX Runtime CPU session at ``threads`` (default: PyTorch's) that does not spin idle threads;
    ``disabled_optimizers``: graph rewrites to leave out (by ONNX Runtime's names)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    n = threads or torch.get_num_threads()
    so.intra_op_num_threads = n
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # idle ORT threads must not spin: they would take the cores from PyTorch's post-processing and
    # from other sessions (measured: 2 spinning threads made a 2-core OCR slower than 1 thread)
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"],
                                disabled_optimizers=list(disabled_optimizers) or None)


class Logits(torch.nn.Module):
    """The recognizer's logits alone (the graph's one output): ``model(x)[0]``."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[0]


def recognizer_session(model: torch.nn.Module, threads: int | None = None):
    """An ORT session computing the recognizer's logits (B, T, C) from (B, 1, 32, W)."""
    path = cache_dir() / f"recognizer-{_digest(model, 'rec1')}.onnx"
    if not path.exists():
        log.info("exporting the recognizer to %s", path)
        export(Logits(model), torch.zeros(2, 1, 32, 128), path, {"x": {0: "batch", 3: "width"},
                                                                   "logits": {0: "batch", 1: "steps"}}, ["logits"])
    return session(path, threads)


# the detector's modules inside its ONNX graph (and so inside its int8 graph); the RoI head runs outside it
GRAPH_PARTS = ("trunk", "neck", "rpn.head")


class DetectorFeatures(torch.nn.Module):
    """Trunk, neck and the RPN head's convolutions: features, objectness logits and deltas per level, each
    channels-last (B, H, W, C): ONNX Runtime computes them so (NHWC int8 kernels; its blocked float layout
    converts to either at the same cost), and the PyTorch side reads them faster so (``grid_sample``
    measured 2x faster on channels-last maps, the RPN picks its top anchors cell-major). A ``pool`` stem is
    exported widened to 32 channels (:func:`rosetta.backbones.shufflenet.widen_stem`, the same function),
    so that ONNX Runtime keeps its max-pool in its fast blocked layout.

    For the int8 graph, whose outputs are rounded to 256 levels over their calibrated range:
    ``logit_floor`` clamps the objectness logits from below (their range reached -60 for a top of +10, a
    step of 0.27 that made ties of the proposals' order), and ``delta_scale`` (5,) multiplies each box-delta
    component inside the regression convolution and divides it back after the output's rounding (a float
    ``Mul``, ONNX node ``/unscale.{i}/Mul``), so that all five use the whole range (dx, dy and the angle had under
    half of it, an angle step of 2.8 degrees). Both change nothing in float but the clamped logits.

    ``reduce_for_roi``: the feature maps leave the graph through the RoI head's 1x1 reduction (64 -> 32
    channels) without its bias; the RoI head then adds the bias and its ReLU after the align. Bilinear
    sampling and a 1x1 convolution commute (samples outside the map read 0 either way), so the RoI head
    sees the same values, while the graph hands over half the channels and runs that convolution itself
    (int8 in the int8 graph) on the maps instead of on every RoI. The graph says so in its metadata
    (:data:`ROI_REDUCED_KEY`).

    ``pixel_input`` (``patch4`` stems): the graph reads raw pixel patches (B, H/4, W/4, 48), the
    normalization folded into the stem, a 1x1 convolution over them (:func:`rosetta.backbones.shufflenet.pixel_stem`).
    The int8 graph made from it reads the image's uint8 pixels as they are (:data:`PIXEL_INPUT_KEY`): no
    normalization pass, and its first convolution is an int8 matrix product on exactly representable inputs."""

    def __init__(self, model: torch.nn.Module, logit_floor: float | None = None,
                 delta_scale: torch.Tensor | None = None, reduce_for_roi: bool = True, pixel_input: bool = False):
        super().__init__()
        import copy

        self.trunk, self.neck, self.head = widen_stem(model.trunk), model.neck, model.rpn.head
        self.pixel_input = pixel_input
        if pixel_input:  # raw pixel patches (B, H/4, W/4, 48) in, the normalization folded into the stem (patch4 only)
            self.trunk = pixel_stem(model.trunk, MEAN, STD)
        self.logit_floor = logit_floor
        self.roi_reduce = None
        if reduce_for_roi:
            conv = model.roi_heads.head.reduce[0]
            self.roi_reduce = torch.nn.Conv2d(conv.in_channels, conv.out_channels, 1, bias=False)
            self.roi_reduce.weight.data.copy_(conv.weight.data)
        self.unscale = None
        if delta_scale is not None:
            self.head = copy.deepcopy(self.head)
            per_channel = delta_scale.float().repeat(self.head.reg.out_channels // 5)  # channel a * 5 + k -> scale[k]
            with torch.no_grad():
                self.head.reg.weight.mul_(per_channel.view(-1, 1, 1, 1))
                self.head.reg.bias.mul_(per_channel)
            self.unscale = torch.nn.ModuleList(_Unscale(1.0 / per_channel) for _ in range(3))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.pixel_input:
            x = x.permute(0, 3, 1, 2)  # (B, H/4, W/4, 48) pixel patches -> (B, 48, H/4, W/4)
        feats = self.neck(self.trunk(x))
        logits, deltas = self.head(feats)
        if self.logit_floor is not None:
            logits = [t.clamp(min=self.logit_floor) for t in logits]
        if self.roi_reduce is not None:
            feats = [self.roi_reduce(f) for f in feats]  # (B, 64, H, W) -> (B, 32, H, W), no bias
        outs = [t.permute(0, 2, 3, 1) for t in (*feats, *logits, *deltas)]  # (B, C, H, W) -> (B, H, W, C)
        if self.unscale is not None:
            outs[6:9] = [u(t) for u, t in zip(self.unscale, outs[6:9])]
        return tuple(outs)


class _Unscale(torch.nn.Module):
    """Multiply channels-last deltas (B, H, W, 5A) by a constant (5A,) vector: the ``/unscale.{i}/Mul`` node."""

    def __init__(self, factor: torch.Tensor):
        super().__init__()
        self.register_buffer("factor", factor)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return t * self.factor



ROI_REDUCED_KEY = "rosetta.roi_reduced"  # model metadata: "1" when the feature maps come through the RoI reduction
DEQUANTIZE_KEY = "rosetta.dequantize"  # model metadata: how to dequantize the outputs handed over in uint8
PIXEL_INPUT_KEY = "rosetta.pixel_input"  # model metadata: k when the graph reads uint8 k x k pixel patches (B, H/k, W/k, 3k^2)


def set_metadata(model, key: str, value: str) -> None:
    """Set ``key`` in an ONNX ``ModelProto``'s metadata (ONNX Runtime: ``get_modelmeta().custom_metadata_map``)."""
    entry = next((p for p in model.metadata_props if p.key == key), None) or model.metadata_props.add()
    entry.key, entry.value = key, value


def mark_roi_reduced(path: Path) -> Path:
    """Write :data:`ROI_REDUCED_KEY` into the metadata of the ONNX graph at ``path`` (kept by quantization)."""
    import onnx

    model = onnx.load(str(path))
    set_metadata(model, ROI_REDUCED_KEY, "1")
    onnx.save(model, str(path))
    return path


FEATURE_NAMES = [f"{k}{i}" for k in ("p", "l", "d") for i in range(3)]
FEATURE_AXES = {"x": {0: "batch", 2: "height", 3: "width"},
                **{n: {0: "batch", 1: f"h{n[1]}", 2: f"w{n[1]}"} for n in FEATURE_NAMES}}  # outputs (B, H, W, C)


def detector_session(model: torch.nn.Module, threads: int | None = None):
    """An ORT session of ``model``'s network part (trunk, neck, RPN head; :class:`DetectorFeatures`), exported once
    into the cache: (B, 3, H, W) -> 3 feature maps, 3 RPN logits, 3 RPN deltas, channels-last
    (:func:`rosetta.train.predict.features_runner` hands them to the PyTorch model)."""
    path = cache_dir() / f"detector-features-{_digest(model, 'det4')}.onnx"
    if not path.exists():
        log.info("exporting the detector trunk to %s", path)
        tmp = export(DetectorFeatures(model).eval(), torch.zeros(1, 3, 256, 320), path.with_suffix(f".{os.getpid()}.export"),
                     FEATURE_AXES, FEATURE_NAMES)
        mark_roi_reduced(tmp).replace(path)  # atomic: concurrent workers never read a half-written file
    return session(path, threads)


__all__ = ["Logits", "DetectorFeatures", "DEQUANTIZE_KEY", "PIXEL_INPUT_KEY", "ROI_REDUCED_KEY", "set_metadata", "mark_roi_reduced", "FEATURE_AXES", "FEATURE_NAMES", "GRAPH_PARTS", "detector_session", "cache_dir", "export", "session", "recognizer_session"]
