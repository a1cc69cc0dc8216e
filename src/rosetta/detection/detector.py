"""Detector predictor: RGB images (any size) -> rotated word boxes in the image's pixels, with scores.

Owns conversion to tensors, the inference size, thresholds and the empty/tiny-image cases; the
model (:class:`RotatedFasterRCNN`) sees tensors only.

>>> det = Detector.load()                                    # doctest: +SKIP
>>> boxes, scores = det([np.zeros((720, 1280, 3), np.uint8)])[0]   # doctest: +SKIP
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from rosetta.detection.model import DetectorConfig, RotatedFasterRCNN
from rosetta.models import load_weights

log = logging.getLogger(__name__)
MIN_SIDE = 8  # images smaller than this hold no legible word


@dataclass(frozen=True)
class DetectConfig:
    size: int = 1280  # largest long side the network sees (larger images are scaled down to it)
    min_size: int = 640  # smaller images are scaled up to this long side
    upscale: float = 1.0  # in between, images are seen at this scale (small words are the detector's weak point)
    score_thresh: float = 0.5  # minimum word score kept
    # a model's card may set its own score_thresh, size and upscale (chosen on its training images)
    min_box_height: float = 3.0  # px in the original image
    batch_size: int = 1  # same-size images per network call (measured: batches of 4 are 12% slower per image on CPU)
    # (RPN anchors kept per level before NMS, proposals after it, words) at most; None: the model's (500, 200,
    # 300), enough for photos; pages dense with words need more (OCRConfig.dense_limits)
    limits: tuple[int, int, int] | None = None


SCALE_RANGE = (0.1, 8)  # what Detector.scaled (and the CLI's --scale / --max-side) accept
MAX_SIDE_RANGE = (64, 8192)


def build_int8(folder: Path, calibration: Sequence[np.ndarray], config=None, weights: Path | None = None,
               images: str | None = None) -> Path:
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
    from rosetta.quant.files import int8_path, stamp
    from rosetta.quant.ort_int8 import DETECTOR_INT8, for_detector, quantize_detector

    config = config or DETECTOR_INT8
    folder = Path(folder)
    det = Detector.load(folder)
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
    import copy

    from rosetta.engine.onnx import GRAPH_PARTS
    from rosetta.train.common import load_checkpoint

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


class Detector:
    def __init__(self, model: RotatedFasterRCNN, config: DetectConfig = DetectConfig(), meta: dict | None = None,
                 engine: str = "torch", folder: Path | None = None):
        """``engine``: "torch", "onnx" (fp32) or "int8" (the network part from ``detector.int8.onnx`` in
        ``folder`` on ONNX Runtime, the RoI head's fully connected layers int8 on FBGEMM)."""
        self.model, self.config, self.meta, self.engine = model.eval(), config, dict(meta or {}), engine
        if engine == "onnx":
            from rosetta.engine.onnx import detector_features

            try:
                self.model.features_engine = detector_features(self.model)
            except Exception as exc:  # PyTorch is the fallback engine; say so
                log.warning("ONNX Runtime unavailable for the detector (%s); using PyTorch", exc)
                self.engine = "torch"
        elif engine == "int8":  # no fallback: int8 was asked for
            from rosetta.engine.onnx import features_runner
            from rosetta.models import MODEL_DIR
            from rosetta.quant.fbgemm import int8_linear
            from rosetta.quant.files import int8_session

            self.model.features_engine = features_runner(int8_session(Path(folder or MODEL_DIR), "detector"))
            self.model.roi_heads.head = int8_linear(self.model.roi_heads.head)  # FBGEMM for the RoI head
        elif engine != "torch":
            raise ValueError(f"unknown engine {engine!r} (torch, onnx or int8)")

    @classmethod
    def load(cls, folder: Path | None = None, engine: str = "torch", **kwargs) -> "Detector":
        """The shipped detector (``src/rosetta/models/detector.*``) or one in ``folder``."""
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

    def with_config(self, **changes) -> "Detector":
        d = Detector(self.model, replace(self.config, **changes), self.meta)  # shares the model and its engine
        d.engine = self.engine
        return d

    def scaled(self, scale: float | None = None, max_side: int | None = None) -> "Detector":
        """This detector seeing images at ``scale`` times their size, long side capped at ``max_side`` pixels
        (None keeps the current value; the shipped card's are 1.25 and 1600, chosen on ICDAR 2015 photos).

        >>> d = Detector.load()  # the shipped card: 1.25, 1600
        >>> d.working_size((1000, 463, 3)), d.scaled(2.5, 2500).working_size((1000, 463, 3))
        (1250, 2500)
        >>> d.scaled(max_side=480).working_size((720, 1280, 3))
        480
        """
        changes: dict = {}
        if scale is not None:
            if not SCALE_RANGE[0] <= scale <= SCALE_RANGE[1]:
                raise ValueError(f"scale must be between {SCALE_RANGE[0]} and {SCALE_RANGE[1]}, not {scale}")
            changes["upscale"] = float(scale)
        if max_side is not None:
            if not MAX_SIDE_RANGE[0] <= max_side <= MAX_SIDE_RANGE[1]:
                raise ValueError(f"max_side must be between {MAX_SIDE_RANGE[0]} and {MAX_SIDE_RANGE[1]} pixels, "
                                 f"not {max_side}")
            changes.update(size=int(max_side), min_size=min(self.config.min_size, int(max_side)))
        return self.with_config(**changes)

    def working_size(self, shape: tuple[int, ...]) -> int:
        """The long side the network sees an (H, W, ...) image at.

        >>> d = Detector.__new__(Detector)
        >>> d.config = DetectConfig(size=1600, upscale=1.25)
        >>> d.working_size((720, 1280, 3)), d.working_size((300, 400)), d.working_size((4000, 3000))
        (1600, 640, 1600)
        """
        long_side = max(shape[:2])
        return int(min(self.config.size, max(self.config.min_size, round(long_side * self.config.upscale))))

    def common_working_size(self, images: Sequence[np.ndarray]) -> int:
        """The working size most of ``images`` are seen at (the size to calibrate int8 ranges at)."""
        sizes = [self.working_size(im.shape) for im in images]
        return max(set(sizes), key=sizes.count)

    @torch.inference_mode()
    def __call__(self, images: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """RGB uint8 (H, W, 3) images -> per image (boxes (N, 5) float32, scores (N,)), best first.

        Images of the same size go through the network together (one padded batch, up to
        ``batch_size``); others one by one, so no image pays for another's padding."""
        empty = (np.zeros((0, 5), np.float32), np.zeros(0, np.float32))
        out: list[tuple[np.ndarray, np.ndarray]] = [empty] * len(images)
        groups: dict[tuple[int, int], list[int]] = {}
        patch = getattr(self.model.features_engine, "pixel_input", 0)  # k > 0: the graph reads k x k pixel patches
        for i, im in enumerate(images):
            if min(im.shape[:2]) >= MIN_SIDE:
                groups.setdefault(tuple(im.shape[:2]), []).append(i)
        for idx in groups.values():
            for k in range(0, len(idx), self.config.batch_size):
                chunk = idx[k:k + self.config.batch_size]
                size = self.working_size(images[chunk[0]].shape[:2])
                if patch:  # an int8 graph reading uint8 pixel patches
                    batch, sizes, scales = self.model.transform.patches([images[i] for i in chunk], size, patch)
                else:
                    batch, sizes, scales = self.model.transform.from_uint8([images[i] for i in chunk], size)
                for i, r in zip(chunk, self.model.detect(batch, sizes, scales, self.config.score_thresh,
                                                         self.config.limits)):
                    boxes, scores = r["boxes"].numpy().astype(np.float32), r["scores"].numpy().astype(np.float32)
                    keep = (scores >= self.config.score_thresh) & (boxes[:, 3] >= self.config.min_box_height)
                    out[i] = (boxes[keep], scores[keep])
        return out


__all__ = ["Detector", "DetectConfig", "build_int8", "SCALE_RANGE", "MAX_SIDE_RANGE"]
