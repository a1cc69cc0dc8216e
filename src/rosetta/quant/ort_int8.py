"""Static int8 quantization of the recognizer for ONNX Runtime (QDQ, per-channel symmetric weights).

The accuracy tricks are switches, so each can be measured (benchmarks/int8.py):

* ``symmetric_weights`` / exact zero: weights symmetric around 0; activations keep an asymmetric uint8
  range whose zero point makes 0.0 exactly representable (ORT does that by construction).
* ``fuse_relu``: ORT's pre-processing folds BatchNorm into Conv and Conv+ReLU into one quantized op.
* ``calibration``: "minmax" ranges or "entropy"/"percentile" (histogram, outlier-robust ranges). The
  detector uses min-max on 32 photos (:data:`DETECTOR_INT8`; percentile histograms of 1600 px maps take ~0.6 GB
  per photo: 12 photos, 7 GB, measured against it below); the recognizer percentile since its step-33198
  weights (:data:`RECOGNIZER_INT8`; min-max had matched or beaten it for earlier weights).
* ``keep_first_fp32``: the first convolution (raw pixels in) stays in float, and so does a max-pool right
  after it (the quantizer leaves it in float; max commutes with quantization, so nothing changes but speed).
  ONNX Runtime runs the two in its blocked float layout, but its ``QDQPropagationTransformer`` would move the
  quantization above the pool and run it on uint8 in a slow NCHW kernel (the detector's stem pool: 36 of
  89 ms per 1600 px image), so such a graph's session leaves that rewrite out
  (:data:`ORT_DISABLED_OPTIMIZERS`, recorded in the int8 stamp).
* ``reduce_range``: 7-bit weights, which AVX2 machines without VNNI need to avoid int16 overflow.
* ``balance_rpn_outputs`` (detector): the RPN's outputs are rounded to 256 levels of one range per tensor,
  set by their extremes: objectness logits down to -60 (a step of 0.14-0.34) and box deltas whose width and
  height components span twice the others' range (an angle step of 2.8 degrees). The int8 graph floors the
  logits at ``logit_floor`` and equalizes the five delta components (:func:`rpn_delta_scale`, undone by a
  float multiply after the rounding), which is exact in float. Measured (docs/RESULTS.md): the int8 boxes
  came closer to the float ones (matched IoU 0.934 -> 0.949) but e2e on training images did not move (gap to
  float 1.0 -> 1.2 points over four noise draws), so it is off by default.

* ``pixel_input`` (detector with a ``patch4`` stem): the graph reads the image's uint8 pixels as they are, in
  4x4 patches (B, H/4, W/4, 48), the normalization folded into the stem, a 1x1 convolution over the patches
  (exact: a 4x4 stride-4 convolution never sees padding; :func:`rosetta.backbones.shufflenet.pixel_stem`). The input's quantization is then the identity
  (scale 1, zero point 0: every pixel value exactly representable, :func:`uint8_input` removes it), so the
  first convolution runs int8 without the rounding of its input that made "first layer int8" lose accuracy,
  and neither the normalization pass nor the float stem's layout conversions are paid.

Calibration uses real word crops (never random tensors).
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from rosetta.backbones.shufflenet import has_patch_stem
from rosetta.data.crops import load_crops
from rosetta.data.icdar2015 import load_images, refuse_validation
from rosetta.detection.transform import PAD_PIXEL, DetectionTransform
from rosetta.engine.onnx import (DEQUANTIZE_KEY, FEATURE_AXES, FEATURE_NAMES, PIXEL_INPUT_KEY, DetectorFeatures,
                                 Logits, export, mark_roi_reduced, set_metadata)
from rosetta.runtime.preprocess import to_input

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Int8Config:
    symmetric_weights: bool = True
    fuse_relu: bool = True
    calibration: str = "minmax"  # minmax | minmax-mean | entropy | percentile
    keep_first_fp32: bool = True
    reduce_range: bool = True
    per_channel: bool = True
    float_ops: tuple[str, ...] = ()  # op types left in float (any layer that measures badly)
    float_scopes: tuple[str, ...] = ()  # node-name parts (e.g. "/head/") whose layers stay in float
    calibration_size: int | None = None  # detector only: long side of the calibration inputs (None: the detector's)
    balance_rpn_outputs: bool = False  # detector only: RPN logits floored, box-delta components equalized (below)
    logit_floor: float = -12.0  # sigmoid(-12) = 6e-6: no proposal below it matters
    pixel_input: bool | None = None  # detector: uint8 pixels in, first convolution int8 (below); None: for patch4 stems


# The detector's choice (measured, docs/RESULTS.md): every trick on, first convolution in float included.
# Quantizing the stem too lets ONNX Runtime run the whole graph NHWC int8 (at scale 1.0 the float stem and
# its max-pool fall back to slow NCHW kernels), but it lost 1.3 points of e2e hmean on img_201..250 against
# 0.4 with the stem in float, at the shipped scale (1.25) for about 6% more time.
# Percentile ranges from 12 photos were tried on the patch4 detector (docs/RESULTS.md): its boxes strayed less
# from the float ones (img_1..60: mean IoU 0.936 vs 0.919) and e2e on img_1..200 was as good, but on
# img_201..250 the int8 loss was 3.1 points against 2.5 (detector alone 2.8 against 1.7): not better, so min-max.
DETECTOR_INT8 = Int8Config()
DETECTOR_CALIBRATION_IMAGES = 32
# The recognizer's: histogram (percentile) ranges since the step-33198 model, which lost 0.4 points of word
# accuracy with them against 0.8 with min-max on 500 IC15 training crops past the calibration ones (IIIT5K: 0.2
# both); the validation ablation agreed (docs/RESULTS.md). Earlier models measured the other way round.
RECOGNIZER_INT8 = Int8Config(calibration="percentile")
# ONNX Runtime graph rewrites that would undo a float pool after a float first convolution (see above)
ORT_DISABLED_OPTIMIZERS = ("QDQPropagationTransformer",)


def real_calibration_images(n: int | Sequence[int] = DETECTOR_CALIBRATION_IMAGES) -> list[np.ndarray]:
    """Real photos for calibrating the detector: ICDAR 2015 dev img_1..img_n (its training part), or the
    images numbered ``n`` when it is a sequence (validation images are refused)."""
    numbers = list(range(1, n + 1)) if isinstance(n, int) else sorted(n)
    refuse_validation(numbers, "detector calibration")
    return load_images(numbers)[1]


# Ops of the recognizer graph that have int8 kernels or are layout-only; anything else is refused.
SUPPORTED_OPS = {"Conv", "Relu", "Add", "Transpose", "Squeeze", "Unsqueeze", "Reshape", "Identity", "Flatten",
                 "Concat", "MaxPool", "AveragePool", "GlobalAveragePool", "Mul", "BatchNormalization", "Constant",
                 "Shape", "Gather", "Split", "Slice", "Resize", "Cast", "ConstantOfShape", "Concat", "Div", "Floor",
                 "Sub", "Clip", "Max"}


class _Reader:
    """ONNX Runtime CalibrationDataReader over padded batches of real crops."""

    def __init__(self, batches: list[np.ndarray]):
        self.batches = iter(batches)

    def get_next(self):
        b = next(self.batches, None)
        return None if b is None else {"x": b}


def real_calibration_crops(n: int = 400) -> list[np.ndarray]:
    """Real word crops for calibration: the first n/2 of the IIIT5K and of the IC15 training splits."""
    half = n // 2
    return (load_crops("iiit5k_train", "train").images[:half]
            + load_crops("icdar2015_wordrec_train", "train").images[:half])


def calibration_batches(crops: Sequence[np.ndarray], batch_size: int = 16, width: int = 256) -> list[np.ndarray]:
    """Padded (B, 1, 32, width) batches: one width for all, as histogram calibrators need equal shapes."""
    import cv2

    out = []
    inputs = [to_input(c) for c in crops]
    inputs = [cv2.resize(x, (width, 32)) if x.shape[1] > width else x for x in inputs]
    for i in range(0, len(inputs), batch_size):
        chunk = inputs[i:i + batch_size]
        b = np.zeros((len(chunk), 1, 32, width), np.float32)
        for j, x in enumerate(chunk):
            b[j, 0, :, :x.shape[1]] = x
        out.append(b)
    return out


def quantize_recognizer(model: torch.nn.Module, calib: Sequence[np.ndarray], out: Path,
                        config: Int8Config = Int8Config()) -> Path:
    """fp32 recognizer -> ONNX -> (pre-processed) -> static int8 QDQ ONNX at ``out``."""
    if len(calib) < 32:
        raise ValueError(f"calibration needs real crops (got {len(calib)}; use a few hundred)")
    tmp = Path(tempfile.mkdtemp(prefix="rosetta-int8-"))
    fp32 = export(Logits(model.eval()), torch.zeros(2, 1, 32, 128), tmp / "fp32.onnx",
                  {"x": {0: "batch", 3: "width"}, "logits": {0: "batch", 1: "steps"}}, ["logits"])
    return _quantize(fp32, calibration_batches(calib), out, config, "recognizer")


def detector_batches(images: Sequence[np.ndarray], size: int = 1280) -> list[np.ndarray]:
    """Calibration inputs for the detector graph: each image as the detector transform makes it at long side
    ``size`` (calibrate at the size the detector runs at: its activation ranges depend on the scale), all
    padded to one shape so histogram calibrators see equal shapes.

    >>> [b.shape for b in detector_batches([np.zeros((72, 128, 3), np.uint8), np.zeros((100, 50, 3), np.uint8)], 64)]
    [(1, 3, 64, 64), (1, 3, 64, 64)]
    """
    t = DetectionTransform(size)
    made = [t.from_uint8([np.ascontiguousarray(im)], size)[0] for im in images]  # (1, 3, h, w) each
    h, w = max(b.shape[2] for b in made), max(b.shape[3] for b in made)
    out = []
    for b in made:
        pad = np.zeros((1, 3, h, w), np.float32)
        pad[..., :b.shape[2], :b.shape[3]] = b.numpy()
        out.append(pad)
    return out


def quantize_detector(model: torch.nn.Module, calib: Sequence[np.ndarray], out: Path,
                      config: Int8Config = Int8Config(), size: int = 1280) -> Path:
    """The detector's trunk, neck and RPN head (the ONNX part of the detector) -> static int8 QDQ ONNX.
    ``calib``: real RGB photos (a few dozen), seen at long side ``size`` (the detector's working size) unless
    ``config.calibration_size`` says otherwise."""
    if len(calib) < 8:
        raise ValueError(f"calibration needs real images (got {len(calib)}; use a few dozen)")
    tmp = Path(tempfile.mkdtemp(prefix="rosetta-int8-"))
    config = for_detector(config, model)
    pixel = config.pixel_input
    patch = model.trunk.stem[0][0].kernel_size[0] if pixel else 1  # pixels in k x k patches
    size = config.calibration_size or size
    batches = pixel_batches(calib, size, patch) if pixel else detector_batches(calib, size)
    features = DetectorFeatures(model.eval(), pixel_input=pixel)
    if config.balance_rpn_outputs:
        features = DetectorFeatures(model.eval(), config.logit_floor, rpn_delta_scale(features, batches), pixel_input=pixel)
        config = replace(config, float_scopes=config.float_scopes + ("/unscale.",))  # the multiply stays float
    if pixel:  # (B, H/k, W/k, 3k^2) pixel patches in
        example = torch.zeros(1, 256 // patch, 320 // patch, 3 * patch * patch)
        axes = {**FEATURE_AXES, "x": {0: "batch", 1: "height", 2: "width"}}
    else:
        example, axes = torch.zeros(1, 3, 256, 320), FEATURE_AXES
    fp32 = mark_roi_reduced(export(features, example, tmp / "fp32.onnx", axes, FEATURE_NAMES))
    if not pixel:
        return _quantize(fp32, batches, out, config, "detector")
    import onnx

    # the pixels' layout Transpose stays float for the quantizer, which quantizes its output: fix that to the identity
    transposed = next(n.output[0] for n in onnx.load(str(fp32)).graph.node if n.op_type == "Transpose" and n.input[0] == "x")
    return uint8_input(_quantize(fp32, batches, out, config, "detector", {transposed: (1.0, 0)}), "x", patch)


@torch.no_grad()
def rpn_delta_scale(features: torch.nn.Module, batches: Sequence[np.ndarray]) -> torch.Tensor:
    """Per box-delta component (dx, dy, dw, dh, angle), the factor that gives it the range of the widest one
    on the calibration inputs: (5,), the widest component's factor 1."""
    first = FEATURE_NAMES.index("d0")
    reach = torch.zeros(5)
    for b in batches:
        for d in features(torch.from_numpy(b))[first:first + 3]:  # (B, H, W, 5A) each
            reach = torch.maximum(reach, d.reshape(-1, 5).abs().amax(0))  # -> (BHWA, 5) -> (5,)
    return reach.max() / reach.clamp(min=1e-6)


def for_detector(config: Int8Config, model: torch.nn.Module) -> Int8Config:
    """``config`` as it applies to the detector ``model``: ``pixel_input`` decided (None: on for a stem that folds
    the normalization exactly, :func:`rosetta.backbones.shufflenet.has_patch_stem`), and with pixels in, the first
    convolution int8 (it reads exact uint8 pixels)."""
    if config.pixel_input is None:
        config = replace(config, pixel_input=has_patch_stem(model.trunk))
    return replace(config, keep_first_fp32=False) if config.pixel_input else config


def pixel_batches(images: Sequence[np.ndarray], size: int, patch: int = 4) -> list[np.ndarray]:
    """Calibration inputs for a ``pixel_input`` detector graph: each image's pixel patches as the detector
    hands them over (:meth:`rosetta.detection.transform.DetectionTransform.patches`) at long side ``size``, as
    float32 (B, H/k, W/k, 3k^2), padded to one shape with the same pixel.

    >>> [b.shape for b in pixel_batches([np.zeros((72, 128, 3), np.uint8), np.zeros((100, 50, 3), np.uint8)], 64)]
    [(1, 16, 16, 48), (1, 16, 16, 48)]
    """
    t = DetectionTransform(size)
    made = [t.patches([np.ascontiguousarray(im)], size, patch)[0].numpy() for im in images]  # (1, h, w, 3k^2) each
    h, w = max(b.shape[1] for b in made), max(b.shape[2] for b in made)
    out = []
    for b in made:
        pad = np.empty((1, h, w, patch * patch, 3), np.float32)
        pad[:] = PAD_PIXEL
        pad = pad.reshape(1, h, w, -1)
        pad[:, :b.shape[1], :b.shape[2]] = b
        out.append(pad)
    return out


def uint8_input(path: Path, name: str, patch: int) -> Path:
    """Make the QDQ graph at ``path`` read its input ``name`` as uint8 pixels in ``patch`` x ``patch`` patches. The input must reach its
    QuantizeLinear directly or through a layout Transpose, and that quantization must be the identity (scale 1,
    zero point 0); it is removed, and the Transpose (if any) moves the uint8 pixels. Marks the graph's metadata
    (:data:`rosetta.engine.onnx.PIXEL_INPUT_KEY`)."""
    import onnx
    from onnx import TensorProto, numpy_helper

    model = onnx.load(str(path))
    g = model.graph
    init = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    readers = [n for n in g.node if name in n.input]
    tensor = name
    if len(readers) == 1 and readers[0].op_type == "Transpose":  # data movement: as happy with uint8
        tensor = readers[0].output[0]
    q = [n for n in g.node if n.op_type == "QuantizeLinear" and n.input[0] == tensor]
    if len(q) != 1 or float(init[q[0].input[1]]) != 1.0 or int(init[q[0].input[2]]) != 0 \
            or init[q[0].input[2]].dtype != np.uint8 or sum(tensor in n.input for n in g.node) != 1:
        raise ValueError(f"{path}: input {name} is not quantized by one identity QuantizeLinear to uint8")
    for n in g.node:
        n.input[:] = [tensor if i == q[0].output[0] else i for i in n.input]
    g.node.remove(q[0])
    next(i for i in g.input if i.name == name).type.tensor_type.elem_type = TensorProto.UINT8
    for v in g.value_info:  # the transposed pixels' recorded type
        if v.name == tensor:
            v.type.tensor_type.elem_type = TensorProto.UINT8
    set_metadata(model, PIXEL_INPUT_KEY, str(patch))  # what DetectionTransform.patches must be given
    onnx.save(model, str(path))
    return path


def _quantize(fp32: Path, batches: list[np.ndarray], out: Path, config: Int8Config, what: str,
              fixed: dict[str, tuple[float, int]] | None = None) -> Path:
    """``fixed``: tensors whose (scale, zero point) are set, not calibrated."""
    import onnx
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType, quant_pre_process,
                                          quantize_static)

    pre = fp32.with_name("pre.onnx")
    if config.fuse_relu:
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
    else:
        pre = fp32
    nodes = [n for n in onnx.load(str(pre)).graph.node]
    unsupported = sorted({n.op_type for n in nodes} - SUPPORTED_OPS)
    if unsupported:  # ORT would leave these in float without a word: refuse instead
        raise ValueError(f"int8: unsupported layer(s) {', '.join(unsupported)} in the {what} graph "
                         f"(supported: {', '.join(sorted(SUPPORTED_OPS))})")
    exclude = [nodes[[n.op_type for n in nodes].index("Conv")].name] if config.keep_first_fp32 else []
    exclude += [n.name for n in nodes if n.op_type in config.float_ops or any(p in n.name for p in config.float_scopes)]
    method = {"minmax": CalibrationMethod.MinMax, "minmax-mean": CalibrationMethod.MinMax,
              "entropy": CalibrationMethod.Entropy, "percentile": CalibrationMethod.Percentile}[config.calibration]
    # minmax-mean: each tensor's range is the mean over calibration inputs of each input's min and max (what
    # quantization-aware training's running ranges see), not their extremes
    mean = {"CalibMovingAverage": True} if config.calibration == "minmax-mean" else {}
    out.parent.mkdir(parents=True, exist_ok=True)
    quantize_static(str(pre), str(out), _Reader(batches), quant_format=QuantFormat.QDQ,
                    per_channel=config.per_channel, reduce_range=config.reduce_range,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    nodes_to_exclude=exclude, calibrate_method=method,
                    extra_options={**mean, "WeightSymmetric": config.symmetric_weights, "ActivationSymmetric": False,
                                   "TensorQuantOverrides": {k: [{"scale": np.array(sc, np.float32), "zero_point": np.array(zp, np.uint8)}]
                                                            for k, (sc, zp) in (fixed or {}).items()}})
    shapes_from_quantized(out)
    if what == "detector":
        quantized_outputs(out, ("d0", "d1", "d2"))
    return out


def quantized_outputs(path: Path, names: Sequence[str]) -> dict[str, dict]:
    """Hand the outputs ``names`` of the QDQ model at ``path`` over as their uint8 tensors, and write how to
    dequantize them (scale, zero point and the constant of a float ``Mul`` after it, if any) into the model's
    metadata under :data:`rosetta.engine.onnx.DEQUANTIZE_KEY`. The RPN's box deltas: ONNX Runtime would
    dequantize every anchor's (~3 ms per 1600 px image), the RPN reads only its top few thousand
    (:class:`rosetta.runtime.proposals.QuantizedMap` dequantizes those, with the same float32 arithmetic). Returns
    the written parameters."""
    import json

    import onnx
    from onnx import TensorProto, numpy_helper

    model = onnx.load(str(path))
    g = model.graph
    init = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    consumers: dict[str, int] = {}
    for n in g.node:
        for i in n.input:
            consumers[i] = consumers.get(i, 0) + 1
    params, drop = {}, []
    for out in g.output:
        if out.name not in names:
            continue
        node, factor = producer[out.name], None
        if node.op_type == "Mul":  # a float multiply after the rounding (balanced RPN outputs)
            factor = init[node.input[1]].astype(np.float32).reshape(-1).tolist()
            drop.append(node)
            node = producer[node.input[0]]
        if node.op_type != "DequantizeLinear" or consumers.get(node.output[0], 0) > (0 if factor is None else 1):
            raise ValueError(f"{path}: output {out.name} is not a plain dequantized tensor")
        drop.append(node)
        scale, zero = init[node.input[1]], init[node.input[2]]
        if scale.size != 1 or zero.dtype != np.uint8:
            raise ValueError(f"{path}: output {out.name} is not per-tensor uint8")
        q = node.input[0]
        for n in g.node:  # the quantized tensor takes the output's name
            n.output[:] = [out.name if o == q else o for o in n.output]
            n.input[:] = [out.name if i == q else i for i in n.input]
        out.type.tensor_type.elem_type = TensorProto.UINT8
        params[out.name] = {"scale": float(scale), "zero_point": int(zero), "factor": factor}
    for n in drop:
        g.node.remove(n)
    used = {i for n in g.node for i in n.input}
    for t in [t for t in g.initializer if t.name not in used]:  # the dropped multiply's constant
        g.initializer.remove(t)
    set_metadata(model, DEQUANTIZE_KEY, json.dumps(params))
    onnx.save(model, str(path))
    return params


def shapes_from_quantized(path: Path) -> int:
    """Rewire every ``Shape`` that reads a dequantized tensor to read the quantized one (same shape), in the
    QDQ model at ``path``; returns how many. The channel shuffles and the neck's upsampling ask for tensor
    shapes; from a dequantized tensor ONNX Runtime keeps its DequantizeLinear (and a layout Transpose) alive
    and dequantizes the whole map just to read its shape (33 such maps in the detector, ~8 ms per 1600 px image).
    """
    import onnx

    model = onnx.load(str(path))
    dq = {n.output[0]: n for n in model.graph.node if n.op_type == "DequantizeLinear"}
    rewired = 0
    for n in model.graph.node:
        if n.op_type == "Shape" and n.input[0] in dq:
            n.input[0] = dq[n.input[0]].input[0]
            rewired += 1
    if rewired:
        onnx.save(model, str(path))
    return rewired


def disabled_optimizers(path: Path) -> tuple[str, ...]:
    """The ONNX Runtime rewrites a session of the int8 graph at ``path`` must leave out."""
    return ORT_DISABLED_OPTIMIZERS if has_float_pool(path) else ()


def has_float_pool(path: Path) -> bool:
    """Whether an int8 graph keeps a max-pool in float (its session then needs ORT_DISABLED_OPTIMIZERS)."""
    import onnx

    g = onnx.load(str(path), load_external_data=False).graph
    quantized = {n.input[0] for n in g.node if n.op_type == "QuantizeLinear"}
    return any(n.op_type == "MaxPool" and n.output[0] in quantized for n in g.node)


__all__ = ["DETECTOR_CALIBRATION_IMAGES", "for_detector", "pixel_batches", "uint8_input", "quantized_outputs", "rpn_delta_scale", "shapes_from_quantized", "RECOGNIZER_INT8", "ORT_DISABLED_OPTIMIZERS", "disabled_optimizers", "has_float_pool", "real_calibration_crops", "real_calibration_images", "DETECTOR_INT8", "Int8Config", "quantize_recognizer", "quantize_detector", "calibration_batches", "detector_batches"]
