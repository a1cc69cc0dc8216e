"""Outlier-aware int8 GEMM with 16-bit accumulation: the native kernel (``native/acc16.c``) behind numpy.

An int8 weight matrix ``q`` (K, N) is split into a dense part that fits 7 bits ([-64, 63]) and a sparse matrix of
the rest (:func:`split_outliers`): ``a @ q = a @ dense + a @ sparse``. The dense product runs with 16-bit
accumulation (``vpmaddubsw`` + ``vpaddsw``, spilled to int32 every ``kspill`` steps of K), the outliers in int32.
Rows that could saturate are found by a bound and recomputed exactly, and counted (:class:`Saturation`), so every
result equals the int32 product. :meth:`Int8Gemm.acc32` is the 32-bit kernel on the same split, to compare with.

The library is built by the package's build (``setup.py``, optional: no compiler, no kernel) or by
:func:`compile_library`; :func:`library` is None when neither happened (callers keep ONNX Runtime's path).

>>> rng = np.random.default_rng(0)
>>> a = rng.integers(0, 256, (5, 37), dtype=np.uint8)
>>> q = rng.integers(-127, 128, (37, 9)).astype(np.int8)
>>> lib = library()
>>> if lib is not None:
...     g = Int8Gemm(q, lib)
...     out, sat = g.acc16(a, kspill=8)
...     assert np.array_equal(out, reference_gemm(a, q)) and np.array_equal(g.acc32(a), out)
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import shutil
import subprocess
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

log = logging.getLogger(__name__)

SOURCE = Path(__file__).parent / "native" / "acc16.c"
DENSE_RANGE = (-64, 63)  # 7 bits: two uint8 x 7-bit products fit int16 (2 x 255 x 64 = 32,640)
ISA_NAMES = {0: "none", 2: "avx2", 3: "avx512bw"}
MAX_SIDE = 4096  # the kernel's largest K and N (its per-row scratch lives on the stack)

_u8p = np.ctypeslib.ndpointer(np.uint8, flags="C_CONTIGUOUS")
_i8p = np.ctypeslib.ndpointer(np.int8, flags="C_CONTIGUOUS")
_i32p = np.ctypeslib.ndpointer(np.int32, flags="C_CONTIGUOUS")
_i16p = np.ctypeslib.ndpointer(np.int16, flags="C_CONTIGUOUS")
_i64p = np.ctypeslib.ndpointer(np.int64, flags="C_CONTIGUOUS")
_f32p = np.ctypeslib.ndpointer(np.float32, flags="C_CONTIGUOUS")
_c = ctypes


def _declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    lib.acc16_isa.restype = _c.c_int
    lib.acc16_isa.argtypes = []
    lib.acc16_gemm.restype = _c.c_int
    lib.acc16_gemm.argtypes = [_u8p, _c.c_long, _c.c_int, _c.c_int, _i8p, _c.c_int, _c.c_void_p, _c.c_int,
                               _c.c_int, _i32p, _i32p, _i32p, _i16p, _i32p, _c.c_long, _c.c_int, _i64p]
    lib.acc16_conv.restype = _c.c_int
    lib.acc16_conv.argtypes = [_u8p] + [_c.c_int] * 11 + [_i8p, _c.c_int, _c.c_void_p, _c.c_int, _c.c_int, _i32p, _i32p,
                                                       _i32p, _i16p, _i32p, _f32p, _c.c_int, _u8p, _c.c_int, _i64p]
    lib.acc32_gemm.restype = _c.c_int
    lib.acc32_gemm.argtypes = [_u8p, _c.c_long, _c.c_int, _c.c_int, _i8p, _c.c_int, _c.c_int, _i32p, _i32p,
                               _i32p, _i16p, _i32p, _c.c_long, _c.c_int]
    return lib


def built_paths() -> list[Path]:
    """Where a built library may be: $ROSETTA_ACC16_LIB, then beside the source (``setup.py build_ext``)."""
    env = os.environ.get("ROSETTA_ACC16_LIB")
    found = sorted(SOURCE.parent.glob("_acc16*" + (sysconfig.get_config_var("SHLIB_SUFFIX") or ".so")))
    return ([Path(env)] if env else []) + found


def load(path: Path) -> ctypes.CDLL | None:
    """The library at ``path``, or None when it cannot run here (no AVX2) or is a stale build (logged)."""
    try:
        lib = _declare(ctypes.CDLL(str(path)))
    except (OSError, AttributeError) as exc:
        log.warning("%s: cannot use this acc16 library (%s); rebuild it (setup.py build_ext)", path, exc)
        return None
    if lib.acc16_isa() < 2:
        log.info("%s: this CPU has no AVX2; the acc16 kernel is off", path)
        return None
    return lib


_LIB: list[ctypes.CDLL | None] = []


def library() -> ctypes.CDLL | None:
    """The built kernel library (loaded once), or None when none was built or the CPU lacks AVX2."""
    if not _LIB:
        paths = [p for p in built_paths() if p.exists()]
        _LIB.append(load(paths[0]) if paths else None)
    return _LIB[0]


def compile_library(dest: Path, cc: str | None = None) -> Path | None:
    """Compile ``native/acc16.c`` into ``dest`` with the system C compiler; None (logged) if there is none or
    it fails. For development trees and tests; installed packages get it from ``setup.py``."""
    cc = cc or os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        log.warning("no C compiler found: the acc16 kernel is not built")
        return None
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / "libacc16.so"
    cmd = [cc, "-O3", "-shared", "-fPIC", "-o", str(out), str(SOURCE), "-lm"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as exc:  # the compiler named is not there
        log.warning("building the acc16 kernel failed (%s): %s", " ".join(cmd), exc)
        return None
    if done.returncode != 0:
        log.warning("building the acc16 kernel failed (%s): %s", " ".join(cmd), done.stderr.strip()[-2000:])
        return None
    return out


def library_or_build(folder: Path) -> ctypes.CDLL | None:
    """The built library (:func:`library`), else one compiled once into ``folder`` (named by the source's digest,
    so an edited source is rebuilt), else None: no compiler, or no AVX2 here."""
    lib = library()
    if lib is not None:
        return lib
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:16]
    dest = Path(folder) / f"acc16-{digest}"
    built = dest / "libacc16.so"
    if not built.exists():
        tmp = dest.with_name(f"{dest.name}.tmp{os.getpid()}")  # built aside, then moved: never half a file
        done = compile_library(tmp)
        if done is None:
            return None
        dest.mkdir(parents=True, exist_ok=True)
        os.replace(done, built)
        shutil.rmtree(tmp, ignore_errors=True)
    return load(built)


def isa(lib: ctypes.CDLL) -> str:
    """The instruction set the library picks on this CPU: 'avx2' or 'avx512bw'."""
    return ISA_NAMES[lib.acc16_isa()]


# ----------------------------------------------------------------------------- the weights' split
class Outliers(NamedTuple):
    """The sparse part, CSR over the rows k of W that hold any outlier."""
    ks: np.ndarray  # (R,) int32: rows of W with outliers
    ptr: np.ndarray  # (R + 1,) int32
    col: np.ndarray  # (nnz,) int32
    val: np.ndarray  # (nnz,) int16

    @property
    def nnz(self) -> int:
        return int(self.col.size)

    def dense(self, shape: tuple[int, int]) -> np.ndarray:
        """(K, N) int32 matrix of the outliers."""
        out = np.zeros(shape, np.int32)
        for i, k in enumerate(self.ks):
            out[k, self.col[self.ptr[i]:self.ptr[i + 1]]] = self.val[self.ptr[i]:self.ptr[i + 1]]
        return out


def split_outliers(q: np.ndarray, lo: int = DENSE_RANGE[0], hi: int = DENSE_RANGE[1]) -> tuple[np.ndarray, Outliers]:
    """``q`` (K, N) integer weights -> (dense int8 clipped to [lo, hi], outliers q - dense), q = dense + outliers.

    >>> d, o = split_outliers(np.array([[1, 100], [-100, 2]]))
    >>> d.tolist(), o.nnz, o.dense((2, 2)).tolist()
    ([[1, 63], [-64, 2]], 2, [[0, 37], [-36, 0]])
    """
    q = np.asarray(q)
    dense = np.clip(q, lo, hi).astype(np.int8)
    rows, cols = np.nonzero((q < lo) | (q > hi))  # row-major order: CSR by k
    rest = q[rows, cols].astype(np.int32) - dense[rows, cols]
    ks, counts = np.unique(rows, return_counts=True)
    ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return dense, Outliers(ks.astype(np.int32), ptr, cols.astype(np.int32), rest.astype(np.int16))


def outlier_share(q: np.ndarray, lo: int = DENSE_RANGE[0], hi: int = DENSE_RANGE[1]) -> float:
    """Share of the weights outside [lo, hi].

    >>> outlier_share(np.array([0, 63, 64, -64, -65]))
    0.4
    """
    q = np.asarray(q)
    return float(((q < lo) | (q > hi)).mean())


def padded_depth(k: int) -> int:
    """K rounded up to the kernels' step of 4."""
    return (k + 3) // 4 * 4


def pad_activations(a: np.ndarray) -> np.ndarray:
    """(M, K) uint8 -> (M, padded_depth(K)) C-contiguous, zeros beyond K (no copy when already so)."""
    m, k = a.shape
    kp = padded_depth(k)
    if kp == k:
        return np.ascontiguousarray(a, dtype=np.uint8)
    out = np.zeros((m, kp), np.uint8)
    out[:, :k] = a
    return out


def pack(dense: np.ndarray, group: int = 4, width: int = 16) -> np.ndarray:
    """(K, N) int8 -> panels of ``width`` columns, K in groups of ``group``: (N/width, K/group, width, group),
    zero-padded. Both kernels read group 4, width 16 (one 64-byte panel row per step of 4 in K)."""
    k, n = dense.shape
    kp, npad = padded_depth(k), -(-n // width) * width
    w = np.zeros((kp, npad), np.int8)
    w[:k, :n] = dense
    # (Kp, Np) -> (Kp/g, g, Np/w, w) -> (Np/w, Kp/g, w, g)
    return np.ascontiguousarray(w.reshape(kp // group, group, npad // width, width).transpose(2, 0, 3, 1))


@dataclass
class Saturation:
    """What the 16-bit accumulation would have got wrong (all of it corrected): rows checked (a spill block's
    bound exceeded int16), outputs with a spill block whose 16-bit sum saturated, product pairs vpmaddubsw
    saturated."""
    rows_checked: int = 0
    outputs: int = 0
    pairs: int = 0


class Int8Gemm:
    """One layer's int8 weights ``q`` (K, N), split and packed for both kernels."""

    def __init__(self, q: np.ndarray, lib: ctypes.CDLL, dense_range: tuple[int, int] = DENSE_RANGE):
        if q.ndim != 2 or not (0 < q.shape[0] <= MAX_SIDE and 0 < q.shape[1] <= MAX_SIDE):
            raise ValueError(f"weights {q.shape}: the kernel takes (K, N) with 1 <= K, N <= {MAX_SIDE}")
        self.lib, self.k, self.n = lib, q.shape[0], q.shape[1]
        dense, self.outliers = split_outliers(q, *dense_range)
        self.packed = pack(dense)
        maxabs = np.zeros(padded_depth(self.k), np.uint8)
        maxabs[:self.k] = np.abs(dense.astype(np.int16)).max(1)
        self.maxabs = maxabs
        self.dense_fits_acc32 = bool(maxabs.max(initial=0) <= 64)

    def _a(self, a: np.ndarray) -> np.ndarray:
        """(M, K) uint8, or (M, padded K) already zero beyond K (as an im2col can write it, no copy)."""
        if a.ndim != 2 or a.shape[1] not in (self.k, padded_depth(self.k)):
            raise ValueError(f"activations {a.shape} for a layer of depth {self.k}")
        return pad_activations(a) if a.shape[1] == self.k else np.ascontiguousarray(a, dtype=np.uint8)

    def acc16(self, a: np.ndarray, kspill: int = 16, isa: int = 0, out: np.ndarray | None = None,
              check: bool = True, sat: Saturation | None = None) -> tuple[np.ndarray, Saturation]:
        """``a`` (M, K or padded K) uint8 -> (a @ q as int32 (M, N), saturation counts). ``kspill``: steps of K
        between spills to int32 (a multiple of 4; each int16 lane sums kspill / 2 products). ``check=False``
        skips the saturation bound (results may then be saturated: for measuring its cost only)."""
        a = self._a(a)
        m = a.shape[0]
        out = np.empty((m, self.n), np.int32) if out is None else out
        stats = np.zeros(3, np.int64)
        o = self.outliers
        got = self.lib.acc16_gemm(a, a.shape[1], m, a.shape[1], self.packed, self.n,
                                  self.maxabs.ctypes.data if check else None, kspill, len(o.ks), o.ks, o.ptr,
                                  o.col, o.val, out, self.n, isa, stats)
        if got < 0:
            raise RuntimeError(f"acc16 kernel refused (isa {isa}, kspill {kspill}, K {a.shape[1]})")
        sat = sat or Saturation()
        sat.rows_checked += int(stats[0])
        sat.outputs += int(stats[1])
        sat.pairs += int(stats[2])
        return out, sat

    def acc32(self, a: np.ndarray, isa: int = 0, out: np.ndarray | None = None) -> np.ndarray:
        """``a`` (M, K or padded K) uint8 -> a @ q as int32 (M, N) (32-bit accumulation)."""
        if not self.dense_fits_acc32:
            raise ValueError("acc32: dense weights must be 7-bit (|w| <= 64): vpmaddubsw pairs would saturate")
        a = self._a(a)
        m = a.shape[0]
        out = np.empty((m, self.n), np.int32) if out is None else out
        o = self.outliers
        if self.lib.acc32_gemm(a, a.shape[1], m, a.shape[1], self.packed, self.n, len(o.ks), o.ks, o.ptr, o.col,
                               o.val, out, self.n, isa) < 0:
            raise RuntimeError(f"acc32 kernel refused (isa {isa}, K {a.shape[1]})")
        return out


def reference_gemm(a: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Exact a @ q as int32 (int64 products summed; the reference the kernels must equal)."""
    return (a.astype(np.int64) @ np.asarray(q).astype(np.int64)).astype(np.int32)


def emulate_acc16(a: np.ndarray, dense: np.ndarray, kspill: int) -> tuple[np.ndarray, int, int]:
    """What the acc16 kernel's instructions compute for a @ dense with no check: ((M, N) int32, saturated where
    the 16-bit sums overflow; the number of outputs with a saturated spill block; the number of pairs vpmaddubsw
    saturated). Per step of 4 in K, each column's two int16 lanes take a0*w0 + a1*w1 and a2*w2 + a3*w3
    (saturated), added with saturation; every ``kspill`` steps both lanes go into int32. Slow numpy, for tests
    of small sizes."""
    a = pad_activations(a).astype(np.int64)
    d = np.zeros((a.shape[1], dense.shape[1]), np.int64)
    d[:dense.shape[0]] = dense
    total = np.zeros((a.shape[0], d.shape[1]), np.int64)
    lanes = [np.zeros_like(total), np.zeros_like(total)]
    exact = np.zeros_like(total)
    hit = np.zeros(total.shape, bool)
    pairs = 0
    for k in range(0, a.shape[1], 2):
        pair = a[:, k, None] * d[k] + a[:, k + 1, None] * d[k + 1]
        pairs += int(((pair < -32768) | (pair > 32767)).sum())
        lane = lanes[(k // 2) % 2]
        lane[:] = np.clip(lane + np.clip(pair, -32768, 32767), -32768, 32767)
        exact += pair
        if (k + 2) % kspill == 0 or k + 2 == a.shape[1]:
            block = lanes[0] + lanes[1]
            hit |= block != exact
            total += block
            lanes[0][:] = lanes[1][:] = exact[:] = 0
    return total.astype(np.int32), int(hit.sum()), pairs


__all__ = ["DENSE_RANGE", "Int8Gemm", "Outliers", "Saturation", "compile_library", "emulate_acc16", "isa", "library",
           "library_or_build", "load", "outlier_share", "pack", "pad_activations", "padded_depth", "reference_gemm",
           "split_outliers"]
