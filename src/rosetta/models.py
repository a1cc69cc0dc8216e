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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch loads on first use: `rosetta --version` reads the cards without it
    import torch

MODEL_DIR = Path(__file__).parent / "models"
MODEL_NAMES = ("recognizer", "detector")


class ModelMissingError(FileNotFoundError):
    pass


def model_paths(name: str, folder: Path | None = None) -> tuple[Path, Path]:
    folder = folder or MODEL_DIR
    return folder / f"{name}.safetensors", folder / f"{name}.json"


def load_weights(name: str, folder: Path | None = None) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(fp32 state dict, metadata) of a shipped model."""
    from safetensors.torch import load_file

    wpath, mpath = model_paths(name, folder)
    if not wpath.exists() or not mpath.exists():
        raise ModelMissingError(f"model '{name}' is not installed ({wpath} missing); reinstall rosetta-ocr or "
                                f"pass a model folder")
    state = {k: v.float() for k, v in load_file(str(wpath)).items()}
    meta = json.loads(mpath.read_text(encoding="utf-8"))
    return state, meta


def save_weights(name: str, state: dict[str, torch.Tensor], meta: dict[str, Any], folder: Path | None = None) -> Path:
    """Write fp16 weights (integer buffers kept as they are) and the JSON sidecar."""
    from safetensors.torch import save_file

    wpath, mpath = model_paths(name, folder)
    wpath.parent.mkdir(parents=True, exist_ok=True)
    half = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in state.items()}
    save_file(half, str(wpath))
    mpath.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return wpath


DATA = {"recognizer": "synthetic words rendered on the fly (Latin, Cyrillic, Arabic; Debian fonts, word lists and "
                       "photographs) mixed with real crops: IIIT5K, ICDAR 2015, SVT and VinText (Vietnamese signs) "
                       "training splits, grouped by photo, Arabic book lines (training split); validation splits never "
                       "trained on",
        "detector": "synthetic scenes rendered on the fly plus ICDAR 2015 dev img_1..img_200 ('###' as don't-care), "
                    "512x512 native-scale crops; img_201..img_250 never trained on"}


def training_data(name: str, train_config: dict[str, Any] | None) -> str:
    """The card's data line for model ``name`` trained with ``train_config`` (a checkpoint's).

    >>> line = training_data("detector", {"bd_share": 0.5, "holdout": 20, "bd_holdout": 20})
    >>> "ICDAR 2015 dev img_1..img_180" in line and "born-digital img_1..img_240 (web and e-mail graphics, a quarter" in line
    True
    """
    tc = train_config or {}
    if name == "recognizer" and tc.get("context_photos"):
        return f"{DATA[name]}; words of {tc['context_photos']} cut as the reader cuts detected boxes"
    if name != "detector" or not tc.get("bd_share"):
        return DATA.get(name, "")
    real, bd = tc.get("real_share", 0.5), tc["bd_share"]
    return (f"synthetic scenes rendered on the fly ({1 - real:.0%} of the images), ICDAR 2015 dev "
            f"img_1..img_{200 - tc.get('holdout', 0)} ('###' as don't-care) and ICDAR 2013 born-digital "
            f"img_1..img_{260 - tc.get('bd_holdout', 0)} (web and e-mail graphics, {'a quarter' if real * bd == 0.25 else f'{real * bd:.0%}'} "
            f"of the images); img_201..250 and 261..310 never trained on")


def package(name: str, checkpoint: Path, scores: dict[str, Any] | None = None, folder: Path | None = None,
            notes: str = "", **extra: Any) -> Path:
    """Checkpoint (``rosetta train ...`` output) -> shipped model files, with a card in the sidecar."""
    import torch

    ck = torch.load(checkpoint, map_location="cpu", weights_only=False)
    meta = {"name": name, "version": time.strftime("%Y.%m.%d"), "step": ck.get("step"),
            "model_config": ck.get("model_config"), "train_config": ck.get("train_config"),
            "scores": scores or {}, "notes": notes, "data": training_data(name, ck.get("train_config")), "packaged": time.strftime("%Y-%m-%d %H:%M")}
    if "charset" in ck:
        meta["charset"] = ck["charset"]
    meta["weights"] = "weight average (EMA)" if "ema" in ck else "raw"
    if "blend" in ck:  # rosetta.train.blend: the run's weights blended toward the model it started from
        b = ck["blend"]
        meta["weights"] = f"blend: {1 - b['alpha']:g} x {b['base']} + {b['alpha']:g} x the run's {b['weights']}"
    meta.update({k: v for k, v in extra.items() if v is not None})  # e.g. the detector's score_thresh
    return save_weights(name, ck.get("ema", ck["model"]), meta, folder)


def write_card(folder: Path | None = None) -> Path:
    """``MODEL_CARD.md`` in the model folder, derived from the models' JSON sidecars."""
    folder = folder or MODEL_DIR
    lines = ["# Model card", "", "Derived from the JSON sidecars by `rosetta models card`; scores as measured "
             "(commands and dates in docs/RESULTS.md).", ""]
    for name in MODEL_NAMES:
        wpath, mpath = model_paths(name, folder)
        if not mpath.exists():
            continue
        meta = json.loads(mpath.read_text(encoding="utf-8"))
        tc = meta.get("train_config") or {}
        lines += [f"## {name}", "",
                  f"- file: `{wpath.name}` (fp16 safetensors, {wpath.stat().st_size / 1e6:.1f} MB), version {meta.get('version')}, "
                  f"packaged {meta.get('packaged')}",
                  f"- architecture: {json.dumps(meta.get('model_config'))}",
                  f"- training: {meta.get('step')} steps of batch {tc.get('batch_size')} at lr {tc.get('lr')} "
                  f"(schedule horizon {tc.get('steps')}), seed {tc.get('seed')}, device {tc.get('device')}",
                  f"- data: {meta.get('data', 'see notes')}",
                  f"- charset: {len(meta['charset'].splitlines())} characters (Latin + accents, Cyrillic, Arabic, digits, "
                  "punctuation)" if meta.get("charset") else "- charset: n/a",
                  f"- weights: {meta.get('weights', 'raw')}",
                  f"- inference settings: {json.dumps({k: meta[k] for k in ('score_thresh', 'read_score_thresh', 'size', 'upscale', 'proposals', 'min_confidence', 'dictionary_bonus') if k in meta} or 'defaults')}",
                  f"- scores: {json.dumps(meta.get('scores') or {})}",
                  f"- notes: {meta.get('notes') or '-'}", ""]
    out = folder / "MODEL_CARD.md"
    out.write_text("\n".join(lines), encoding="utf-8")
    return out


__all__ = ["write_card", "MODEL_DIR", "MODEL_NAMES", "ModelMissingError", "load_weights", "save_weights", "package", "model_paths"]
