"""The shipped model files the runtime reads, and the stamps that refuse a graph written from other weights.

A float graph ``{name}.onnx`` carries the sha256 of the safetensors it was written from in its metadata
(:data:`SOURCE_KEY`, written by :mod:`rosetta.graphs.compact`); an int8 graph ``{name}.int8.onnx`` has a sidecar
``{name}.int8.json`` with the sha1 of those weights (written by :mod:`rosetta.quant.files`). Where the safetensors
are beside the graph, a graph from other weights is refused at load with the command that rewrites it.

>>> graph_path(Path("models"), "recognizer").name, graph_path(Path("models"), "recognizer", int8=True).name
('recognizer.onnx', 'recognizer.int8.onnx')
>>> read_meta("recognizer")["name"]
'recognizer'
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from pathlib import Path
from typing import Any

from rosetta.models import MODEL_DIR, ModelMissingError, model_paths

SOURCE_KEY = "rosetta.source_sha256"  # graph metadata: sha256 of the safetensors the graph was written from
NAMES = ("recognizer", "detector")
REWRITE = {"recognizer": "python -m rosetta.graphs.recognizer", "detector": "python -m rosetta.graphs.detector"}


def cache_folder() -> Path:
    """Where what is derived once per machine is kept (rewritten graphs, the acc16 choice): $ROSETTA_CACHE, else
    ~/.cache/rosetta."""
    return Path(os.environ.get("ROSETTA_CACHE", Path.home() / ".cache" / "rosetta"))


def cpu_field(name: str) -> str | None:
    """The first processor's ``name`` field of /proc/cpuinfo (e.g. "model name", "flags"); None where absent."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:  # the first processor's lines come first
                if line.split(":", 1)[0].strip() == name:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else the platform's processor string."""
    return cpu_field("model name") or platform.processor() or platform.machine()


def file_sha256(path: Path) -> str:
    """sha256 hex digest of the file at ``path``."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def graph_path(folder: Path | None, name: str, int8: bool = False) -> Path:
    """``folder/{name}.onnx`` (or ``{name}.int8.onnx``); ``folder`` None: the package's models."""
    if name not in NAMES:
        raise ValueError(f"no graph for {name!r} (one of {', '.join(NAMES)})")
    return Path(folder or MODEL_DIR) / f"{name}{'.int8' if int8 else ''}.onnx"


def int8_path(folder: Path, name: str) -> Path:
    """Where ``folder``'s int8 ``name`` lives."""
    return graph_path(folder, name, int8=True)


def weights_sha1(folder: Path, name: str) -> str:
    """Digest of the fp16 weights file an int8 model is built from (the int8 sidecar's ``weights_sha1``)."""
    return hashlib.sha1((Path(folder) / f"{name}.safetensors").read_bytes()).hexdigest()


def read_meta(name: str, folder: Path | None = None) -> dict[str, Any]:
    """The JSON sidecar ``{name}.json`` (config, charset, card) of a model."""
    path = model_paths(name, folder)[1]
    if not path.exists():
        raise ModelMissingError(f"model '{name}' is not installed ({path} missing); reinstall rosetta-ocr or "
                                f"pass a model folder")
    return json.loads(path.read_text(encoding="utf-8"))


def check_graph(path: Path, metadata: dict[str, str], name: str) -> None:
    """Refuse the float graph at ``path`` (its ONNX metadata ``metadata``) when the safetensors beside it are not
    the weights it was written from (no safetensors there: the graph is the model, nothing to check)."""
    weights = path.parent / f"{name}.safetensors"
    if not weights.exists():
        return
    stamp = metadata.get(SOURCE_KEY)
    if stamp != file_sha256(weights):
        why = "carries no weights stamp" if stamp is None else f"was written from other weights than {weights.name}"
        raise ValueError(f"graph {path} {why}: write it again with `{REWRITE[name]} {path.parent}`")


def check_int8(folder: Path, name: str) -> Path:
    """``folder``'s int8 ``name`` graph, refused when missing, stale (its sidecar names other weights) or needing
    ONNX Runtime rewrites left out (not supported here)."""
    path = int8_path(folder, name)
    if not path.exists():
        raise FileNotFoundError(f"int8 {name} {path} not found: run `rosetta quantize` first")
    st = path.with_suffix(".json")
    facts = json.loads(st.read_text()) if st.exists() else {}
    if (Path(folder) / f"{name}.safetensors").exists() and facts.get("weights_sha1") != weights_sha1(folder, name):
        raise ValueError(f"int8 {name} {path} was built from other weights: run `rosetta quantize` again")
    if facts.get("ort_disabled_optimizers"):
        raise ValueError(f"int8 {name} {path} needs ONNX Runtime rewrites left out "
                         f"({facts['ort_disabled_optimizers']}), which the runtime does not do: rebuild it")
    return path


__all__ = ["cache_folder", "cpu_field", "cpu_model", "SOURCE_KEY", "NAMES", "file_sha256", "graph_path", "int8_path", "weights_sha1", "read_meta",
           "check_graph", "check_int8"]
