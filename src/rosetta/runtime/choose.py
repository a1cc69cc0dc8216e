"""Per-layer choice of the int8 kernel by a short timing on the machine at hand: the acc16 kernel with its
outliers (at a few spill intervals), the acc32 kernel, or what runs now (ONNX Runtime). Candidates are timed
interleaved, in rounds; each keeps its best round (CPU time of this process by default, so a busy neighbour on a
shared host disturbs the choice less; wall time where several threads work); the fastest wins, so the choice is
never slower than the best candidate as measured. No PyTorch (the runtime's side; :mod:`rosetta.quant.choose`
adds the PyTorch and ONNX-building candidates for the benchmarks).

>>> slow = lambda: sum(range(20000))
>>> fast = lambda: None
>>> choice = choose({"slow": slow, "fast": fast}, ChooserConfig(rounds=3))
>>> choice.path, sorted(choice.seconds)
('fast', ['fast', 'slow'])
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np


@dataclass(frozen=True)
class ChooserConfig:
    rounds: int = 5  # timed rounds per candidate (interleaved), after one untimed warm-up call
    kspills: tuple[int, ...] = (16, 32, 64)  # acc16 spill intervals tried (steps of K)


@dataclass(frozen=True)
class Choice:
    path: str  # the winning candidate's name
    seconds: dict[str, float] = field(default_factory=dict)  # best round of each candidate

    def speedup_over(self, other: str) -> float:
        """How many times faster the choice is than ``other``."""
        return self.seconds[other] / self.seconds[self.path]


def time_candidates(candidates: Mapping[str, Callable[[], object]], rounds: int = 5,
                    clock: Callable[[], float] = time.process_time, warmup: bool = True) -> dict[str, float]:
    """Best seconds (of ``clock``: CPU time by default) of each candidate over ``rounds`` interleaved rounds (one
    warm-up call each first, unless the caller already ran them)."""
    for f in candidates.values() if warmup else ():
        f()
    best = {name: float("inf") for name in candidates}
    for _ in range(rounds):
        for name, f in candidates.items():
            t = clock()
            f()
            best[name] = min(best[name], clock() - t)
    return best


def choose(candidates: Mapping[str, Callable[[], object]], config: ChooserConfig = ChooserConfig(),
           clock: Callable[[], float] = time.process_time) -> Choice:
    """The fastest of ``candidates`` (name -> a call running the layer once)."""
    if not candidates:
        raise ValueError("nothing to choose from")
    seconds = time_candidates(candidates, config.rounds, clock)
    return Choice(min(seconds, key=seconds.__getitem__), seconds)


def kernel_candidates(gemm, a: np.ndarray, config: ChooserConfig = ChooserConfig()) -> dict[str, Callable[[], object]]:
    """Our kernels on one layer (:class:`rosetta.runtime.acc16.Int8Gemm`, ``a`` its (M, padded K) uint8 inputs):
    ``acc16/k{kspill}`` for each spill interval, and ``acc32`` when the dense part fits it. All are exact."""
    out = np.empty((a.shape[0], gemm.n), np.int32)
    cands: dict[str, Callable[[], object]] = {f"acc16/k{k}": (lambda k=k: gemm.acc16(a, kspill=k, out=out))
                                              for k in config.kspills}
    if gemm.dense_fits_acc32:
        cands["acc32"] = lambda: gemm.acc32(a, out=out)
    return cands


__all__ = ["Choice", "ChooserConfig", "choose", "kernel_candidates", "time_candidates"]
