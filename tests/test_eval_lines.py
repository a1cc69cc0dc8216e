"""rosetta.eval_lines: lines cut into words at CTC columns (rotated lines too), words merged into lines."""

import numpy as np
import pytest

from rosetta.eval import evaluate_images
from rosetta.eval_lines import LineRule, merge_lines, reading_quad, split_line


def rotate(points, deg, centre=(200.0, 200.0)):
    a = np.radians(deg)
    r = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    c = np.array(centre)
    return ((np.asarray(points, float) - c) @ r.T + c).tolist()


LINE = [[100, 100], [300, 100], [300, 120], [100, 120]]  # 200 x 20, "GOOD FOOD" over 40 columns
COLS = [2, 6, 10, 14, 22, 26, 30, 34]


def test_split_matches_the_words_it_was_made_from():
    words = split_line(LINE, "GOOD FOOD", COLS, 40)
    assert [w["text"] for w in words] == ["GOOD", "FOOD"]
    gt = [{"points": [[100, 100], [190, 100], [190, 120], [100, 120]], "text": "good"},
          {"points": [[210, 100], [300, 100], [300, 120], [210, 120]], "text": "food"}]
    assert evaluate_images([gt], [words])["e2e"]["hmean"] == 1.0
    # the first word ends before the second begins
    assert max(p[0] for p in words[0]["points"]) <= min(p[0] for p in words[1]["points"])


@pytest.mark.parametrize("deg", [30, 90, 180, -60])
def test_split_follows_a_rotated_line(deg):
    words = split_line(rotate(LINE, deg), "GOOD FOOD", COLS, 40)
    straight = split_line(LINE, "GOOD FOOD", COLS, 40)
    for w, s in zip(words, straight):
        assert np.allclose(w["points"], rotate(s["points"], deg), atol=1e-6)


def test_reading_quad_undoes_the_turns_of_a_crop():
    tall = [[0, 0], [20, 0], [20, 200], [0, 200]]  # text running downwards, read after np.rot90
    q = reading_quad(tall, rotated90=True)
    words = split_line(q, "GOOD FOOD", COLS, 40)
    assert words[0]["points"][0][1] < words[1]["points"][0][1]  # GOOD above FOOD
    upside = reading_quad(LINE, flipped=True)
    words = split_line(upside, "GOOD FOOD", COLS, 40)
    assert words[0]["points"][0][0] > words[1]["points"][0][0]  # read right to left on the page
    assert reading_quad(reading_quad(LINE, flipped=True), flipped=True).tolist() == np.asarray(LINE, float).tolist()


def test_split_refuses_columns_that_do_not_fit_and_keeps_single_words():
    with pytest.raises(ValueError, match="columns"):
        split_line(LINE, "GOOD FOOD", COLS[:-1], 40)
    one = split_line(LINE, "GOOD", COLS[:4], 40)
    assert len(one) == 1 and one[0]["text"] == "GOOD"
    assert split_line(LINE, "", [], 40) == []


def test_merge_lines_groups_words_by_line_and_keeps_reading_order():
    w = lambda x0, x1, y0, t: {"points": [[x0, y0], [x1, y0], [x1, y0 + 20], [x0, y0 + 20]], "text": t}  # noqa: E731
    words = [w(120, 180, 0, "Food!"), w(0, 100, 0, "Good"), w(0, 100, 100, "Open"), w(500, 560, 0, "far")]
    lines = merge_lines(words)
    assert [ln["text"] for ln in lines] == ["good food", "open", "far"]
    assert lines[0]["points"] == [[0.0, 0.0], [180.0, 0.0], [180.0, 20.0], [0.0, 20.0]]
    assert [ln["text"] for ln in merge_lines(words, LineRule(max_gap=0.5))] == ["food", "good", "open", "far"]
    rotated = [{"points": rotate(x["points"], 45), "text": x["text"]} for x in words[:2]]
    assert [ln["text"] for ln in merge_lines(rotated)] == ["good food"]


def test_merge_lines_marks_lines_with_dont_care_words():
    w = lambda x0, x1, t, ign=False: {"points": [[x0, 0], [x1, 0], [x1, 20], [x0, 20]], "text": t, "ignore": ign}  # noqa: E731
    lines = merge_lines([w(0, 50, "fresh"), w(60, 110, "###", True), w(400, 450, "bread")])
    assert [(ln["text"], ln["ignore"]) for ln in lines] == [("fresh ###", True), ("bread", False)]


def test_line_scores_ignore_spaces_and_punctuation_but_not_letters():
    from rosetta.eval_lines import line_scores

    w = lambda x0, x1, t, ign=False: {"points": [[x0, 0], [x1, 0], [x1, 20], [x0, 20]], "text": t, "ignore": ign}  # noqa: E731
    gt = [[w(0, 40, "YOU."), w(50, 150, "AUTOMATIC")]]
    assert line_scores(gt, [[w(0, 150, "YOU.AUTOMATIC")]])["e2e"]["hmean"] == 1.0
    assert line_scores(gt, [[w(0, 40, "you"), w(50, 150, "automatic")]])["e2e"]["hmean"] == 1.0
    assert line_scores(gt, [[w(0, 150, "YOU.AUTOMRTIC")]])["e2e"]["hmean"] == 0.0
    assert line_scores(gt, [[w(0, 150, "YOU.AUTOMRTIC")]])["det"]["hmean"] == 1.0
    dont = [[w(0, 40, "###", True), w(50, 150, "AUTOMATIC")]]  # the whole line is don't-care: nothing to score
    assert line_scores(dont, [[w(0, 150, "x")]])["counts"] == {"gt": 0, "det": 0, "match": 0, "e2e_match": 0}
