"""Build the detector's int8 graph ``detector.int8.onnx`` beside its weights, stamped with them
(:mod:`rosetta.quant.files`), so that the runtime refuses it once the weights change; optionally from the network
part of a checkpoint fine-tuned for int8 (:func:`int8_weights`)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from rosetta.detection.model import RotatedFasterRCNN
from rosetta.engine.onnx import GRAPH_PARTS
from rosetta.quant.files import int8_path, stamp
from rosetta.quant.ort_int8 import DETECTOR_INT8, Int8Config, for_detector, quantize_detector
from rosetta.train.common import load_checkpoint
from rosetta.train.predict import TorchDetector


def build_int8(folder: Path, calibration: Sequence[np.ndarray], config: Int8Config | None = None,
               weights: Path | None = None, images: str | None = None) -> Path:
    """Quantize the detector's network part (trunk, neck, RPN head) in ``folder`` to ``detector.int8.onnx``,
    stamped with the weights it came from. ``calibration``: a few dozen real RGB photos.

    The default (``DETECTOR_INT8``) keeps a ``pool`` stem's first convolution in float, as for the recognizer:
    quantized it is faster (the whole graph runs NHWC int8) but loses more accuracy, its input rounded
    (docs/RESULTS.md). A ``patch4`` stem's graph reads the image's uint8 pixels instead, the normalization
    folded into its first convolution, which then runs int8 on exact inputs (``pixel_input``).

    ``weights``: a checkpoint of the same detector fine-tuned for int8 (``rosetta train detector --init
    FOLDER/detector.safetensors --set qat=1 --set qat_distill=1``): the int8 graph is built from its
    network part, while the float model and the RoI head stay ``folder``'s (refused if its RoI head differs).
    ``images``: which photos ``calibration`` holds (e.g. "ICDAR 2015 img_33..img_64"), for the stamp."""
    config = config or DETECTOR_INT8
    folder = Path(folder)
    det = TorchDetector.load(folder)
    model, facts = det.model, {}
    if weights is not None:
        model, facts = int8_weights(det.model, Path(weights)), {"int8_weights": Path(weights).name}
    config = for_detector(config, model)  # pixels in or not, decided once: the graph and its stamp agree
    size = config.calibration_size or det.common_working_size(calibration)  # calibrated at the size it runs at
    out = quantize_detector(model, calibration, int8_path(folder, "detector"), config, size)
    if config.float_scopes:
        facts["float_scopes"] = list(config.float_scopes)
    if not config.reduce_range:
        facts["reduce_range"] = False
    if config.pixel_input:
        facts["pixel_input"] = True  # uint8 pixels in, the first convolution int8
    if config.balance_rpn_outputs:
        facts["rpn_outputs"] = {"logit_floor": config.logit_floor, "deltas": "components equalized"}
    if images:
        facts["calibration_photos"] = images
    stamp(folder, "detector", calibration=config.calibration, calibration_images=len(calibration),
          calibration_size=size, keep_first_fp32=config.keep_first_fp32, **facts)
    return out


def int8_weights(model: RotatedFasterRCNN, checkpoint: Path) -> RotatedFasterRCNN:
    """A copy of ``model`` with the network part (trunk, neck, RPN head) of ``checkpoint`` (its weight average
    when it has one), for building the int8 graph from quantization-aware fine-tuned weights. Everything else
    (the RoI head, which runs outside that graph) must be ``model``'s own, to fp16 precision."""
    ck = load_checkpoint(checkpoint)
    state = ck.get("ema") or ck["model"]
    own = model.state_dict()
    if set(state) != set(own) or any(state[k].shape != v.shape for k, v in own.items()):
        raise ValueError(f"{checkpoint}: not a checkpoint of this detector's architecture")
    graph = tuple(f"{p}." for p in GRAPH_PARTS)  # state-dict key prefixes
    differ = [k for k, v in own.items() if not k.startswith(graph) and v.is_floating_point()
              and not torch.allclose(state[k].float(), v.float(), rtol=1e-3, atol=1e-4)]
    if differ:
        raise ValueError(f"{checkpoint}: {len(differ)} tensors outside the int8 graph differ from the shipped "
                         f"detector's (e.g. {differ[0]}); fine-tune with the RoI head left as it is")
    out = copy.deepcopy(model)
    out.load_state_dict({k: (state[k] if k.startswith(graph) else v) for k, v in own.items()})
    return out.eval()


__all__ = ["build_int8", "int8_weights"]
