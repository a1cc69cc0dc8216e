"""An int8 convolution on the acc16 kernel, computed as ONNX Runtime's QLinearConv computes it (NHWC uint8 in and
out): im2col per block of 64 output positions in C, the 16-bit-accumulation GEMM with its outliers and checks (or
the 32-bit one: ``kspill=0``), requantization y = saturate(rint((acc + bias) * x_scale * w_scale / y_scale) +
y_zero). On 7-bit weights its output equals QLinearConv's (tests/test_acc16.py, tests/test_acc16_recognizer.py).
No PyTorch: the layer is described by its weights, stride and padding.

>>> from rosetta.runtime.acc16 import library
>>> q = np.random.default_rng(0).integers(-64, 64, (8, 3, 3, 3)).astype(np.int8)
>>> x = np.random.default_rng(1).integers(0, 256, (2, 5, 6, 3)).astype(np.uint8)  # NHWC
>>> lib = library()
>>> if lib is not None:
...     c = Int8Conv(q, np.full(8, 0.01, np.float32), QuantParams(0.02, 0), QuantParams(0.1, 3), lib, padding=(1, 1))
...     assert c(x).shape == (2, 5, 6, 8) and np.array_equal(c(x, kspill=0), c(x))
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np

from rosetta.runtime.acc16 import Int8Gemm, Saturation


@dataclass(frozen=True)
class QuantParams:
    scale: float
    zero_point: int


class Int8Conv:
    """A convolution with int8 weights ``q`` (Cout, Cin, kh, kw) on the per-channel grid ``w_scale`` (Cout,), its
    uint8 input's and output's quantization, ``stride`` and symmetric ``padding`` (rows, columns), and a bias:
    float (``bias``, quantized as ONNX Runtime's quantizer does: rint(bias / (x_scale * w_scale))) or already int32
    on that grid (``int_bias``, as a QDQ graph stores it). ``kspill``: the default spill interval (0: acc32)."""

    def __init__(self, q: np.ndarray, w_scale: np.ndarray, x: QuantParams, y: QuantParams, lib: ctypes.CDLL,
                 bias: np.ndarray | None = None, kspill: int = 32, stride: tuple[int, int] = (1, 1),
                 padding: tuple[int, int] = (0, 0), int_bias: np.ndarray | None = None):
        if q.ndim != 4:
            raise ValueError(f"Int8Conv: weights {q.shape}, expected (Cout, Cin, kh, kw)")
        cout, cin, kh, kw = q.shape
        self.kernel, self.stride, self.padding = (kh, kw), tuple(stride), tuple(padding)
        self.cin, self.x, self.y, self.kspill, self.lib = cin, x, y, kspill, lib
        self.gemm = Int8Gemm(q.transpose(2, 3, 1, 0).reshape(kh * kw * cin, cout), lib)  # K in (ky, kx, c) order
        ws = np.asarray(w_scale, np.float32)
        if int_bias is not None:
            qbias = np.asarray(int_bias).astype(np.int64)
        elif bias is not None:
            qbias = np.rint(bias / (np.float32(x.scale) * ws)).astype(np.int64)
        else:
            qbias = np.zeros(cout, np.int64)
        colsum = q.reshape(cout, -1).astype(np.int64).sum(1)
        self.bias = (qbias - x.zero_point * colsum).astype(np.int32)  # the input zero point folded in
        self.mult = (np.float32(x.scale) * ws / np.float32(y.scale)).astype(np.float32)

    @property
    def fits_acc32(self) -> bool:
        """Whether the 32-bit kernel may run this layer (``kspill=0``): 7-bit dense weights."""
        return self.gemm.dense_fits_acc32

    def output_size(self, h: int, w: int) -> tuple[int, int]:
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        return (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1

    def __call__(self, x: np.ndarray, isa: int = 0, sat: Saturation | None = None,
                 kspill: int | None = None) -> np.ndarray:
        """uint8 (B, H, W, Cin) -> uint8 (B, Ho, Wo, Cout). ``kspill``: this call's spill interval (None: the
        layer's; 0: acc32)."""
        if x.ndim != 4 or x.shape[3] != self.cin or x.dtype != np.uint8:
            raise ValueError(f"input {x.shape} {x.dtype}: expected uint8 (B, H, W, {self.cin})")
        kspill = self.kspill if kspill is None else kspill
        x = np.ascontiguousarray(x)
        b, h, w, _ = x.shape
        ho, wo = self.output_size(h, w)
        y = np.empty((b, ho, wo, self.gemm.n), np.uint8)
        stats = np.zeros(3, np.int64)
        o = self.gemm.outliers
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        got = self.lib.acc16_conv(x, b, h, w, self.cin, kh, kw, sh, sw, ph, pw, self.x.zero_point, self.gemm.packed,
                                  self.gemm.n, self.gemm.maxabs.ctypes.data, kspill, len(o.ks), o.ks, o.ptr,
                                  o.col, o.val, self.bias, self.mult, self.y.zero_point, y, isa, stats)
        if got < 0:
            raise RuntimeError(f"int8 convolution refused (input {x.shape}, isa {isa}, kspill {kspill})")
        if sat is not None:
            sat.rows_checked += int(stats[0])
            sat.outputs += int(stats[1])
            sat.pairs += int(stats[2])
        return y


__all__ = ["Int8Conv", "QuantParams"]
