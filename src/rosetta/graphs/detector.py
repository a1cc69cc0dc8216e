"""The detector's shipped ONNX graphs, written from ``detector.safetensors`` + ``detector.json`` (needs PyTorch):

- ``detector.onnx``: trunk, neck and RPN head, (B, 3, H, W) normalized images -> per level (stride 8, 16, 32) the
  feature maps through the RoI head's 1x1 reduction (no bias), the RPN's objectness logits and box deltas, all
  channels-last (B, H, W, C) (:class:`rosetta.engine.onnx.DetectorFeatures`, the graph the ``onnx`` engine runs);
- ``detector_roi.onnx``: the RoI box head, (K, oh, ow, C) RoI features sampled from those maps -> (K,) logits and
  (K, 5) deltas, K dynamic (:class:`RoIHeadGraph`). Its metadata (:data:`SPEC_KEY`) also holds what the
  runtime's NumPy post-processing needs from the PyTorch model's configuration (:func:`spec`): anchors, strides,
  the RPN's and the RoI head's limits, thresholds and box coders, so the two cannot drift apart.

Both are compacted (float16 weights + Cast, :func:`rosetta.graphs.compact.write_compact`) and stamped with the
sha256 of the safetensors, which :mod:`rosetta.runtime.sessions` checks. Regenerate with
``python -m rosetta.graphs.detector [FOLDER]`` (default: the package's models folder).
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from rosetta.detection.roi_heads import RoIBoxHead
from rosetta.detection.model import RotatedFasterRCNN
from rosetta.engine.onnx import FEATURE_AXES, FEATURE_NAMES, DetectorFeatures, export, mark_roi_reduced, set_metadata
from rosetta.graphs import run_writer
from rosetta.graphs.compact import MIN_ELEMENTS, write_compact
from rosetta.models import MODEL_DIR
from rosetta.train.predict import TorchDetector

log = logging.getLogger(__name__)
FEATURES_FILE, ROI_FILE = "detector.onnx", "detector_roi.onnx"
ROI_NAMES = ["logits", "deltas"]
SPEC_KEY = "rosetta.detector_spec"  # detector_roi.onnx metadata: the post-processing settings, JSON (:func:`spec`)


class RoIHeadGraph(torch.nn.Module):
    """The RoI box head on features sampled from the reduced maps, channels-last: (K, oh, ow, C) -> (K,) logits,
    (K, 5) deltas (:meth:`rosetta.detection.roi_heads.RoIBoxHead.forward` with ``reduced=True``: the reduction's
    bias and ReLU, the fully connected layers)."""

    def __init__(self, head: RoIBoxHead):
        super().__init__()
        self.head = head

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(x.permute(0, 3, 1, 2), reduced=True)  # (K, oh, ow, C) -> (K, C, oh, ow)


def spec(model: RotatedFasterRCNN) -> dict:
    """The settings of ``model``'s post-processing (the card's ``proposals`` and ``refine_steps`` are applied at
    load, not here), as :data:`SPEC_KEY` records them.

    >>> from rosetta.detection.model import DetectorConfig
    >>> s = spec(RotatedFasterRCNN.build(DetectorConfig()))
    >>> s["strides"], s["rpn"]["pre_nms_test"], s["roi"]["output_size"], s["roi"]["coder_weights"]
    ([8, 16, 32], 500, [6, 24], [10.0, 10.0, 5.0, 5.0, 2.0])
    """
    rpn, roi, anchors = model.rpn, model.roi_heads, model.rpn.anchor_gen
    return {"strides": list(rpn.strides),
            "anchors": {"heights": [list(h) for h in anchors.heights], "aspects": list(anchors.aspects),
                        "angles": list(anchors.angles)},
            "rpn": {"pre_nms_test": rpn.cfg.pre_nms_test, "post_nms_test": rpn.cfg.post_nms_test,
                    "nms_thresh": rpn.cfg.nms_thresh, "min_size": rpn.cfg.min_size,
                    "coder_weights": list(rpn.coder.weights)},
            "roi": {"output_size": list(roi.cfg.output_size), "sampling_ratio": roi.cfg.sampling_ratio,
                    "score_thresh": roi.cfg.score_thresh, "nms_thresh": roi.cfg.nms_thresh,
                    "max_detections": roi.cfg.max_detections, "level_heights": list(roi.cfg.level_heights),
                    "refine_steps": roi.cfg.refine_steps, "coder_weights": list(roi.coder.weights)}}


def _exact_in_float16(path: Path) -> Path:
    """``path``, after checking that every float32 weight of its graph is exactly a float16 value (what
    :func:`rosetta.graphs.compact.compact` stores), naming the first that is not."""
    for init in onnx.load(str(path)).graph.initializer:
        a = numpy_helper.to_array(init)
        if a.dtype == np.float32 and a.size >= MIN_ELEMENTS and not np.array_equal(a.astype(np.float16).astype(np.float32), a):
            raise ValueError(f"{path}: weight {init.name} is not exactly float16; storing it so would change the outputs")
    return path


def write_detector_graphs(folder: Path = MODEL_DIR) -> list[Path]:
    """Write ``detector.onnx`` and ``detector_roi.onnx`` into ``folder`` from its ``detector.safetensors`` and
    ``detector.json``; returns their paths."""
    folder = Path(folder)
    weights = folder / "detector.safetensors"
    model = TorchDetector.load(folder).model.eval()
    roi = model.roi_heads
    oh, ow = roi.cfg.output_size
    channels = roi.head.reduce[0].out_channels
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        # unfolded (batch norms left to ONNX Runtime's load-time fusion): every weight stays the float16 value of
        # the safetensors, so storing it as float16 loses nothing (folded, 43% of them were not: maps off by 0.1)
        feats = mark_roi_reduced(export(DetectorFeatures(model), torch.zeros(1, 3, 256, 320), Path(tmp) / "f.onnx",
                                        FEATURE_AXES, FEATURE_NAMES, fold_batchnorm=False))
        out.append(write_compact(_exact_in_float16(feats), folder / FEATURES_FILE, weights=weights))
        head = export(RoIHeadGraph(roi.head).eval(), torch.zeros(4, oh, ow, channels), Path(tmp) / "roi.onnx",
                      {"x": {0: "rois"}, **{n: {0: "rois"} for n in ROI_NAMES}}, ROI_NAMES, fold_batchnorm=False)
        graph = onnx.load(str(head))
        # the architecture's settings, not the card's (TorchDetector.load applied those; the runtime applies them too)
        set_metadata(graph, SPEC_KEY, json.dumps(spec(RotatedFasterRCNN.build(model.config))))
        onnx.save(graph, str(head))
        out.append(write_compact(_exact_in_float16(head), folder / ROI_FILE, weights=weights))
    for p in out:
        log.info("wrote %s (%.2f MB)", p, p.stat().st_size / 1e6)
    return out


def main(argv: list[str] | None = None) -> None:
    """``python -m rosetta.graphs.detector [FOLDER]``: (re)write the detector's graphs in FOLDER."""
    run_writer("detector", write_detector_graphs, __doc__, argv)


if __name__ == "__main__":
    main()


__all__ = ["FEATURES_FILE", "ROI_FILE", "ROI_NAMES", "SPEC_KEY", "spec", "RoIHeadGraph", "write_detector_graphs", "main"]
