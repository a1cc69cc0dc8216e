"""An int8 convolution on the acc16 kernel, computed as ONNX Runtime's QLinearConv computes it (NHWC uint8 in and
out): im2col per block of 64 output positions in C, the 16-bit-accumulation GEMM with its outliers and checks,
requantization y = saturate(rint((acc + bias) * x_scale * w_scale / y_scale) + y_zero). The building block for
running the recognizer's int8 layers on the kernel; on the shipped int7 weights its output equals QLinearConv's.

>>> import torch
>>> from rosetta.quant.acc16 import library
>>> conv = torch.nn.Conv2d(3, 8, 3, 1, 1, bias=False)
>>> q = np.random.default_rng(0).integers(-64, 64, (8, 3, 3, 3)).astype(np.int8)
>>> x = np.random.default_rng(1).integers(0, 256, (2, 5, 6, 3)).astype(np.uint8)  # NHWC
>>> lib = library()
>>> if lib is not None:
...     c = Int8Conv(conv, q, np.full(8, 0.01, np.float32), QuantParams(0.02, 0), QuantParams(0.1, 3), lib)
...     assert c(x).shape == (2, 5, 6, 8)
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np
import torch

from rosetta.quant.acc16 import Int8Gemm, Saturation


@dataclass(frozen=True)
class QuantParams:
    scale: float
    zero_point: int


class Int8Conv:
    """``conv`` (an ``nn.Conv2d``: kernel, stride, padding) with int8 weights ``q`` (Cout, Cin, kh, kw) on the
    per-channel grid ``w_scale`` (Cout,), its uint8 input's and output's quantization, and a float bias (Cout,)."""

    def __init__(self, conv: torch.nn.Conv2d, q: np.ndarray, w_scale: np.ndarray, x: QuantParams, y: QuantParams,
                 lib: ctypes.CDLL, bias: np.ndarray | None = None, kspill: int = 32):
        if conv.groups != 1 or conv.dilation != (1, 1):
            raise ValueError("Int8Conv: grouped or dilated convolutions are not supported")
        cout, cin, kh, kw = q.shape
        self.kernel, self.stride, self.padding = (kh, kw), conv.stride, conv.padding
        self.cin, self.x, self.y, self.kspill, self.lib = cin, x, y, kspill, lib
        self.gemm = Int8Gemm(q.transpose(2, 3, 1, 0).reshape(kh * kw * cin, cout), lib)  # K in (ky, kx, c) order
        ws = np.asarray(w_scale, np.float32)
        qbias = np.zeros(cout, np.int64) if bias is None else np.rint(bias / (np.float32(x.scale) * ws)).astype(np.int64)
        colsum = q.reshape(cout, -1).astype(np.int64).sum(1)
        self.bias = (qbias - x.zero_point * colsum).astype(np.int32)  # the input zero point folded in
        self.mult = (np.float32(x.scale) * ws / np.float32(y.scale)).astype(np.float32)

    def output_size(self, h: int, w: int) -> tuple[int, int]:
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        return (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1

    def __call__(self, x: np.ndarray, isa: int = 0, sat: Saturation | None = None) -> np.ndarray:
        """uint8 (B, H, W, Cin) -> uint8 (B, Ho, Wo, Cout)."""
        if x.ndim != 4 or x.shape[3] != self.cin or x.dtype != np.uint8:
            raise ValueError(f"input {x.shape} {x.dtype}: expected uint8 (B, H, W, {self.cin})")
        x = np.ascontiguousarray(x)
        b, h, w, _ = x.shape
        ho, wo = self.output_size(h, w)
        y = np.empty((b, ho, wo, self.gemm.n), np.uint8)
        stats = np.zeros(3, np.int64)
        o = self.gemm.outliers
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        got = self.lib.acc16_conv(x, b, h, w, self.cin, kh, kw, sh, sw, ph, pw, self.x.zero_point, self.gemm.packed,
                                  self.gemm.n, self.gemm.maxabs.ctypes.data, self.kspill, len(o.ks), o.ks, o.ptr,
                                  o.col, o.val, self.bias, self.mult, self.y.zero_point, y, isa, stats)
        if got < 0:
            raise RuntimeError(f"acc16 convolution refused (input {x.shape}, isa {isa})")
        if sat is not None:
            sat.rows_checked += int(stats[0])
            sat.outputs += int(stats[1])
            sat.pairs += int(stats[2])
        return y


__all__ = ["Int8Conv", "QuantParams"]
