"""ONNX Runtime sessions for the shipped graphs, and where the graphs are found.

A graph lives in a model folder (default: the package's ``rosetta/models/``) beside the safetensors it was written
from. A float graph carries that file's sha256 in its metadata (:data:`rosetta.graphs.compact.SOURCE_KEY`); an
int8 graph's ``{name}.int8.json`` carries its sha1. Either is checked when the weights are there, so a graph left
over from other weights is refused, never used.

>>> model_path("detector.onnx").name, model_path("detector.onnx").parent == MODEL_DIR
('detector.onnx', True)
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Sequence

import onnxruntime as ort

from rosetta.models import MODEL_DIR  # re-exported (rosetta.models imports PyTorch only to write weights)

SOURCE_KEY = "rosetta.source_sha256"  # as rosetta.graphs.compact.SOURCE_KEY (which imports onnx, not needed here)
# ONNX Runtime's CPU memory arena and memory patterns (planned per input shape), for a detector that sees a new
# shape with nearly every photo. Peak RSS of the detector over 50 photos of 10 shapes, two runs each (docs/results/
# runtime.md): arena on, patterns off 254-255 MB; on, on 277-278; off, on 281-292; off, off 279-308 (without the
# arena, freed blocks fragment the C heap). The same speed within this shared machine's noise.
MEM_ARENA = True
MEM_PATTERN = False


class StaleGraphError(ValueError):
    """A graph written from other weights than those beside it."""


def model_path(name: str, folder: Path | None = None) -> Path:
    """The file ``name`` in ``folder`` (default: the package's models folder); refuses a missing one."""
    path = Path(folder or MODEL_DIR) / name
    if not path.exists():
        hint = "reinstall rosetta-ocr or pass a model folder"
        if folder is not None and name.endswith(".onnx") and ".int8." not in name:
            hint = f"write it with `python -m rosetta.graphs.{name.split('.')[0].split('_')[0]} {folder}`"
        raise FileNotFoundError(f"model file {path} not found; {hint}")
    return path


def _digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_source(path: Path, metadata: dict[str, str], weights: Path) -> None:
    """Refuse the graph at ``path`` when ``weights`` exists and is not the file it was written from: the sha256 in
    its metadata for a float graph, the sha1 in ``{name}.int8.json`` for an int8 one."""
    if not weights.exists():
        return
    stamp = path.with_suffix(".json")
    if path.name.endswith(".int8.onnx") and stamp.exists():
        want, got = json.loads(stamp.read_text()).get("weights_sha1"), _digest(weights, "sha1")
        how = "rosetta quantize"
    elif SOURCE_KEY in metadata:
        want, got = metadata[SOURCE_KEY], _digest(weights, "sha256")
        how = f"python -m rosetta.graphs.{path.name.split('.')[0].split('_')[0]} {path.parent}"
    else:
        return
    if want != got:
        raise StaleGraphError(f"graph {path} was written from other weights than {weights}; run `{how}`")


def session(path: Path, threads: int | None = None, weights: Path | None = None,
            disabled_optimizers: Sequence[str] = (), mem_arena: bool | None = None,
            mem_pattern: bool | None = None) -> ort.InferenceSession:
    """An ONNX Runtime CPU session on the graph at ``path`` with ``threads`` intra-op threads (default: the
    machine's cores, at most 4) that do not spin while idle (they would take the cores from the NumPy
    post-processing and from other sessions: measured, 2 spinning threads made a 2-core OCR slower than 1).
    ``weights``: the safetensors the graph must come from (:func:`check_source`). ``disabled_optimizers``: graph
    rewrites to leave out (ONNX Runtime's names; an int8 graph's ``.int8.json`` lists them). ``mem_arena``,
    ``mem_pattern``: ONNX Runtime's CPU arena and memory patterns (default :data:`MEM_ARENA`, :data:`MEM_PATTERN`)."""
    path = Path(path)
    so = ort.SessionOptions()
    so.intra_op_num_threads = int(threads or min(4, os.cpu_count() or 1))
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.enable_cpu_mem_arena = MEM_ARENA if mem_arena is None else mem_arena
    so.enable_mem_pattern = MEM_PATTERN if mem_pattern is None else mem_pattern
    if path.name.endswith(".int8.onnx") and not disabled_optimizers:
        stamp = path.with_suffix(".json")
        if stamp.exists():
            disabled_optimizers = json.loads(stamp.read_text()).get("ort_disabled_optimizers", ())
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"],
                                disabled_optimizers=list(disabled_optimizers) or None)
    if weights is not None:
        check_source(path, sess.get_modelmeta().custom_metadata_map, Path(weights))
    return sess


__all__ = ["MODEL_DIR", "MEM_ARENA", "MEM_PATTERN", "SOURCE_KEY", "StaleGraphError", "model_path", "check_source", "session"]
