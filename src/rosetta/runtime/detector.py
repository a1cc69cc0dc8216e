"""The detector without PyTorch: RGB images (any size) -> rotated word boxes in the image's pixels, with scores.

ONNX Runtime runs the shipped graphs (``detector.onnx``, or ``detector.int8.onnx``, for the trunk, neck and RPN
head; ``detector_roi.onnx`` for the RoI box head); everything between them is NumPy and OpenCV: the input batch
(:mod:`rosetta.detect_batch`), the RPN's proposals (:mod:`rosetta.runtime.proposals`), the rotated RoI align
(:mod:`rosetta.runtime.roi_align`), box decoding and rotated NMS (:mod:`rosetta.boxes.nms`). The same boxes as
the PyTorch model (:class:`rosetta.train.predict.TorchDetector`), to float rounding (tests/test_runtime_detector.py).

>>> det = Detector.load()
>>> boxes, scores = det([np.zeros((720, 1280, 3), np.uint8)])[0]
>>> boxes.shape, scores.dtype
((0, 5), dtype('float32'))
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from rosetta import detect_batch
from rosetta.boxes.nms import nms
from rosetta.runtime.proposals import QuantizedMap, RPNSpec, decode, propose
from rosetta.runtime.roi_align import roi_align
from rosetta.runtime.files import check_graph, check_int8, graph_path, read_meta
from rosetta.runtime.sessions import session

log = logging.getLogger(__name__)
MIN_SIDE = 8  # images smaller than this hold no legible word
SPEC_KEY = "rosetta.detector_spec"  # as rosetta.graphs.detector.SPEC_KEY
DEQUANTIZE_KEY = "rosetta.dequantize"  # as rosetta.engine.onnx: outputs an int8 graph hands over in uint8
PIXEL_INPUT_KEY = "rosetta.pixel_input"  # k > 0: the graph reads uint8 k x k pixel patches
ROI_REDUCED_KEY = "rosetta.roi_reduced"  # "1": the maps come through the RoI head's 1x1 reduction
ROI_FILE = "detector_roi.onnx"  # as rosetta.graphs.detector.ROI_FILE
# ONNX Runtime's CPU arena on, memory patterns off: the detector sees a new shape with nearly every photo; its peak
# RSS over 50 photos of 10 shapes, two runs each (docs/results/runtime.md): 254-255 MB, against 277-278 (both on),
# 281-292 (arena off, patterns on), 279-308 (both off: freed blocks fragment the C heap); the same speed
MEMORY = {"mem_arena": True, "mem_pattern": False}


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


@dataclass(frozen=True)
class RoISpec:
    """The RoI head's settings (the graph's metadata, :func:`rosetta.graphs.detector.spec`)."""
    output_size: tuple[int, int] = (6, 24)
    sampling_ratio: int = 1
    score_thresh: float = 0.5
    nms_thresh: float = 0.3
    max_detections: int = 300
    level_heights: tuple[float, ...] = (40.0, 160.0)  # RoIs taller than these use the next level
    refine_steps: int = 0
    coder_weights: tuple[float, ...] = (10.0, 10.0, 5.0, 5.0, 2.0)

    @classmethod
    def from_spec(cls, spec: dict) -> "RoISpec":
        r = spec["roi"]
        return cls(tuple(r["output_size"]), int(r["sampling_ratio"]), float(r["score_thresh"]), float(r["nms_thresh"]),
                   int(r["max_detections"]), tuple(r["level_heights"]), int(r["refine_steps"]),
                   tuple(r["coder_weights"]))


class _Network:
    """The two ONNX Runtime sessions and what their metadata says, shared by every :meth:`Detector.with_config`."""

    def __init__(self, features, roi, rpn: RPNSpec, roi_spec: RoISpec, engine: str = "onnx"):
        self.features, self.roi, self.rpn, self.roi_spec = features, roi, rpn, roi_spec
        self.engine = engine  # what runs the network part, for reports: "onnx" (float) or "int8"
        metadata = features.get_modelmeta().custom_metadata_map
        if metadata.get(ROI_REDUCED_KEY) != "1":
            raise ValueError("the detector graph does not hand over maps through the RoI head's reduction; "
                             "run `python -m rosetta.graphs.detector`")
        self.dequantize = json.loads(metadata.get(DEQUANTIZE_KEY, "{}"))
        self.pixel_input = int(metadata.get(PIXEL_INPUT_KEY, 0))  # k > 0: uint8 k x k pixel patches in
        self.names = [o.name for o in features.get_outputs()]
        self.strides = rpn.strides

    def maps(self, batch: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray], list]:
        """(B, 3, H, W) or pixel patches -> per level channels-last feature maps (reduced), RPN logits, deltas."""
        outs = self.features.run(None, {"x": batch})
        outs = [QuantizedMap(o, **self.dequantize[n]) if n in self.dequantize else o for n, o in zip(self.names, outs)]
        return outs[0:3], outs[3:6], outs[6:9]

    def head(self, feats: list[np.ndarray], boxes: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """The RoI head on each image's boxes (working frame): (sum K,) logits, (sum K, 5) deltas."""
        s = self.roi_spec
        rois = np.concatenate([np.concatenate([np.full((len(b), 1), i, np.float32), b], 1) for i, b in enumerate(boxes)])
        level = np.zeros(len(rois), np.int64)
        for th in s.level_heights:
            level += rois[:, 4] > np.float32(th)
        level = np.minimum(level, len(feats) - 1)
        x = roi_align(feats, rois, level, s.output_size, [1.0 / st for st in self.strides[:len(feats)]],
                      s.sampling_ratio)  # (K, oh, ow, C)
        logits, deltas = self.roi.run(None, {"x": x})
        return logits, deltas


def _checked(path: Path, threads: int | None):
    """A session of the float graph at ``path``, refused when missing or written from other weights than the
    safetensors beside it."""
    if not path.exists():
        raise FileNotFoundError(f"detector graph {path} not found: write it with `python -m rosetta.graphs.detector "
                                f"{path.parent}`")
    sess = session(path, threads, **MEMORY)
    check_graph(path, sess.get_modelmeta().custom_metadata_map, "detector")
    return sess


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return (np.float32(1) / (np.float32(1) + np.exp(-x))).astype(np.float32)


class Detector:
    def __init__(self, network: _Network, config: DetectConfig = DetectConfig(), meta: dict | None = None):
        """Use :meth:`load`. ``network``: the sessions; ``config``: thresholds and sizes; ``meta``: the card."""
        self.network, self.config, self.meta = network, config, dict(meta or {})
        if not hasattr(self, "engine"):  # a subclass with another network names its engine itself
            self.engine = getattr(network, "engine", "onnx")

    @classmethod
    def load(cls, folder: Path | None = None, int8: bool = False, threads: int | None = None,
             config: DetectConfig | None = None) -> "Detector":
        """The shipped detector (``src/rosetta/models/detector.*``) or one in ``folder``; ``int8``: its network part
        from ``detector.int8.onnx``; ``threads``: ONNX Runtime's intra-op threads. The card (``detector.json``) sets
        the word threshold, the scale and long side (``score_thresh``, ``upscale``, ``size``) unless ``config`` is
        given, and the RPN's proposals and the RoI head's refinement passes (``proposals``, ``refine_steps``)."""
        meta = read_meta("detector", folder)
        roi = _checked(graph_path(folder, "detector").with_name(ROI_FILE), threads)
        spec = json.loads(roi.get_modelmeta().custom_metadata_map[SPEC_KEY])
        rpn, roi_spec = RPNSpec.from_spec(spec), RoISpec.from_spec(spec)
        if meta.get("proposals"):  # the RPN's proposals per image at inference, chosen on training images
            rpn = replace(rpn, post_nms=int(meta["proposals"]))
        if meta.get("refine_steps"):  # RoI head passes over its own boxes
            roi_spec = replace(roi_spec, refine_steps=int(meta["refine_steps"]))
        if int8:
            features = session(check_int8(graph_path(folder, "detector").parent, "detector"), threads, **MEMORY)
        else:
            features = _checked(graph_path(folder, "detector"), threads)
        tuned = {k: meta[k] for k in ("score_thresh", "size", "upscale") if k in meta}
        if config is None:  # the model's own threshold and scale, chosen on training images
            config = DetectConfig(**tuned)
        return cls(_Network(features, roi, rpn, roi_spec, "int8" if int8 else "onnx"), config, meta)

    def with_config(self, **changes) -> "Detector":
        """This detector (the same sessions) with some :class:`DetectConfig` fields changed."""
        return type(self)(self.network, replace(self.config, **changes), self.meta)

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

    def __call__(self, images: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """RGB uint8 (H, W, 3) images -> per image (boxes (N, 5) float32, scores (N,) float32), best first.

        Images of the same size go through the network together (one padded batch, up to ``batch_size``);
        others one by one, so no image pays for another's padding."""
        empty = (np.zeros((0, 5), np.float32), np.zeros(0, np.float32))
        out: list[tuple[np.ndarray, np.ndarray]] = [empty] * len(images)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, im in enumerate(images):
            if min(im.shape[:2]) >= MIN_SIDE:
                groups.setdefault(tuple(im.shape[:2]), []).append(i)
        for idx in groups.values():
            for k in range(0, len(idx), self.config.batch_size):
                chunk = idx[k:k + self.config.batch_size]
                for i, found in zip(chunk, self.detect_same_size([images[i] for i in chunk])):
                    out[i] = found
        return out

    def detect_same_size(self, images: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Same-size images through the network and the post-processing: per image (boxes, scores) (the step
        :class:`rosetta.train.predict.TorchDetector` runs on the PyTorch model instead)."""
        net, c = self.network, self.config
        size = self.working_size(images[0].shape[:2])
        if net.pixel_input:  # an int8 graph reading uint8 pixel patches
            batch, sizes, scales = detect_batch.patches(images, size, net.pixel_input)
        else:
            batch, sizes, scales = detect_batch.normalized(images, size)
        feats, logits, deltas = net.maps(batch)
        limits = c.limits
        proposals = propose(logits, deltas, sizes, net.rpn, tuple(limits[:2]) if limits else None)
        kept = self._score(feats, proposals, min(net.roi_spec.score_thresh, c.score_thresh))
        out = []
        for (bx, sc), s in zip(kept, scales):
            keep = nms(bx, sc, net.roi_spec.nms_thresh, limits[2] if limits else net.roi_spec.max_detections)
            bx, sc = bx[keep], sc[keep]
            bx[:, :4] *= np.float32(1.0 / s)  # back to the image's pixels (the angle is unchanged)
            keep = (sc >= c.score_thresh) & (bx[:, 3] >= c.min_box_height)
            out.append((bx[keep], sc[keep]))
        return out

    def _score(self, feats: list[np.ndarray], proposals: list[np.ndarray], thresh: float
               ) -> list[tuple[np.ndarray, np.ndarray]]:
        """The RoI head on the proposals: per image the boxes it moves them to and their scores, those scored
        ``thresh`` or more; then ``refine_steps`` more passes over its own boxes (moving them, scores kept)."""
        net = self.network
        weights = net.roi_spec.coder_weights
        counts = [len(p) for p in proposals]
        if not sum(counts):
            return [(p, np.zeros(0, np.float32)) for p in proposals]
        logits, deltas = net.head(feats, proposals)
        kept, start = [], 0
        for props, n in zip(proposals, counts):
            sc = _sigmoid(logits[start:start + n])
            bx = decode(deltas[start:start + n], props, weights)
            start += n
            keep = sc >= np.float32(thresh)
            kept.append((bx[keep], sc[keep]))
        for _ in range(net.roi_spec.refine_steps):
            boxes = [bx for bx, _ in kept]
            if not sum(len(b) for b in boxes):
                break
            _, deltas = net.head(feats, boxes)
            moved, start = [], 0
            for bx, sc in kept:
                moved.append((decode(deltas[start:start + len(bx)], bx, weights), sc))
                start += len(bx)
            kept = moved
        return kept


__all__ = ["Detector", "DetectConfig", "RoISpec", "SCALE_RANGE", "MAX_SIDE_RANGE", "MIN_SIDE"]
