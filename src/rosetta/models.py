"""Shipped model files: fp16 safetensors weights plus a JSON sidecar (config, charset, card), in the package.

``src/rosetta/models/<name>.safetensors`` and ``<name>.json``; nothing is ever downloaded.
:func:`package` turns a training checkpoint into that pair.

>>> sorted(MODEL_NAMES)
['detector', 'recognizer']
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

MODEL_DIR = Path(__file__).parent / "models"
MODEL_NAMES = ("recognizer", "detector")


class ModelMissingError(FileNotFoundError):
    pass


def model_paths(name: str, folder: Path | None = None) -> tuple[Path, Path]:
    folder = folder or MODEL_DIR
    return folder / f"{name}.safetensors", folder / f"{name}.json"


def load_weights(name: str, folder: Path | None = None) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(fp32 state dict, metadata) of a shipped model."""
    wpath, mpath = model_paths(name, folder)
    if not wpath.exists() or not mpath.exists():
        raise ModelMissingError(f"model '{name}' is not installed ({wpath} missing); reinstall rosetta-ocr or "
                                f"pass a model folder")
    state = {k: v.float() for k, v in load_file(str(wpath)).items()}
    meta = json.loads(mpath.read_text(encoding="utf-8"))
    return state, meta


def save_weights(name: str, state: dict[str, torch.Tensor], meta: dict[str, Any], folder: Path | None = None) -> Path:
    """Write fp16 weights (integer buffers kept as they are) and the JSON sidecar."""
    wpath, mpath = model_paths(name, folder)
    wpath.parent.mkdir(parents=True, exist_ok=True)
    half = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in state.items()}
    save_file(half, str(wpath))
    mpath.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return wpath


def package(name: str, checkpoint: Path, scores: dict[str, Any] | None = None, folder: Path | None = None,
            notes: str = "") -> Path:
    """Checkpoint (``rosetta train ...`` output) -> shipped model files, with a card in the sidecar."""
    ck = torch.load(checkpoint, map_location="cpu", weights_only=False)
    meta = {"name": name, "version": time.strftime("%Y.%m.%d"), "step": ck.get("step"),
            "model_config": ck.get("model_config"), "train_config": ck.get("train_config"),
            "scores": scores or {}, "notes": notes, "packaged": time.strftime("%Y-%m-%d %H:%M")}
    if "charset" in ck:
        meta["charset"] = ck["charset"]
    return save_weights(name, ck["model"], meta, folder)


__all__ = ["MODEL_DIR", "MODEL_NAMES", "ModelMissingError", "load_weights", "save_weights", "package", "model_paths"]
