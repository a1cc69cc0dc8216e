"""The detector runtime (ONNX Runtime + NumPy, no PyTorch) against the PyTorch path, on real photos: the bundled
samples always, a few ICDAR 2015 photos (img_201..205, never trained on) when the research data is there."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from rosetta.io import load_image
from rosetta.models import MODEL_DIR
from rosetta.ops.rotated import multilevel_roi_align
from rosetta.runtime.detector import Detector
from rosetta.runtime.roi_align import roi_align
from rosetta.train.predict import TorchDetector

SAMPLES = sorted((Path(__file__).parents[1] / "src" / "rosetta" / "samples").glob("*.jpg"))
IC15 = [f"img_{i}.jpg" for i in range(201, 206)]


def match(a: np.ndarray, sa: np.ndarray, b: np.ndarray, sb: np.ndarray, px: float, deg: float, score: float) -> int:
    """How many boxes of (a, sa) have a box of (b, sb), each used once, within ``px`` pixels in centre and size,
    ``deg`` degrees (undirected) and ``score``.

    >>> x = np.array([[10, 10, 20, 5, 89.9], [50, 50, 8, 8, 0]], np.float32)
    >>> y = x[::-1].copy(); y[1, 4] = -89.9
    >>> match(x, np.ones(2), y, np.ones(2), 0.5, 0.5, 1e-3)
    2
    """
    used = np.zeros(len(b), bool)
    found = 0
    for box, s in zip(a, sa):
        turn = np.abs((b[:, 4] - box[4] + 90.0) % 180.0 - 90.0)
        ok = ((np.abs(b[:, :4] - box[:4]) <= px).all(1) & (turn <= deg) & (np.abs(sb - s) <= score) & ~used)
        if ok.any():
            used[np.flatnonzero(ok)[0]] = True
            found += 1
    return found


def photos(data_root: Path | None = None) -> list[tuple[str, np.ndarray]]:
    out = [(p.name, load_image(p)) for p in SAMPLES]
    if data_root is not None:
        out += [(n, load_image(data_root / "icdar2015_dev" / "images" / n)) for n in IC15]
    return out


@pytest.fixture(scope="module")
def ic15() -> Path:
    from rosetta.data.splits import data_root

    root = data_root()
    if not (root / "icdar2015_dev" / "images").is_dir():
        pytest.skip(f"needs the research data icdar2015_dev (not in {root}; set ROSETTA_DATA)")
    return root


@pytest.fixture(scope="module")
def runtime() -> Detector:
    return Detector.load(threads=1)


def _compare(ref: TorchDetector, run: Detector, images, px: float, deg: float, score: float) -> tuple[int, int, int]:
    """(boxes in ref, in run, matched) over ``images``; per image the counts are equal or the totals say so."""
    n_ref = n_run = n_match = 0
    for _, im in images:
        (a, sa), = ref([im])
        (b, sb), = run([im])
        assert b.dtype == np.float32 and sb.dtype == np.float32 and b.shape[1:] == (5,)
        n_ref, n_run, n_match = n_ref + len(a), n_run + len(b), n_match + match(a, sa, b, sb, px, deg, score)
    return n_ref, n_run, n_match


def _assert_same(ref: TorchDetector, run: Detector, images) -> None:
    for name, im in images:
        (a, sa), = ref([im])
        (b, sb), = run([im])
        assert len(a) == len(b), name
        assert match(a, sa, b, sb, 0.5, 0.5, 1e-3) == len(a), name


def test_runtime_equals_pytorch_on_the_samples(runtime):
    ref = TorchDetector.load(engine="torch")
    images = photos()
    assert sum(len(runtime([im])[0][0]) for _, im in images) >= 10  # the samples hold words: a real comparison
    _assert_same(ref, runtime, images)


def test_runtime_equals_pytorch_with_dense_limits_and_another_scale(runtime):
    """What rosetta.OCR's second pass for small print changes: the limits (anchors, proposals, words), the scale."""
    ref = TorchDetector.load(engine="torch").scaled(1.6, 1800).with_config(limits=(1000, 600, 600), score_thresh=0.6)
    run = runtime.scaled(1.6, 1800).with_config(limits=(1000, 600, 600), score_thresh=0.6)
    im = photos()[0][1]
    assert run.working_size(im.shape) == ref.working_size(im.shape) > 1280
    _assert_same(ref, run, photos()[:2])


@pytest.mark.data("icdar2015_dev")
def test_runtime_equals_pytorch_on_icdar2015(runtime, ic15):
    _assert_same(TorchDetector.load(engine="torch"), runtime, photos(ic15)[len(SAMPLES):])


@pytest.fixture(scope="module")
def int8_runtime() -> Detector:
    return Detector.load(int8=True, threads=1)


@pytest.mark.data("icdar2015_dev")
def test_int8_runtime_equals_the_int8_graph_with_a_float_roi_head(int8_runtime, ic15):
    """The same int8 graph for the network part and a float RoI head: the same boxes (measured: to 0.01 px)."""
    ref = TorchDetector.load(engine="int8")
    ref.model.roi_heads.head = TorchDetector.load().model.roi_heads.head  # float, as the runtime's detector_roi.onnx
    _assert_same(ref, int8_runtime, photos(ic15))


@pytest.mark.data("icdar2015_dev")
def test_int8_runtime_close_to_the_int8_engine(int8_runtime, ic15):
    """Today's int8 engine runs the RoI head's fully connected layers int8 (FBGEMM); the runtime runs them in
    float. Measured on the samples and img_201..205: the same 46 boxes, 42 within 1.5 px, 1 degree and 0.02 of
    score (median 0.2 px, largest 9 px on a 500 px wide word)."""
    n_ref, n_run, n_match = _compare(TorchDetector.load(engine="int8"), int8_runtime, photos(ic15), 1.5, 1.0, 0.02)
    assert n_ref >= 30 and abs(n_run - n_ref) <= 0.05 * n_ref and n_match >= 0.85 * n_ref


def test_settings_follow_the_card_and_with_config(runtime):
    card = json.loads((MODEL_DIR / "detector.json").read_text())
    assert runtime.config.score_thresh == card["score_thresh"] and runtime.config.size == card["size"]
    assert runtime.meta["read_score_thresh"] == card["read_score_thresh"]
    loose = runtime.with_config(score_thresh=0.3)
    assert loose.network is runtime.network and loose.config.score_thresh == 0.3
    im = photos()[0][1]
    strict, many = runtime([im])[0], loose([im])[0]
    assert len(many[0]) >= len(strict[0]) and (many[1] >= 0.3).all()
    assert runtime([np.zeros((4, 300, 3), np.uint8)])[0][0].shape == (0, 5)  # too thin for a word
    assert runtime.common_working_size([im, im, np.zeros((100, 100, 3), np.uint8)]) == runtime.working_size(im.shape)


def test_roi_align_equals_pytorch_grid_sample():
    rng = np.random.default_rng(0)
    maps = [rng.standard_normal((2, h, w, 4)).astype(np.float32) for h, w in ((40, 48), (20, 24), (10, 12))]
    k = 60
    rois = np.stack([rng.integers(0, 2, k), rng.uniform(-20, 400, k), rng.uniform(-20, 330, k), rng.uniform(4, 300, k),
                     rng.uniform(2, 120, k), rng.uniform(-90, 90, k)], 1).astype(np.float32)  # some past the edges
    levels = rng.integers(0, 3, k)
    for sr in (1, 2):
        got = roi_align(maps, rois, levels, (6, 24), [1 / 8, 1 / 16, 1 / 32], sr)
        want = multilevel_roi_align([torch.from_numpy(m).permute(0, 3, 1, 2) for m in maps], torch.from_numpy(rois),
                                    torch.from_numpy(levels), (6, 24), [1 / 8, 1 / 16, 1 / 32], sr)
        want = want.permute(0, 2, 3, 1).numpy()
        assert (want == 0).mean() > 0.01 and np.abs(want).max() > 1  # some samples fell outside, most inside
        assert np.abs(got - want).max() < 1e-5


def test_a_graph_from_other_weights_is_refused(tmp_path):
    for name in ("detector.json", "detector.onnx", "detector_roi.onnx"):
        shutil.copy(MODEL_DIR / name, tmp_path / name)
    shutil.copy(MODEL_DIR / "recognizer.safetensors", tmp_path / "detector.safetensors")  # not its weights
    with pytest.raises(ValueError, match="detector_roi.onnx was written from other weights"):
        Detector.load(tmp_path)
    (tmp_path / "detector.safetensors").unlink()  # no weights beside the graphs: nothing to check against
    assert Detector.load(tmp_path, threads=1).config.size == 1600


def test_the_runtime_does_not_import_torch():
    code = ("import sys, numpy as np, rosetta.runtime.detector as d; "
            "d.Detector.load(threads=1)([np.zeros((64, 64, 3), np.uint8)]); assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
