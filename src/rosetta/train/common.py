"""Training plumbing shared by the trainers: atomic checkpoints, resume, schedule, logging, threads.

>>> round(warmup_cosine(0, 100, 10), 3), round(warmup_cosine(10, 100, 10), 3), round(warmup_cosine(100, 100, 10), 3)
(0.1, 1.0, 0.05)
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

log = logging.getLogger(__name__)


def set_threads(n: int) -> None:
    """Pin intra-op threads (training in the background runs at 1 thread)."""
    torch.set_num_threads(max(1, n))
    os.environ.setdefault("OMP_NUM_THREADS", str(n))


def ignore_stop_signals(_worker_id: int = 0) -> None:
    """DataLoader ``worker_init_fn``: workers leave SIGTERM/SIGINT to the trainer, which finishes its step,
    writes the checkpoint and stops them (a ``pkill -f`` that reaches a worker must not crash the run)."""
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def warmup_cosine(step: int, total: int, warmup: int, floor: float = 0.05) -> float:
    """LR multiplier: linear warm-up to 1, cosine decay to ``floor`` at ``total`` (then flat)."""
    if step < warmup:
        return max(floor, (step + 1) / max(1, warmup)) if warmup else 1.0
    p = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p))


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write atomically (tmp + rename) so a kill mid-write never corrupts the last checkpoint. The optimizer's
    moment estimates are stored in bfloat16 (:func:`compact_optimizer_state`): a resumable checkpoint of the
    2.7 M-parameter recognizer then fits the repository's 40 MB file limit (32 MB, 43 in float32)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    if "opt" in state:
        state = {**state, "opt": compact_optimizer_state(state["opt"])}
    torch.save(state, tmp)
    tmp.replace(path)


def compact_optimizer_state(opt_state: dict[str, Any]) -> dict[str, Any]:
    """An optimizer state dict with its float32 per-parameter tensors (Adam's moments) in bfloat16; the
    optimizer casts them back to each parameter's dtype when it loads them, so resuming needs nothing else.

    >>> p = torch.nn.Parameter(torch.ones(3))
    >>> opt = torch.optim.AdamW([p])
    >>> p.grad = torch.full((3,), 0.5); opt.step()
    >>> small = compact_optimizer_state(opt.state_dict())
    >>> small["state"][0]["exp_avg"].dtype
    torch.bfloat16
    >>> opt2 = torch.optim.AdamW([p]); opt2.load_state_dict(small); opt2.state[p]["exp_avg"].dtype
    torch.float32
    """
    state = {k: ({n: (v.to(torch.bfloat16) if torch.is_tensor(v) and v.dtype == torch.float32 and v.dim() > 0 else v)
                  for n, v in per.items()})
             for k, per in opt_state["state"].items()}
    return {**opt_state, "state": state}


def pack_checkpoint(src: Path, dst: Path) -> Path:
    """The checkpoint a run resumes from, made small enough to commit: weights and their average in float16, the
    optimizer's moments in bfloat16 (as saved). Resuming from it (``--resume`` after copying it to ``OUT/last.pt``)
    continues the same schedule at the same step; the weights lose only float16's rounding.

    >>> import tempfile
    >>> m = torch.nn.Linear(4, 2); opt = torch.optim.AdamW(m.parameters())
    >>> d = Path(tempfile.mkdtemp())
    >>> save_checkpoint(d / "last.pt", {"model": m.state_dict(), "ema": dict(m.state_dict()), "opt": opt.state_dict(), "step": 7})
    >>> ck = load_checkpoint(pack_checkpoint(d / "last.pt", d / "packed.pt"))
    >>> ck["model"]["weight"].dtype, ck["ema"]["bias"].dtype, ck["step"]
    (torch.float16, torch.float16, 7)
    """
    ck = load_checkpoint(src)
    for key in ("model", "ema"):
        if key in ck:
            ck[key] = {k: v.half() if v.is_floating_point() else v for k, v in ck[key].items()}
    save_checkpoint(Path(dst), ck)
    return Path(dst)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A training checkpoint (``.pt``), or a shipped model (``NAME.safetensors`` beside its ``NAME.json``) as
    a checkpoint holding only its weights (float32) and ``model_config``: fine-tuning starts from either."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        meta = json.loads(path.with_suffix(".json").read_text())
        return {"model": {k: v.float() for k, v in load_file(str(path)).items()},
                "model_config": meta.get("model_config") or {}}
    return torch.load(path, map_location="cpu", weights_only=False)


def setup_logging(log_file: Path | None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", handlers=handlers, force=True)


class Every:
    """True once every ``seconds`` of wall time (checkpoint cadence)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.last = time.monotonic()

    def __call__(self) -> bool:
        now = time.monotonic()
        if now - self.last >= self.seconds:
            self.last = now
            return True
        return False


class WeightEMA:
    """Exponential moving average of a model's weights (Polyak averaging). Evaluated and shipped
    instead of the raw weights: it smooths out the step-to-step noise of a high learning rate.

    >>> m = torch.nn.Linear(1, 1, bias=False)
    >>> ema = WeightEMA(m, decay=0.5)
    >>> with torch.no_grad():
    ...     _ = m.weight.fill_(1.0)
    >>> ema.reset(m); _ = m.weight.data.fill_(3.0); ema.update(m)
    >>> float(ema.state_dict()["weight"])
    2.0
    """

    def __init__(self, model: torch.nn.Module, decay: float = 0.999):
        self.decay = decay
        self.reset(model)

    def reset(self, model: torch.nn.Module) -> None:
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        for k, v in model.state_dict().items():
            s = self.shadow[k]
            if v.dtype.is_floating_point:
                s.mul_(self.decay).add_(v.detach(), alpha=1 - self.decay)
            else:  # counters (BatchNorm's num_batches_tracked)
                s.copy_(v)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.shadow

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Load an average; half-precision copies (a packed checkpoint, :func:`pack_checkpoint`) come back as float32."""
        self.shadow = {k: v.detach().float() if v.is_floating_point() else v.detach().clone() for k, v in state.items()}

    @contextmanager
    def applied(self, model: torch.nn.Module):
        """Swap the averaged weights into ``model`` for the block (evaluation), then swap back."""
        backup = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(self.shadow)
        try:
            yield model
        finally:
            model.load_state_dict(backup)


def restore(model: torch.nn.Module, opt: torch.optim.Optimizer, last: Path | None,
            init: str | Path | dict[str, Any] | None, ema: WeightEMA | None = None) -> tuple[int, float]:
    """Resume from ``last`` (weights, optimizer, weight average, step, best score) when it exists, else
    initialise from the matching tensors of checkpoint ``init`` (a path, or the checkpoint already loaded;
    fine-tuning; its weight average when it has one: the weights that were evaluated and shipped). Returns
    (step, best).
    A checkpoint without a weight average starts ``ema`` from its weights."""
    if last is not None and last.exists():
        ck = load_checkpoint(last)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        if ema is not None:
            ema.load_state_dict(ck["ema"]) if "ema" in ck else ema.reset(model)
        step, best = ck["step"], ck.get("best", -1.0)
        if ema is not None and "ema" not in ck:
            best = -1.0  # scores of the raw weights do not rank the averaged ones
        log.info("resumed from %s at step %d (best %.4f)", last, step, best)
        return step, best
    if init:
        ck = init if isinstance(init, dict) else load_checkpoint(Path(init))
        own = model.state_dict()
        weights = {k: v for k, v in (ck.get("ema") or ck["model"]).items() if k in own and own[k].shape == v.shape}
        model.load_state_dict(weights, strict=False)
        log.info("initialised %d/%d tensors%s", len(weights), len(own),
                 "" if isinstance(init, dict) else f" from {init}")
    if ema is not None:
        ema.reset(model)
    return 0, -1.0


def append_eval(out: Path, step: int, res: dict) -> None:
    """One line of the run's learning curve, ``OUT/evals.jsonl``."""
    with open(out / "evals.jsonl", "a") as fh:
        fh.write(json.dumps({"step": step, "time": time.time(), **res}) + "\n")
