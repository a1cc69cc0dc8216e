"""The reader without PyTorch: ``rosetta.OCR()`` imports no torch, and sessions made from the cached rewritten
graph compute what the shipped graph computes."""

import os
import subprocess
import sys

import numpy as np

from rosetta.models import MODEL_DIR
from rosetta.runtime.sessions import optimized_path, session


def test_ocr_reads_without_importing_torch(tmp_path):
    code = ("import sys, rosetta; ocr = rosetta.OCR(); r = ocr('%s'); "
            "print(' '.join(w.text for w in r.words)); print('torch' in sys.modules)"
            % (MODEL_DIR.parent / "samples" / "sign_latin.jpg"))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "ROSETTA_CACHE": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-2000:]
    words, torch_loaded = done.stdout.strip().splitlines()[-2:]
    assert "COFFEE" in words.split() and torch_loaded == "False"


def test_the_cached_rewritten_graph_computes_the_same(tmp_path, monkeypatch):
    monkeypatch.setenv("ROSETTA_CACHE", str(tmp_path))
    graph = MODEL_DIR / "recognizer.onnx"
    cached = optimized_path(graph)
    assert cached is not None and not cached.exists()
    x = np.random.default_rng(0).uniform(-1, 1, (3, 1, 32, 72)).astype(np.float32)
    first = session(graph).run(None, {"x": x})[0]  # rewrites the graph and keeps it
    assert cached.exists()
    again = session(graph).run(None, {"x": x})[0]  # loaded from the cache, not rewritten
    np.testing.assert_allclose(again, first, rtol=0, atol=1e-5)
    cached.write_bytes(b"not a graph")  # a damaged cache file is rewritten, not fatal
    np.testing.assert_allclose(session(graph).run(None, {"x": x})[0], first, rtol=0, atol=1e-5)
    monkeypatch.setenv("ROSETTA_CACHE", "")
    assert optimized_path(graph) is None
