"""ONNX Runtime CPU sessions for the shipped graphs: one thread unless told, no spinning, no growing arena.

ONNX Runtime rewrites a graph for the CPU at hand each time a session is made (fusions, NCHWc layouts): 0.18 s of
the detector's 0.2 s start. The rewritten graph is kept in the cache folder ($ROSETTA_CACHE or ~/.cache/rosetta,
``ort/``), keyed by the graph file, the CPU model and ONNX Runtime's version, and later sessions load it with
no rewriting (0.02 s). ``ROSETTA_CACHE=`` (empty) turns the cache off.

>>> from rosetta.models import MODEL_DIR
>>> s = session(MODEL_DIR / "recognizer.onnx")
>>> [i.name for i in s.get_inputs()], s.get_session_options().intra_op_num_threads
(['x'], 1)
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import onnxruntime as ort

from rosetta.runtime.files import cache_folder, cpu_field, cpu_model

log = logging.getLogger(__name__)


def session(path: Path, threads: int | None = None, mem_arena: bool = False, mem_pattern: bool = True
            ) -> ort.InferenceSession:
    """An ONNX Runtime CPU session of the graph at ``path`` running on ``threads`` intra-op threads (default 1).
    ``mem_arena``, ``mem_pattern``: ONNX Runtime's CPU memory arena and memory patterns (planned per input shape).
    The detector's measured best is the arena on and patterns off (:data:`rosetta.runtime.detector.MEMORY`)."""
    cached = optimized_path(Path(path))
    if cached is not None and cached.exists():
        try:
            return ort.InferenceSession(str(cached), _options(threads, mem_arena, mem_pattern, optimize=False),
                                        providers=["CPUExecutionProvider"])
        except Exception as exc:  # a damaged cache file: rewrite it
            log.warning("%s: cached graph unreadable (%s); optimizing %s again", cached, exc, path)
    so = _options(threads, mem_arena, mem_pattern, optimize=True)
    tmp = None
    if cached is not None:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_name(f"{cached.stem}.{os.getpid()}.tmp")
            so.optimized_model_filepath = str(tmp)
            so.log_severity_level = 3  # ONNX Runtime warns that the file suits this CPU only: it is keyed by it
        except OSError:  # a read-only home: no cache
            tmp = None
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    if tmp is not None and tmp.exists():
        tmp.replace(cached)  # atomic: concurrent workers never read a half-written file
    return sess


def _options(threads: int | None, mem_arena: bool, mem_pattern: bool, optimize: bool) -> ort.SessionOptions:
    so = ort.SessionOptions()
    so.intra_op_num_threads = int(threads or 1)
    so.inter_op_num_threads = 1
    so.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize
                                   else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    # idle threads must not spin: they would take the cores from the NumPy post-processing and other sessions
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # inputs change shape with every call (crop widths, image sizes): an arena keeps the largest ever seen
    so.enable_cpu_mem_arena = mem_arena
    so.enable_mem_pattern = mem_pattern
    return so


def optimized_path(path: Path) -> Path | None:
    """Where the graph at ``path``, rewritten for this CPU, is cached; None when the cache is off.

    >>> optimized_path(Path("missing.onnx")) is None
    True
    """
    if os.environ.get("ROSETTA_CACHE") == "" or not path.exists():
        return None
    st = path.stat()
    cpu = [cpu_model(), cpu_field("flags") or ""]  # an optimized graph may use instructions of this CPU only
    key = "|".join([str(path.resolve()), str(st.st_size), str(st.st_mtime_ns), ort.__version__, *cpu])
    return cache_folder() / "ort" / f"{path.stem}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.onnx"


__all__ = ["session", "optimized_path"]
