"""ONNX Runtime CPU sessions for the shipped graphs: one thread unless told, no spinning, no growing arena.

>>> from rosetta.models import MODEL_DIR
>>> s = session(MODEL_DIR / "recognizer.onnx")
>>> [i.name for i in s.get_inputs()], s.get_session_options().intra_op_num_threads
(['x'], 1)
"""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort


def session(path: Path, threads: int | None = None, mem_arena: bool = False, mem_pattern: bool = True
            ) -> ort.InferenceSession:
    """An ONNX Runtime CPU session of the graph at ``path`` running on ``threads`` intra-op threads (default 1).
    ``mem_arena``, ``mem_pattern``: ONNX Runtime's CPU memory arena and memory patterns (planned per input shape).
    The detector's measured best is the arena on and patterns off (:data:`rosetta.runtime.detector.MEMORY`)."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = int(threads or 1)
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # idle threads must not spin: they would take the cores from the NumPy post-processing and other sessions
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # inputs change shape with every call (crop widths, image sizes): an arena keeps the largest ever seen
    so.enable_cpu_mem_arena = mem_arena
    so.enable_mem_pattern = mem_pattern
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


__all__ = ["session"]
