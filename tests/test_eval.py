"""ICDAR 2015 protocol (don't-care, one-to-one, e2e text) and the `rosetta eval` commands on small folders."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from rosetta.eval import evaluate_images
from tests.test_recognition import render_word

SQ = [[0, 0], [10, 0], [10, 10], [0, 10]]


def _shift(q, dx):
    return [[x + dx, y] for x, y in q]


def test_dont_care_one_to_one_and_e2e_text():
    gt = [{"points": SQ, "text": "EXIT."}, {"points": _shift(SQ, 50), "text": "###", "ignore": True}]
    det = [{"points": SQ, "text": "exit"}, {"points": SQ, "text": "exit"},  # a duplicate: one match only
           {"points": _shift(SQ, 50), "text": "zz"}]  # on the don't-care region: dropped, not a false positive
    r = evaluate_images([gt], [det])
    assert r["counts"] == {"gt": 1, "det": 2, "match": 1, "e2e_match": 1}
    assert r["det"]["precision"] == 0.5 and r["det"]["recall"] == 1.0
    r = evaluate_images([gt], [[{"points": _shift(SQ, 4), "text": "exit"}]])  # IoU 0.43 < 0.5: a miss
    assert r["counts"]["match"] == 0
    assert evaluate_images([[]], [[]])["det"]["hmean"] == 0.0


@pytest.mark.slow
def test_eval_recognizer_and_ocr_commands(tmp_path):
    rec = tmp_path / "rec"
    (rec / "crops").mkdir(parents=True)
    words = ["STATION", "coffee", "hello", "2024", "OPEN", "garden"]
    with open(rec / "labels.jsonl", "w") as fh:
        for i, w in enumerate(words):
            Image.fromarray(render_word(w, "DejaVu Sans", 36)).save(rec / "crops" / f"{i}.png")
            fh.write(json.dumps({"image": f"crops/{i}.png", "text": w}) + "\n")
    p = subprocess.run([sys.executable, "-m", "rosetta.cli", "eval", "recognizer", "--data", str(rec)],
                       capture_output=True, timeout=300)
    res = json.loads(p.stdout)
    assert p.returncode == 0 and res["n"] == 6 and res["word_acc"] >= 0.5
    ocr = tmp_path / "ocr"
    (ocr / "images").mkdir(parents=True)
    src = Path(__file__).parents[1] / "src" / "rosetta" / "samples" / "sign_latin.jpg"
    (ocr / "images" / "img_1.jpg").write_bytes(src.read_bytes())
    (ocr / "gt.jsonl").write_text(json.dumps({"image": "images/img_1.jpg", "words": [
        {"points": [[707, 387], [869, 412], [862, 456], [700, 431]], "text": "EXIT", "ignore": False}]}) + "\n")
    p = subprocess.run([sys.executable, "-m", "rosetta.cli", "eval", "ocr", "--data", str(ocr), "--images", "1"],
                       capture_output=True, timeout=300)
    res = json.loads(p.stdout)
    assert p.returncode == 0 and res["images"] == 1 and res["counts"]["gt"] == 1
    assert set(res) >= {"det", "e2e", "s_per_image", "peak_rss_mb"}


@pytest.mark.slow
def test_detector_tuning_refuses_the_validation_images():
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).parents[1] / "scripts" / "tune_detector.py"
    r = subprocess.run([sys.executable, str(script), "src/rosetta/models", "--images", "190-210"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "validation images" in r.stderr


@pytest.mark.slow
def test_tune_ocr_refuses_validation_images():
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).parents[1] / "scripts" / "tune_ocr.py"
    for data, named in (("ic15:150-201", "(201-250)"), ("ic15:1-10,bd:250-261", "(261-310) of icdar2013_borndigital_dev")):
        r = subprocess.run([sys.executable, str(script), "--data", data], capture_output=True, text=True, timeout=120)
        assert r.returncode != 0 and f"validation images {named}" in r.stderr, r.stderr[-500:]
