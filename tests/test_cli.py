"""The `rosetta` command end to end on bundled samples: formats, crops mode, bad inputs and exit codes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SAMPLES = Path(__file__).parents[1] / "src" / "rosetta" / "samples"


def rosetta(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rosetta.cli", *args], input=stdin, capture_output=True,
                          timeout=300, env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), "OMP_NUM_THREADS": "1"})


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("in")
    shutil.copy(SAMPLES / "sign_latin.jpg", d / "good.jpg")
    (d / "broken.jpg").write_bytes((SAMPLES / "meme.jpg").read_bytes()[:3000])
    (d / "notes.txt.png").write_text("hello")
    Image.fromarray(np.full((5, 5, 3), 255, np.uint8)).save(d / "tiny.png")
    return d


def test_read_jsonl_reports_each_bad_file_and_goes_on(inputs):
    p = rosetta("read", str(inputs), "--format", "jsonl", "--threads", "1")
    assert p.returncode == 1
    rows = [json.loads(line) for line in p.stdout.decode().splitlines()]
    by_name = {Path(r["image"]).name: r for r in rows}
    assert set(by_name) == {"good.jpg", "broken.jpg", "notes.txt.png", "tiny.png"}
    assert by_name["good.jpg"]["error"] is None and by_name["good.jpg"]["width"] == 1024
    assert by_name["tiny.png"]["error"] is None and by_name["tiny.png"]["words"] == []
    assert "truncated" in by_name["broken.jpg"]["error"]
    assert "not a readable image" in by_name["notes.txt.png"]["error"]
    err = p.stderr.decode()
    assert "broken.jpg" in err and "notes.txt.png" in err and "2 of 4 inputs failed" in err
    p = rosetta("read", str(inputs), "--format", "json", "--threads", "1")  # json keeps the failed ones too
    assert p.returncode == 1
    errors = {Path(r["image"]).name: r["error"] for r in json.loads(p.stdout)}
    assert set(errors) == set(by_name) and errors["good.jpg"] is None and "truncated" in errors["broken.jpg"]
    assert "img/s" not in err and "%|" not in err  # stderr is not a terminal: reasons only, no progress bar


def test_every_format_parses(inputs, tmp_path):
    good = str(inputs / "good.jpg")
    for fmt in ("json", "text", "tsv", "hocr", "alto"):
        out = tmp_path / f"o.{fmt}"
        p = rosetta("read", good, "--format", fmt, "-o", str(out), "--threads", "1")
        assert p.returncode == 0, p.stderr.decode()
        body = out.read_text(encoding="utf-8")
        if fmt == "json":
            assert json.loads(body)["schema"] == "rosetta.result/1"
        elif fmt in ("hocr", "alto"):
            ET.fromstring(body)
        elif fmt == "tsv":
            assert body.splitlines()[0].startswith("level\tpage_num")


def test_stdin_viz_and_usage_errors(inputs, tmp_path):
    p = rosetta("read", "-", "--format", "json", "--viz", str(tmp_path / "viz"), "--threads", "1",
                stdin=(inputs / "good.jpg").read_bytes())
    assert p.returncode == 0 and json.loads(p.stdout)["width"] == 1024
    assert list((tmp_path / "viz").glob("*.png"))
    assert rosetta("read", "--format", "nope", "x.png").returncode == 2
    assert rosetta("read").returncode == 2  # no inputs at all: usage
    empty = tmp_path / "empty"
    empty.mkdir()
    p = rosetta("read", str(empty))
    assert p.returncode == 1 and f"no images found in {empty}" in p.stderr.decode()


def test_read_crops_mode(tmp_path):
    from tests.test_recognition import render_word

    Image.fromarray(render_word("coffee", "Liberation Serif")).save(tmp_path / "w.png")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    lst = tmp_path / "list.txt"
    lst.write_text(f"{tmp_path / 'w.png'}\n{tmp_path / 'bad.png'}\n")
    p = rosetta("read", "--crops", "--list", str(lst), "--format", "jsonl")
    assert p.returncode == 1
    rows = [json.loads(line) for line in p.stdout.decode().splitlines()]
    assert rows[0]["text"].casefold() == "coffee" and 0 < rows[0]["confidence"] <= 1
    assert rows[1]["text"] is None and "bad.png" in rows[1]["error"]


def test_version_names_the_package_and_the_shipped_models():
    """`rosetta --version` and `python -m rosetta --version` (no subcommand needed, no weights loaded)."""
    import json

    from rosetta import __version__

    card = json.loads((Path(__file__).parents[1] / "src" / "rosetta" / "models" / "detector.json").read_text())
    for cmd in ([sys.executable, "-m", "rosetta", "--version"], [sys.executable, "-m", "rosetta.cli", "--version"]):
        p = subprocess.run(cmd, capture_output=True, timeout=120, text=True)
        assert p.returncode == 0, p.stderr
        assert p.stdout.startswith(f"rosetta-ocr {__version__} (detector {card['version']}, recognizer ")


def test_import_version_and_help_do_not_load_torch():
    """PyTorch takes ~2 s to import: `import rosetta` (results, image loading), `--version` and `--help` answer
    without it (they took ~3 s), and so does the reader itself (`rosetta.OCR`: ONNX Runtime, NumPy, OpenCV)."""
    probe = ("import runpy, sys; sys.argv = ['rosetta', '{arg}']\n"
             "try: runpy.run_module('rosetta', run_name='__main__')\n"
             "except SystemExit: pass\n"
             "print('TORCH', 'torch' in sys.modules)")
    for arg in ("--version", "--help"):
        p = subprocess.run([sys.executable, "-c", probe.format(arg=arg)], capture_output=True, timeout=120, text=True)
        assert p.stdout.strip().endswith("TORCH False"), (arg, p.stdout[-200:], p.stderr[-500:])
    code = "import sys, rosetta; a = 'torch' in sys.modules; rosetta.OCR; print(a, 'torch' in sys.modules)"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120, text=True)
    assert p.stdout.split() == ["False", "False"], p.stderr[-500:]
