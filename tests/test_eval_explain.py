"""rosetta.eval_explain: one reason per end-to-end miss and per false positive, on hand-made boxes."""

from rosetta.eval import evaluate_images
from rosetta.eval_explain import FP_REASONS, MISS_REASONS, explain_image, explain_images, explain_table, misread_kind


def box(x0, x1, y0=0, y1=20):
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def word(x0, x1, text="word", y0=0, y1=20, conf=None, ignore=False):
    w = {"points": box(x0, x1, y0, y1), "text": text}
    if conf is not None:
        w["confidence"] = conf
    if ignore:
        w["ignore"] = True
    return w


def misses(gt, det, floor=0.0):
    return explain_image(gt, det, floor)["misses"]


def fps(gt, det, floor=0.0):
    return explain_image(gt, det, floor)["false_positives"]


def test_right_words_give_no_reasons_and_empty_inputs_work():
    gt = [word(0, 50, "Exit")]
    assert explain_image(gt, [word(0, 50, "EXIT.", conf=0.9)], 0.5) == {"misses": [], "false_positives": []}
    assert explain_image([], [], 0.5) == {"misses": [], "false_positives": []}
    assert misses(gt, []) == ["not detected"]
    assert fps([], [word(0, 50, conf=0.9)]) == ["no text near"]


def test_misreads_are_told_apart():
    assert misread_kind("HELLO", "hello") == "misread: case or punctuation only"  # never a miss, case-insensitive
    assert misread_kind("o'clock", "oclock") == "misread: case or punctuation only"
    assert misread_kind("MAPKA", "MARKA") == "misread: one character"
    assert misread_kind("МАРКА", "MARKA") == "misread: script mix"  # Cyrillic letters for a Latin word
    assert misread_kind("ч5ь7", "4567") == "misread: script mix"
    assert misread_kind("MAP", "MARKET") == "misread: other"
    assert misses([word(0, 50, "MARKA")], [word(0, 50, "MAPKA")]) == ["misread: one character"]


def test_confidence_floor_and_empty_reads():
    gt = [word(0, 50, "open"), word(100, 150, "shop"), word(200, 250, "now")]
    det = [word(0, 50, "open", conf=0.6), word(100, 150, "sh0p", conf=0.6), word(200, 250, "", conf=0.0)]
    assert misses(gt, det, floor=0.85) == ["dropped by the confidence floor: read right",
                                           "dropped by the confidence floor: misread", "dropped: read as empty"]
    assert fps(gt, det, floor=0.85) == []  # nothing was kept
    assert misses(gt, det, floor=0.5) == ["misread: one character", "dropped: read as empty"]


def test_box_errors():
    gt = [word(0, 40, "big"), word(50, 90, "sale")]
    assert misses(gt, [word(0, 90, "big sale")]) == ["merged with a neighbour"] * 2
    assert fps(gt, [word(0, 90, "big sale")]) == ["covers several words"]
    assert misses([word(0, 100)], [word(0, 45, "wo"), word(55, 100, "rd")]) == ["split"]
    assert fps([word(0, 100)], [word(0, 45, "wo"), word(55, 100, "rd")]) == ["part of a word"] * 2
    assert misses([word(0, 40)], [word(-20, 60, y0=-20, y1=40)]) == ["box too loose"]
    assert misses([word(0, 100)], [word(10, 50)]) == ["box too tight"]
    assert misses([word(0, 100)], [word(60, 160)]) == ["box shifted"]
    assert fps([word(0, 100)], [word(60, 160)]) == ["loose or shifted box on a word"]
    assert misses([word(0, 30, y1=8)], [word(300, 330)]) == ["not detected: small"]
    weak = [{"points": box(2, 98)}]
    assert explain_image([word(0, 100)], [], 0.5, weak)["misses"] == ["found under the detector's threshold"]
    assert explain_image([word(0, 100)], [], 0.5, [{"points": box(200, 300)}])["misses"] == ["not detected"]


def test_false_positive_kinds():
    gt = [word(0, 50, "cafe"), word(200, 250, "###", ignore=True)]
    assert fps(gt, [word(0, 50, "cafe"), word(1, 51, "cafe")]) == ["duplicate"]
    assert fps(gt, [word(0, 50, "cake")]) == ["on a word, misread"]
    assert fps(gt, [word(220, 280)]) == ["touches a don't-care region"]
    assert fps(gt, [word(205, 245)]) == []  # inside the don't-care region: not counted by the protocol
    assert fps(gt, [word(500, 550)]) == ["no text near"]


def test_counts_agree_with_the_protocol_and_table_lists_every_row():
    gts = [[word(0, 50, "open"), word(100, 150, "shop"), word(300, 340, "x", y1=6)],
           [word(0, 40, "big"), word(50, 90, "sale")]]
    dets = [[word(0, 50, "open", conf=0.9), word(100, 150, "shap", conf=0.9), word(500, 550, "zz", conf=0.95)],
            [word(0, 90, "big sale", conf=0.9), word(0, 10, "q", conf=0.1)]]
    c = explain_images(gts, dets, floor=0.5)
    kept = [[d for d in ds if d["confidence"] >= 0.5] for ds in dets]
    ref = evaluate_images(gts, kept)["counts"]
    assert (c["gt"], c["kept"], c["e2e_match"]) == (ref["gt"], ref["det"], ref["e2e_match"]) == (5, 4, 1)
    assert sum(c["misses"].values()) == ref["gt"] - ref["e2e_match"]
    assert sum(c["false_positives"].values()) == ref["det"] - ref["e2e_match"]
    assert c["misses"]["merged with a neighbour"] == 2 and c["misses"]["not detected: small"] == 1
    table = explain_table(c)
    assert all(r in table for r in MISS_REASONS + FP_REASONS)
    assert "| right end to end | 1 of 5 words, 4 returned | |" in table


def test_eval_ocr_explain_command_accounts_for_every_word(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    ocr = tmp_path / "ocr"
    (ocr / "images").mkdir(parents=True)
    src = Path(__file__).parents[1] / "src" / "rosetta" / "samples" / "sign_latin.jpg"
    (ocr / "images" / "img_1.jpg").write_bytes(src.read_bytes())
    (ocr / "gt.jsonl").write_text(json.dumps({"image": "images/img_1.jpg", "words": [
        {"points": [[707, 387], [869, 412], [862, 456], [700, 431]], "text": "EXIT", "ignore": False},
        {"points": [[5, 5], [60, 5], [60, 25], [5, 25]], "text": "nowhere", "ignore": False}]}) + "\n")
    p = subprocess.run([sys.executable, "-m", "rosetta.cli", "eval", "ocr", "--data", str(ocr), "--images", "1",
                        "--explain"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    ex, counts = res["explain"], res["counts"]
    assert (ex["gt"], ex["kept"], ex["e2e_match"]) == (counts["gt"], counts["det"], counts["e2e_match"])
    assert sum(ex["misses"].values()) == counts["gt"] - counts["e2e_match"] >= 1  # "nowhere" is not in the image
    assert sum(ex["false_positives"].values()) == counts["det"] - counts["e2e_match"]
    assert ex["misses"]["not detected"] >= 1 and "| end-to-end error |" in p.stderr


def test_degenerate_ground_truth_box_is_a_small_miss():
    flat = {"points": [[0, 5], [40, 5], [40, 5], [0, 5]], "text": "flat"}  # zero height, as in some real labels
    assert misses([flat], []) == ["not detected: small"]
