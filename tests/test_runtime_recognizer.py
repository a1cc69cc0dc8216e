"""The recognizer runtime (ONNX Runtime + NumPy, no PyTorch) reads as the PyTorch model does, and refuses stale graphs."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from rosetta.models import MODEL_DIR
from rosetta.recognition import model as torch_model
from rosetta.runtime import preprocess
from rosetta.runtime.recognizer import DecodeConfig, Recognizer
from rosetta.train.predict import TorchRecognizer

SRC = Path(__file__).resolve().parents[1] / "src"
TORCH_SIDE = ("torch", "rosetta.detection", "rosetta.recognition", "rosetta.ops", "rosetta.backbones",
              "rosetta.quant", "rosetta.train", "rosetta.data", "rosetta.engine", "rosetta.graphs", "rosetta.ocr")


@pytest.fixture(scope="module")
def runtime() -> Recognizer:
    return Recognizer.load()


@pytest.fixture(scope="module")
def pytorch() -> TorchRecognizer:
    return TorchRecognizer.load(engine="torch")


def _agree(a: list[tuple[str, float]], b: list[tuple[str, float]]) -> tuple[float, float]:
    """(share of identical texts, largest confidence difference) of two reads of the same crops."""
    same = np.mean([x[0] == y[0] for x, y in zip(a, b)])
    return float(same), max(abs(x[1] - y[1]) for x, y in zip(a, b))


def _real_crops(dataset: str, n: int) -> list[np.ndarray]:
    from rosetta.data.splits import crop_split

    return [cv2.imread(str(p), cv2.IMREAD_COLOR_RGB) for p, _ in crop_split(dataset, "train")[:n]]


def test_runtime_imports_and_reads_without_pytorch():
    code = ("import sys, numpy as np\n"
            "import rosetta.runtime.recognizer as r\n"
            "rec = r.Recognizer.load()\n"
            "text = rec([np.full((32, 90, 3), 255, np.uint8)])[0][0]\n"
            "r.Recognizer.load(int8=True)\n"
            f"bad = [m for m in sys.modules if m.split('.')[0] == 'torch' or m.startswith({TORCH_SIDE[1:]!r})]\n"
            "assert not bad, bad\n"
            "print(repr(text))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "''"


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_two_halves_import_only_their_side():
    """No module under runtime/ imports PyTorch or a PyTorch-side package, and the model package recognition/
    imports neither the runtime nor quantization, training, data or engines (anywhere in the file)."""
    for path in sorted((SRC / "rosetta" / "runtime").glob("*.py")):
        bad = [m for m in _imports(path) if m == "torch" or m.startswith(TORCH_SIDE)]
        assert not bad, (path.name, bad)
    for path in sorted((SRC / "rosetta" / "recognition").glob("*.py")):
        bad = [m for m in _imports(path) if m.startswith(("rosetta.runtime", "rosetta.quant", "rosetta.train",
                                                          "rosetta.data", "rosetta.engine"))]
        assert not bad, (path.name, bad)


def test_numpy_twins_match_the_model():
    assert preprocess.HEIGHT == torch_model.HEIGHT
    widths = np.arange(0, 2000)
    assert preprocess.output_lengths(widths).tolist() == torch_model.output_lengths(torch.from_numpy(widths)).tolist()
    x, w = preprocess.pad_batch([preprocess.to_input(np.zeros((20, 33), np.uint8))])
    assert x.dtype == np.float32 and x.shape == (1, 1, 32, 56) and w.tolist() == [53]


def test_graph_logits_equal_the_pytorch_model_on_rendered_and_blank_batches(runtime, pytorch):
    rng = np.random.default_rng(0)
    inputs = [preprocess.to_input(rng.integers(0, 255, (32, w), dtype=np.uint8)) for w in (8, 37, 120, 400)]
    x, _ = preprocess.pad_batch(inputs)
    a, b = runtime.network(x), pytorch.network(x)
    assert a.shape == b.shape == (4, 100, pytorch.charset.num_classes)
    assert np.abs(a - b).max() < 1e-3
    assert (a.argmax(-1) == b.argmax(-1)).all()


def test_sample_words_read_the_same(runtime, pytorch):
    from rosetta.runtime.detector import Detector
    from rosetta.geometry import rotated_crop
    from rosetta.io import load_image

    images = [load_image(p) for p in sorted((resources.files("rosetta") / "samples").iterdir())]
    crops = [rotated_crop(img, box) for img, (boxes, _) in zip(images, Detector.load()(images)) for box in boxes]
    assert len(crops) >= 15
    for scripts in (None, ("cyrillic",)):
        a, b = runtime(crops, scripts), pytorch(crops, scripts)
        assert [t for t, _ in a] == [t for t, _ in b]
        assert max(abs(x[1] - y[1]) for x, y in zip(a, b)) < 1e-3
    assert sum(bool(t) for t, _ in a) >= 10  # real words, not blanks


@pytest.mark.data("iiit5k_train", "icdar2015_wordrec_train")
def test_real_crops_read_the_same_as_pytorch(runtime, pytorch):
    crops = _real_crops("iiit5k_train", 200) + _real_crops("icdar2015_wordrec_train", 200)
    same, conf = _agree(runtime(crops), pytorch(crops))
    assert same >= 0.995, same
    # measured 1.2e-6; a graph whose BatchNorms were folded before its float16 rounding gives 9.6e-4
    assert conf < 1e-4, conf
    beam = DecodeConfig(beam_width=4)
    lexicon = ["PRIVATE", "STOP", "SALE", "HOTEL", "PARKING", "EXIT"]
    a = Recognizer.load(decode=beam, lexicon=lexicon)(crops[200:300])
    b = TorchRecognizer.load(decode=beam, lexicon=lexicon)(crops[200:300])
    assert _agree(a, b)[0] >= 0.99


@pytest.mark.data("iiit5k_train", "icdar2015_wordrec_train")
def test_int8_runtime_reads_as_the_int8_engine():
    crops = _real_crops("iiit5k_train", 100) + _real_crops("icdar2015_wordrec_train", 100)
    a = Recognizer.load(int8=True)(crops)
    b = TorchRecognizer.load(engine="int8")(crops)
    assert [t for t, _ in a] == [t for t, _ in b]
    assert max(abs(x[1] - y[1]) for x, y in zip(a, b)) < 1e-6


def test_stale_or_missing_graphs_are_refused(tmp_path):
    for f in ("recognizer.onnx", "recognizer.json", "recognizer.safetensors", "recognizer.int8.onnx",
              "recognizer.int8.json"):
        shutil.copy(MODEL_DIR / f, tmp_path)
    assert Recognizer.load(tmp_path).engine == "onnx"
    with open(tmp_path / "recognizer.safetensors", "ab") as fh:  # other weights than the graphs came from
        fh.write(b"\0")
    with pytest.raises(ValueError, match="other weights.*rosetta.graphs.recognizer"):
        Recognizer.load(tmp_path)
    with pytest.raises(ValueError, match="other weights.*rosetta quantize"):
        Recognizer.load(tmp_path, int8=True)
    (tmp_path / "recognizer.safetensors").unlink()  # a graph-only folder: the graph is the model
    assert Recognizer.load(tmp_path)([np.full((32, 90), 255, np.uint8)])[0][0] == ""
    (tmp_path / "recognizer.onnx").unlink()
    with pytest.raises(FileNotFoundError, match="rosetta.graphs.recognizer"):
        Recognizer.load(tmp_path)
