"""The int8 recognizer's graph (``recognizer.int8.onnx``, QDQ format) run with the acc16 kernel: a session-like
executor whose outputs equal ONNX Runtime's on the same graph, used only where it is faster (chosen at load).

The graph is read into steps (:mod:`rosetta.runtime.acc16_graph`; needs the ``onnx`` package the first time on a
machine, then cached): the float front (the stem convolution, its ReLU, the
first QuantizeLinear) as a small ONNX Runtime session that hands NHWC uint8 on; every DequantizeLinear -> Conv ->
QuantizeLinear as one int8 convolution (:class:`rosetta.runtime.int8_conv.Int8Conv`, bit-identical to the
QLinearConv ONNX Runtime fuses it into, or that QLinearConv itself in NHWC: per layer, whichever is faster);
every DequantizeLinear x 2 -> Add -> QuantizeLinear (the residuals) as a small ONNX Runtime session (the QLinearAdd
ONNX Runtime fuses it into: exact by construction, elementwise so indifferent to the layout); the tail (Squeeze,
Transpose and Q/DQ pairs of the same grid) as one dequantization of the last uint8 tensor in NHWC, which is already
the logits' (B, T, C) order. No PyTorch.

:func:`int8_recognizer_session` makes the choice once per machine (graph digest, CPU, threads, ONNX Runtime
version) and caches it as JSON under the cache folder ($ROSETTA_CACHE or ~/.cache/rosetta): per layer, Int8Conv
(acc16 at a few spill intervals, or acc32) or ONNX Runtime's QLinearConv, each checked equal to ONNX Runtime's
output on the sample; then the whole executor against the whole ONNX Runtime graph on the sample batch. The
executor is taken only if it is faster; otherwise, or where it cannot run (no ``onnx``, no C compiler or built
kernel, no AVX2), the plain ONNX Runtime session is returned.

>>> from rosetta.runtime.acc16_recognizer import offered
>>> isinstance(offered(), bool)
True
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from rosetta.runtime.acc16 import library_or_build
from rosetta.runtime.acc16_graph import (MODEL, ConvSpec, GraphSpec, UnsupportedGraph, load_spec, ort_session,
                                          read_graph, save_spec, step_inputs)
from rosetta.runtime.choose import time_candidates
from rosetta.runtime.files import cache_folder, cpu_model
from rosetta.runtime.int8_conv import Int8Conv

log = logging.getLogger(__name__)

CACHE_FILE = "acc16_choice.json"
EXECUTOR, ORT = "acc16 executor", "ONNX Runtime int8 graph"
ORT_LAYER = "ort"  # a layer run by ONNX Runtime's QLinearConv


@dataclass(frozen=True)
class Acc16Config:
    rounds: int = 3  # timed rounds per candidate (interleaved, after one warm-up), per layer and for the whole
    kspills: tuple[int, ...] = (16, 32, 64)  # acc16 spill intervals tried; acc32 is tried too
    margin: float = 0.02  # the executor is taken only when at least this much faster than ONNX Runtime's graph
    layer_batch: int = 8  # the per-layer choice runs on this many of the sample's crops (the whole on all)


def offered() -> bool:
    """Whether ONNX Runtime is here (the executor also needs the kernel library, looked for or built at load,
    and, the first time on a machine, ``onnx`` to read the graph)."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


# ----------------------------------------------------------------------------- the executor
class Acc16Recognizer:
    """Session-like: ``run(None, {"x": (B, 1, 32, W) float32}) -> [logits (B, T, C) float32]``, equal to ONNX
    Runtime's run of the same int8 graph. ``layers``: name -> path per convolution ("acc16/k{n}", "acc32" or
    "ort"; default acc16 with a spill every 32 steps of K)."""

    def __init__(self, spec: GraphSpec, lib, threads: int = 1, layers: dict[str, str] | None = None,
                 disabled: Sequence[str] = ()):
        self.spec, self.threads, self.disabled = spec, threads, tuple(disabled)
        self.front = ort_session(spec.front, threads, self.disabled)
        self.convs: dict[str, Int8Conv] = {}
        self.adds: dict[str, Any] = {}
        self.ort: dict[str, Any] = {}  # ONNX Runtime sessions of the layers that run there
        self.paths: dict[str, str] = {}
        for st in spec.steps:
            if isinstance(st, ConvSpec):
                self.convs[st.name] = Int8Conv(st.q, st.w_scale, st.xq, st.yq, lib, stride=st.stride,
                                               padding=st.padding, int_bias=st.bias)
                self.set_path(st, (layers or {}).get(st.name, "acc16/k32"))
            else:
                self.adds[st.name] = ort_session(st.model, threads, self.disabled)
        self.last_use = {t: i for i, st in enumerate(spec.steps) for t in step_inputs(st)}

    def get_inputs(self) -> list:
        """The graph's input (``x``), as ONNX Runtime's session describes it."""
        return self.front.get_inputs()

    @property
    def conv_specs(self) -> list[ConvSpec]:
        return [st for st in self.spec.steps if isinstance(st, ConvSpec)]

    @property
    def layers(self) -> dict[str, str]:
        return dict(self.paths)

    def set_path(self, st: ConvSpec, path: str) -> None:
        if path == ORT_LAYER:
            if st.name not in self.ort:
                self.ort[st.name] = ort_session(st.ort_model, self.threads, self.disabled)
        elif path != "acc32" and not path.startswith("acc16/k"):
            raise ValueError(f"{st.name}: unknown path {path!r}")
        else:
            self.ort.pop(st.name, None)
        self.paths[st.name] = path

    def conv(self, st: ConvSpec, x: np.ndarray, path: str | None = None) -> np.ndarray:
        """One convolution, NHWC uint8 in and out, on ``path`` (default: the layer's)."""
        path = path or self.paths[st.name]
        if path == ORT_LAYER:
            sess = self.ort.get(st.name) or ort_session(st.ort_model, self.threads, self.disabled)
            self.ort[st.name] = sess
            return sess.run(None, {"x_nhwc": x})[0]
        return self.convs[st.name](x, kspill=0 if path == "acc32" else int(path.split("/k")[1]))

    def run(self, output_names: Sequence[str] | None, feed: dict[str, np.ndarray],
            on_step: Callable[[Any, dict], None] | None = None) -> list[np.ndarray]:
        """The logits of ``feed["x"]``; ``on_step(step, tensors)`` is called before each step (for the choice)."""
        spec = self.spec
        t = {spec.front_out: self.front.run(None, {"x": np.ascontiguousarray(feed["x"], dtype=np.float32)})[0]}
        for i, st in enumerate(spec.steps):
            if on_step is not None:
                on_step(st, t)
            if isinstance(st, ConvSpec):
                t[st.y] = self.conv(st, t[st.x])
            else:
                t[st.y] = self.adds[st.name].run(None, {st.a: t[st.a], st.b: t[st.b]})[0]
            for name in step_inputs(st):
                if self.last_use[name] == i:
                    t.pop(name, None)
        q = t[spec.exit]
        if q.shape[1] != 1:
            raise ValueError(f"the last int8 tensor has height {q.shape[1]}, expected 1")
        logits = (q[:, 0].astype(np.int32) - spec.exit_q.zero_point).astype(np.float32) * np.float32(spec.exit_q.scale)
        return [logits]


# ----------------------------------------------------------------------------- the choice at load
def choice_key(path: Path, threads: int) -> str:
    import onnxruntime as ort

    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    return f"{digest}|{cpu_model()}|threads={threads}|ort={ort.__version__}"


def default_sample(batch: int = 32, width: int = 128, seed: int = 0) -> np.ndarray:
    """A stand-in batch (B, 1, 32, W) in [-1, 1] when no real crops are given: light background, dark strokes.
    Real crops give a more faithful choice (the saturation checks depend on the activations)."""
    rng = np.random.default_rng(seed)
    x = np.ones((batch, 1, 32, width), np.float32)
    for b in range(batch):
        for _ in range(width // 8):
            r, c = int(rng.integers(6, 24)), int(rng.integers(0, width - 4))
            x[b, 0, r - 6:r + 6, c:c + int(rng.integers(1, 4))] = -1.0
    return x + rng.normal(0, 0.05, x.shape).astype(np.float32)


def choose_layers(ex: Acc16Recognizer, sample: np.ndarray, config: Acc16Config,
                  clock: Callable[[], float]) -> dict[str, dict[str, float]]:
    """Per convolution, the fastest exact path on the sample's real inputs (Int8Conv at each spill interval,
    acc32, ONNX Runtime's QLinearConv); a path whose output differs from ONNX Runtime's is dropped (logged)."""
    seconds: dict[str, dict[str, float]] = {}

    def on_step(st, t):
        if not isinstance(st, ConvSpec):
            return
        x = t[st.x]
        ref = ex.conv(st, x, ORT_LAYER)
        paths = [f"acc16/k{k}" for k in config.kspills] + (["acc32"] if ex.convs[st.name].fits_acc32 else [])
        ok = [ORT_LAYER]
        for p in paths:
            if np.array_equal(ex.conv(st, x, p), ref):
                ok.append(p)
            else:
                log.warning("%s: %s differs from ONNX Runtime's QLinearConv on the sample; not used", st.name, p)
        secs = time_candidates({p: (lambda p=p: ex.conv(st, x, p)) for p in ok}, config.rounds, clock,
                               warmup=False)  # each ran once above
        ex.set_path(st, min(secs, key=secs.__getitem__))
        seconds[st.name] = secs

    ex.run(None, {"x": sample}, on_step=on_step)
    return seconds


def int8_recognizer_session(path: Path | None = None, threads: int = 1, sample: np.ndarray | None = None,
                            config: Acc16Config = Acc16Config(), disabled: Sequence[str] = (),
                            cache: Path | None = None, ort_graph: Any = None):
    """The fastest exact runner of the int8 recognizer graph at ``path`` here: :class:`Acc16Recognizer` when it
    beats ONNX Runtime's session of the whole graph on ``sample`` (B, 1, 32, W) float32 (default:
    :func:`default_sample`), else that session (``ort_graph`` if given). Timed once per (graph, CPU, threads,
    ONNX Runtime version); the choice is cached in ``cache`` (default: the cache folder)/acc16_choice.json, the
    graph's steps beside it (so later loads need neither the timing nor ``onnx``)."""
    path = Path(path or MODEL)
    cache = Path(cache or cache_folder())
    make_ort = lambda: ort_graph if ort_graph is not None else ort_session(str(path), threads, disabled)
    if not offered():
        raise ImportError("onnxruntime is needed to run the int8 recognizer")
    lib = library_or_build(cache)
    if lib is None:
        log.info("int8 recognizer: no acc16 kernel here (not built, no compiler, or no AVX2); ONNX Runtime runs it")
        return make_ort()
    key = choice_key(path, threads)
    store = cache / CACHE_FILE
    known = _read_json(store)
    spec_file = cache / f"acc16-graph-{key.split('|')[0]}.npz"
    if key in known:
        entry = known[key]
        if entry["use"] != EXECUTOR:
            return make_ort()
        spec = _spec(path, spec_file)
        return Acc16Recognizer(spec, lib, threads, entry["layers"], disabled) if spec is not None else make_ort()
    try:
        spec = _spec(path, spec_file)
    except UnsupportedGraph as exc:  # for good: remembered, so later loads do not read the graph again
        log.warning("int8 recognizer: %s; ONNX Runtime runs the graph", exc)
        _remember(store, key, {"use": ORT, "reason": str(exc), "date": time.strftime("%Y-%m-%d %H:%M")})
        return make_ort()
    if spec is None:
        return make_ort()
    ort_sess = make_ort()
    entry = time_choice(spec, lib, threads, sample, config, disabled, ort_sess)
    _remember(store, key, entry)
    log.info("int8 recognizer: %s (%.2fx ONNX Runtime's graph; timed in %.1f s, cached in %s)", entry["use"],
             entry["speedup"], entry["timing_seconds"], store)
    if entry["use"] == EXECUTOR:
        return Acc16Recognizer(spec, lib, threads, entry["layers"], disabled)
    return ort_sess


def _spec(path: Path, spec_file: Path) -> GraphSpec | None:
    """The graph's steps: from the cache, else read (needs ``onnx``) and cached; None (logged) without ``onnx``;
    :class:`UnsupportedGraph` for a graph of another shape."""
    if spec_file.exists():
        try:
            return load_spec(spec_file)
        except (OSError, ValueError, KeyError) as exc:
            log.warning("%s: unreadable (%s); reading the graph again", spec_file, exc)
    try:
        spec = read_graph(path)
    except ImportError:
        log.info("int8 recognizer: the onnx package is not installed; ONNX Runtime runs the graph")
        return None
    save_spec(spec, spec_file)
    return spec


def time_choice(spec: GraphSpec, lib, threads: int, sample: np.ndarray | None, config: Acc16Config,
                disabled: Sequence[str], ort_sess) -> dict:
    """Time the per-layer paths and then the whole executor against ``ort_sess`` (ONNX Runtime's session of the
    whole graph) on ``sample``: the entry to cache. CPU time at one thread, wall time at several."""
    t0 = time.perf_counter()
    clock = time.process_time if threads == 1 else time.perf_counter
    sample = default_sample() if sample is None else np.ascontiguousarray(sample, dtype=np.float32)
    ex = Acc16Recognizer(spec, lib, threads, None, disabled)
    layer_seconds = choose_layers(ex, sample[:config.layer_batch], config, clock)
    ref = ort_sess.run(None, {"x": sample})[0]
    got = ex.run(None, {"x": sample})[0]
    exact = bool(np.array_equal(ref, got))
    whole = time_candidates({EXECUTOR: lambda: ex.run(None, {"x": sample}),
                             ORT: lambda: ort_sess.run(None, {"x": sample})}, config.rounds, clock)
    use = EXECUTOR if exact and whole[EXECUTOR] * (1 + config.margin) < whole[ORT] else ORT
    if not exact:
        log.warning("the acc16 executor's logits differ from ONNX Runtime's on the sample (max %.3g); not used",
                    float(np.abs(ref - got).max()))
    return {"use": use, "layers": ex.layers, "seconds": whole, "speedup": whole[ORT] / whole[EXECUTOR],
            "layer_seconds": layer_seconds, "exact": exact, "sample": list(sample.shape),
            "clock": "cpu" if threads == 1 else "wall", "timing_seconds": round(time.perf_counter() - t0, 2),
            "date": time.strftime("%Y-%m-%d %H:%M")}


def _remember(store: Path, key: str, entry: dict) -> None:
    known = _read_json(store)  # another process may have written meanwhile
    known[key] = entry
    _write_json(store, known)


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


__all__ = ["Acc16Config", "Acc16Recognizer", "CACHE_FILE", "EXECUTOR", "ORT", "ORT_LAYER", "cache_folder", "choice_key",
           "choose_layers", "cpu_model", "default_sample", "int8_recognizer_session", "offered", "time_choice"]
