"""The shipped int8 models: ``{name}.int8.onnx`` beside ``{name}.safetensors``, stamped with the weights
they came from (``{name}.int8.json``) so that a stale int8 file is refused at load, never used.

>>> int8_path(Path("models"), "detector").name
'detector.int8.onnx'
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rosetta.runtime.files import NAMES, int8_path, weights_sha1  # the runtime checks the stamps written here


def stamp(folder: Path, name: str, **facts: Any) -> Path:
    """Record which weights (and calibration) ``{name}.int8.onnx`` was built from, and the ONNX Runtime
    rewrites its session must leave out (a float pool after a float stem, :mod:`rosetta.quant.ort_int8`)."""
    from rosetta.quant.ort_int8 import disabled_optimizers

    model = int8_path(folder, name)
    disabled = list(disabled_optimizers(model))
    path = model.with_suffix(".json")
    path.write_text(json.dumps({"weights_sha1": weights_sha1(folder, name), **facts,
                                "ort_disabled_optimizers": disabled}, indent=2) + "\n")
    return path


def int8_session(folder: Path, name: str, threads: int | None = None):
    """The ONNX Runtime session of ``folder``'s int8 ``name``; refuses a missing or stale one."""
    from rosetta.engine.onnx import session

    path = int8_path(folder, name)
    if not path.exists():
        raise FileNotFoundError(f"int8 {name} {path} not found: run `rosetta quantize` first")
    st = path.with_suffix(".json")
    facts = json.loads(st.read_text()) if st.exists() else {}
    if facts.get("weights_sha1") != weights_sha1(folder, name):
        raise ValueError(f"int8 {name} {path} was built from other weights: run `rosetta quantize` again")
    return session(path, threads, disabled_optimizers=facts.get("ort_disabled_optimizers", ()))


__all__ = ["NAMES", "int8_path", "weights_sha1", "stamp", "int8_session"]
