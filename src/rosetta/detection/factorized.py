"""A 3x3 convolution as a 3x1 convolution into ``rank`` channels then a 1x3 one out of them (Jaderberg, Vedaldi and
Zisserman 2014, "Speeding up convolutional neural networks with low rank expansions", scheme 2).

The detector's neck and RPN head run 64 -> 64 3x3 convolutions on the stride-8 maps, about 40% of its time on a
photo at 1600 px; through ``rank`` channels a pair costs ``6 * rank / (9 * 64)`` of one (a half at rank 48).
:func:`factorized_state` starts a factorized detector from a full one: the best rank-``rank`` approximation of each
kernel (an SVD of the kernel as a (C_in * 3) x (C_out * 3) matrix), to be fine-tuned from there.

>>> full = nn.Conv2d(8, 6, 3, padding=1)
>>> pair = conv3x3(8, 6, rank=24)   # full rank (8 * 3): the pair computes the same function
>>> _ = pair.load_state_dict(factorized_state({"weight": full.weight, "bias": full.bias}, 24, ("",)))
>>> x = torch.randn(1, 8, 10, 12)
>>> bool(torch.allclose(pair(x), full(x), atol=1e-5))
True
"""

from __future__ import annotations

import torch
import torch.nn as nn

# the 3x3 convolutions a factorized detector has as pairs: the neck's smoothing and the RPN head's shared conv
FACTORIZED_PREFIXES = ("neck.smooth.", "rpn.head.conv.")


class Conv3x3Pair(nn.Module):
    """(B, C_in, H, W) -> (B, C_out, H, W): a 3x1 convolution (C_in -> rank, no bias) then a 1x3 one (rank -> C_out),
    zero padding: the same receptive field and output size as ``nn.Conv2d(c_in, c_out, 3, 1, 1)``."""

    def __init__(self, c_in: int, c_out: int, rank: int):
        super().__init__()
        self.v = nn.Conv2d(c_in, rank, (3, 1), padding=(1, 0), bias=False)
        self.h = nn.Conv2d(rank, c_out, (1, 3), padding=(0, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.h(self.v(x))


def conv3x3(c_in: int, c_out: int, rank: int = 0) -> nn.Module:
    """A stride-1, zero-padded 3x3 convolution: full (``rank`` 0) or as a :class:`Conv3x3Pair` through ``rank``
    channels."""
    return Conv3x3Pair(c_in, c_out, rank) if rank else nn.Conv2d(c_in, c_out, 3, 1, 1)


def pair_weights(weight: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The best (least-squares) rank-``rank`` pair for a 3x3 kernel (C_out, C_in, 3, 3): the 3x1 kernel
    (rank, C_in, 3, 1) and the 1x3 kernel (C_out, rank, 1, 3) whose composition approximates it."""
    n, c = weight.shape[:2]
    m = weight.detach().float().permute(1, 2, 0, 3).reshape(c * 3, n * 3)  # rows (c_in, y), columns (c_out, x)
    u, s, vh = torch.linalg.svd(m, full_matrices=False)  # (3C, K), (K,), (K, 3N)
    k = min(rank, len(s))
    root = s[:k].sqrt()
    left = u[:, :k] * root  # (3C, k)
    right = root[:, None] * vh[:k]  # (k, 3N)
    v = torch.zeros(rank, c, 3, 1)
    h = torch.zeros(n, rank, 1, 3)
    v[:k] = left.reshape(c, 3, k).permute(2, 0, 1)[..., None]  # (3C, k) -> (C, 3, k) -> (k, C, 3) -> (k, C, 3, 1)
    h[:, :k] = right.reshape(k, n, 3).permute(1, 0, 2)[:, :, None, :]  # (k, 3N) -> (k, N, 3) -> (N, k, 3) -> (N, k, 1, 3)
    return v.to(weight.dtype), h.to(weight.dtype)


def factorized_state(state: dict[str, torch.Tensor], rank: int,
                     prefixes: tuple[str, ...] = FACTORIZED_PREFIXES) -> dict[str, torch.Tensor]:
    """``state`` with each full 3x3 kernel under ``prefixes`` (``P.weight``, ``P.bias``) replaced by its
    rank-``rank`` pair (``P.v.weight``, ``P.h.weight``, ``P.h.bias``); every other tensor as it is."""
    out: dict[str, torch.Tensor] = {}
    moved: set[str] = set()  # the biases that went to their pair's 1x3 conv
    for key, value in state.items():
        base = key[:-len("weight")] if key.endswith("weight") else None
        if (base is not None and key.startswith(prefixes) and value.ndim == 4 and value.shape[2:] == (3, 3)
                and value.shape[1] > 1):
            out[base + "v.weight"], out[base + "h.weight"] = pair_weights(value, rank)
            if base + "bias" in state:
                out[base + "h.bias"] = state[base + "bias"]
                moved.add(base + "bias")
        else:
            out[key] = value
    return {k: v for k, v in out.items() if k not in moved}

__all__ = ["Conv3x3Pair", "FACTORIZED_PREFIXES", "conv3x3", "factorized_state", "pair_weights"]
