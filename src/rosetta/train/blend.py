"""Weight-space blending of a fine-tuned recognizer with the model it was grown from (WiSE-FT).

A run started from the shipped recognizer (``--init shipped``, :mod:`rosetta.train.grow`) learns new things (a
deeper model, Vietnamese letters) and forgets a little of the old (Cyrillic, Arabic). Because the grown start reads
exactly as the old model, the straight line between the two weight sets runs between the old model's reading and
the new one's: ``alpha`` = 0 is the old model, 1 the fine-tuned one, and a point in between often keeps most of the
gain and most of what was forgotten (Wortsman et al., "Robust fine-tuning of zero-shot models", 2022). ``alpha`` is
a setting like any other: choose it on validation sets.

BatchNorm statistics are blended with the weights. A block added by the growth keeps the run's weights, except
its last BatchNorm's scale and shift, which started at zero and are blended from there: the block's contribution is
scaled down with ``alpha`` (its other start weights were random, so blending toward them would mean nothing).

>>> import torch
>>> a = {"w": torch.zeros(2), "n": torch.tensor(3)}
>>> b = {"w": torch.ones(2), "n": torch.tensor(9)}
>>> blend_states(a, b, 0.25)["w"].tolist(), int(blend_states(a, b, 0.25)["n"])
([0.25, 0.25], 9)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from rosetta.charset import Charset
from rosetta.recognition.model import CTCRecognizer, RecognizerConfig
from rosetta.train.common import load_checkpoint
from rosetta.train.grow import added_tensors, grow_state
from rosetta.train.recognizer import init_weights


def blend_states(base: dict[str, torch.Tensor], tuned: dict[str, torch.Tensor], alpha: float,
                 keep: set[str] = frozenset()) -> dict[str, torch.Tensor]:
    """``(1 - alpha) * base + alpha * tuned`` for every floating tensor (in ``tuned``'s dtype); integer tensors
    (BatchNorm's batch counters) and the names in ``keep`` from ``tuned``. Both dicts must hold the same names
    and shapes."""
    if set(base) != set(tuned):
        raise ValueError(f"cannot blend: tensors differ ({sorted(set(base) ^ set(tuned))[:4]} ...)")
    out = {}
    for name, t in tuned.items():
        b = base[name]
        if b.shape != t.shape:
            raise ValueError(f"cannot blend {name}: {tuple(b.shape)} vs {tuple(t.shape)}")
        blend = t.is_floating_point() and name not in keep
        out[name] = torch.lerp(b.float(), t.float(), alpha).to(t.dtype) if blend else t.clone()
    return out


def blended_checkpoint(checkpoint: Path, alpha: float, base: str = "shipped") -> dict[str, Any]:
    """The recognizer training checkpoint at ``checkpoint`` with its weight average (``ema``, else ``model``)
    blended toward ``base`` (``shipped``, a model folder or a checkpoint, grown to its architecture and charset as
    the run's ``--init`` was), ready for ``rosetta models package``. The optimizer state is dropped: a blend is
    for shipping, not for resuming."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    ck = load_checkpoint(Path(checkpoint))
    charset = Charset.from_text(ck["charset"])
    model = CTCRecognizer(RecognizerConfig(**ck["model_config"]))
    key = "ema" if "ema" in ck else "model"
    src, src_charset = init_weights(base)
    fresh = model.state_dict()
    start = grow_state(fresh, src, src_charset, charset)
    out = {k: v for k, v in ck.items() if k not in ("opt", "model", "ema")}
    out["model"] = blend_states(start, ck[key], alpha, keep=added_tensors(fresh, src))
    out["blend"] = {"alpha": alpha, "base": base, "weights": key}
    return out


__all__ = ["blend_states", "blended_checkpoint"]
