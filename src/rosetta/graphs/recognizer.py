"""Write the recognizer's shipped graph ``recognizer.onnx`` from ``recognizer.safetensors`` + ``recognizer.json``.

The graph computes the logits (B, T, C) from a batch (B, 1, 32, W) (any batch size and width). It is exported with
each BatchNorm left a node of its own, then compacted (:mod:`rosetta.graphs.compact`: float16 storage, stamped with
the weights' sha256). Stored so, the graph holds exactly the float16 parameters of the safetensors, and ONNX Runtime
folds the BatchNorms into the convolutions at load, in float32, as PyTorch computes them: measured on 600 real crops,
the logits differ from the PyTorch model's by at most 1.5e-4 (float32 noise), where a graph folded before the float16
rounding differs by up to 0.12 (same argmax in both).

    python -m rosetta.graphs.recognizer [FOLDER]      # default: the package's models (src/rosetta/models)

>>> import tempfile, shutil
>>> from rosetta.models import MODEL_DIR
>>> tmp = Path(tempfile.mkdtemp())
>>> for f in ("recognizer.safetensors", "recognizer.json"):
...     _ = shutil.copy(MODEL_DIR / f, tmp)
>>> write_recognizer_graph(tmp).name
'recognizer.onnx'
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import torch

from rosetta.engine.onnx import Logits, export
from rosetta.graphs import run_writer
from rosetta.graphs.compact import write_compact
from rosetta.models import MODEL_DIR
from rosetta.recognition.model import load_model

log = logging.getLogger(__name__)

AXES = {"x": {0: "batch", 3: "width"}, "logits": {0: "batch", 1: "steps"}}


def write_recognizer_graph(folder: Path = MODEL_DIR) -> Path:
    """``folder/recognizer.onnx`` from the recognizer files in ``folder``; returns its path."""
    folder = Path(folder)
    model, _ = load_model(folder)
    with tempfile.TemporaryDirectory(prefix="rosetta-graph-") as tmp:
        fp32 = export(Logits(model), torch.zeros(2, 1, 32, 128), Path(tmp) / "recognizer.onnx", AXES, ["logits"],
                      fold_batchnorm=False)
        out = write_compact(fp32, folder / "recognizer.onnx", weights=folder / "recognizer.safetensors")
    log.info("wrote %s (%.1f MB)", out, out.stat().st_size / 1e6)
    return out


def main(argv: list[str] | None = None) -> None:
    """``python -m rosetta.graphs.recognizer [FOLDER]``: (re)write the recognizer's graph in FOLDER."""
    run_writer("recognizer", write_recognizer_graph, __doc__, argv)


if __name__ == "__main__":
    main()

__all__ = ["write_recognizer_graph", "main"]
