"""The int8 recognizer graph on the acc16 kernel (rosetta.runtime.acc16_recognizer): the same logits as ONNX
Runtime's session of the graph on real crops, every per-layer path included; the choice at load takes ONNX
Runtime when the executor is slower and is cached; the runtime modules import no PyTorch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")

from rosetta.io import load_image  # noqa: E402
from rosetta.runtime.decode import greedy_decode, log_softmax  # noqa: E402
from rosetta.runtime.preprocess import pad_batch, to_input  # noqa: E402
from rosetta.runtime import acc16_graph as ag  # noqa: E402
from rosetta.runtime import acc16_recognizer as ar  # noqa: E402

SAMPLES = Path(ar.__file__).resolve().parent.parent / "samples"


@pytest.fixture(scope="module")
def spec():
    return ag.read_graph(ag.MODEL)


@pytest.fixture(scope="module")
def ort_graph():
    return ag.ort_session(str(ag.MODEL), 1)


def sample_crops() -> list[np.ndarray]:
    """The bundled sample images whole and cut into horizontal strips: real text at several aspect ratios."""
    crops = []
    for p in sorted(SAMPLES.glob("*.jpg")):
        img = load_image(p)
        h = img.shape[0]
        crops += [img] + [img[i * h // 4:(i + 1) * h // 4] for i in range(4)]
    return crops


def batches(crops: list[np.ndarray], size: int = 32) -> list[np.ndarray]:
    """Batches of similar width, as the recognizer forms them (sorted by width, 32 at most)."""
    inputs = sorted((to_input(c) for c in crops), key=lambda x: x.shape[1])
    return [pad_batch(inputs[i:i + size])[0] for i in range(0, len(inputs), size)]


MIXED = ("acc16/k16", "acc32", "ort", "acc16/k64", "acc16/k32")


def assert_same_reading(ex, ort_graph, crops):
    for x in batches(crops):
        ref = ort_graph.run(None, {"x": x})[0]
        got = ex.run(None, {"x": x})[0]
        assert got.shape == ref.shape and got.dtype == np.float32
        assert np.abs(got - ref).max() <= 1e-6, np.abs(got - ref).max()
        texts = lambda lg: [greedy_decode(lp)[0] for lp in log_softmax(lg, -1)]
        assert texts(got) == texts(ref)


def test_executor_equals_onnxruntime_on_samples(lib, spec, ort_graph):
    """Every path (acc16 at three spill intervals, acc32, ORT's QLinearConv per layer) gives ORT's logits."""
    layers = {c.name: MIXED[i % len(MIXED)] for i, c in enumerate(s for s in spec.steps if isinstance(s, ag.ConvSpec))}
    ex = ar.Acc16Recognizer(spec, lib, 1, layers)
    assert set(ex.layers.values()) == set(MIXED)
    assert_same_reading(ex, ort_graph, sample_crops())
    for w in (8, 12):  # the narrowest inputs (MIN_WIDTH): two or three columns after the stem and stage 1
        x = np.random.default_rng(w).uniform(-1, 1, (3, 1, 32, w)).astype(np.float32)
        assert np.array_equal(ex.run(None, {"x": x})[0], ort_graph.run(None, {"x": x})[0])
    assert [i.name for i in ex.get_inputs()] == ["x"]


@pytest.mark.data("iiit5k_train", "icdar2015_wordrec_train")
def test_executor_equals_onnxruntime_on_real_crops(lib, spec, ort_graph):
    from rosetta.data.crops import load_crops

    crops = load_crops("iiit5k_train", "train").images[:50] + load_crops("icdar2015_wordrec_train", "train").images[:50]
    ex = ar.Acc16Recognizer(spec, lib, 1)  # acc16 with a spill every 32 everywhere
    assert_same_reading(ex, ort_graph, crops)
    layers = {c.name: MIXED[(i + 2) % len(MIXED)] for i, c in enumerate(ex.conv_specs)}
    assert_same_reading(ar.Acc16Recognizer(spec, lib, 1, layers), ort_graph, crops[::3])


def test_spec_round_trip(spec, tmp_path):
    """The steps saved to the cache read back the same (later loads need no onnx)."""
    ag.save_spec(spec, tmp_path / "g.npz")
    back = ag.load_spec(tmp_path / "g.npz")
    assert back.front == spec.front and back.exit == spec.exit and back.exit_q == spec.exit_q
    for a, b in zip(spec.steps, back.steps, strict=True):
        assert type(a) is type(b) and a.name == b.name
        if isinstance(a, ag.ConvSpec):
            assert np.array_equal(a.q, b.q) and np.array_equal(a.bias, b.bias) and a.stride == b.stride
            assert a.xq == b.xq and a.yq == b.yq and a.ort_model == b.ort_model


def test_other_graphs_are_refused_and_left_to_onnxruntime(lib, tmp_path):
    """A graph of another shape (the int8 detector) is not read; the session asked for is then ONNX Runtime's."""
    det = ag.MODEL.with_name("detector.int8.onnx")
    with pytest.raises(ag.UnsupportedGraph):
        ag.read_graph(det)
    got = ar.int8_recognizer_session(det, threads=1, cache=tmp_path)
    assert type(got).__name__ == "InferenceSession"
    entry = next(iter(json.loads((tmp_path / ar.CACHE_FILE).read_text()).values()))
    assert entry["use"] == ar.ORT and entry["reason"]  # remembered: the next load does not read the graph again


@pytest.mark.parametrize("missing", ["kernel", "onnx"])
def test_without_kernel_or_onnx_onnxruntime_runs_the_graph(lib, monkeypatch, tmp_path, missing):
    """No kernel (no compiler, no AVX2) or no onnx to read the graph: ONNX Runtime's session, nothing cached."""
    if missing == "kernel":
        monkeypatch.setattr(ar, "library_or_build", lambda folder: None)
    else:
        monkeypatch.setattr(ar, "library_or_build", lambda folder: lib)

        def no_onnx(path):
            raise ImportError("No module named 'onnx'")
        monkeypatch.setattr(ar, "read_graph", no_onnx)
    got = ar.int8_recognizer_session(threads=1, cache=tmp_path)
    assert type(got).__name__ == "InferenceSession" and not (tmp_path / ar.CACHE_FILE).exists()


def _fake_timing(executor_seconds: float, calls: list):
    def fake(candidates, rounds=5, clock=None, warmup=True):
        calls.append(sorted(candidates))
        for f in candidates.values():
            f()  # the candidates still run once (their outputs are what is checked)
        if ar.EXECUTOR in candidates:
            return {ar.EXECUTOR: executor_seconds, ar.ORT: 1.0}
        return {name: (0.5 if name != "ort" else 1.0) for name in candidates}
    return fake


@pytest.mark.parametrize("executor_seconds,expected", [(2.0, "InferenceSession"), (0.5, "Acc16Recognizer")])
def test_choice_takes_the_faster_and_caches_it(lib, monkeypatch, tmp_path, executor_seconds, expected):
    """Forced slower (timing patched), the executor is not taken; the choice is cached and reused untimed."""
    calls: list = []
    monkeypatch.setattr(ar, "time_candidates", _fake_timing(executor_seconds, calls))
    monkeypatch.setattr(ar, "library_or_build", lambda folder: lib)
    x = batches(sample_crops()[:8])[0]
    got = ar.int8_recognizer_session(threads=1, sample=x, cache=tmp_path)
    assert type(got).__name__ == expected
    assert sorted([ar.EXECUTOR, ar.ORT]) in calls  # the whole graphs were compared
    entry = next(iter(json.loads((tmp_path / ar.CACHE_FILE).read_text()).values()))
    assert entry["use"] == (ar.ORT if executor_seconds > 1 else ar.EXECUTOR) and entry["exact"]
    assert all(p != "ort" for p in entry["layers"].values())  # ours was faster on every layer (patched)
    calls.clear()
    again = ar.int8_recognizer_session(threads=1, sample=x, cache=tmp_path)
    assert type(again).__name__ == expected and calls == []  # cached: no timing


def test_runtime_imports_no_torch_and_cached_load_needs_no_onnx(lib, spec, tmp_path):
    """The runtime modules import no PyTorch; with the choice cached, a load imports neither PyTorch nor onnx."""
    key = ar.choice_key(ag.MODEL, 1)
    ag.save_spec(spec, tmp_path / f"acc16-graph-{key.split('|')[0]}.npz")
    layers = {c.name: "acc16/k32" for c in spec.steps if isinstance(c, ag.ConvSpec)}
    (tmp_path / ar.CACHE_FILE).write_text(json.dumps({key: {"use": ar.EXECUTOR, "layers": layers}}))
    code = ("import sys, numpy as np\n"
            "import rosetta.runtime.acc16, rosetta.runtime.acc16_graph, rosetta.runtime.int8_conv\n"
            "import rosetta.runtime.choose\n"
            "from rosetta.runtime.acc16_recognizer import int8_recognizer_session\n"
            f"s = int8_recognizer_session(threads=1, cache={str(tmp_path)!r})\n"
            "out = s.run(None, {'x': np.zeros((2, 1, 32, 64), np.float32)})[0]\n"
            "print(type(s).__name__, out.shape, 'torch' in sys.modules, 'onnx' in sys.modules)\n")
    env = {**os.environ, "PYTHONPATH": str(Path(ar.__file__).resolve().parents[2])}  # (builds the kernel if need be)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["Acc16Recognizer", "(2,", "16,", str(spec.steps[-1].q.shape[0]) + ")", "False",
                                   "False"], done.stdout
