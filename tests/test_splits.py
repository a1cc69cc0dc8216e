"""The validation splits never share a source photo with training (real data; skipped without it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rosetta.data.splits import crop_split, data_root, read_labels, split_labels

DATA = data_root()
needs_data = pytest.mark.skipif(not (DATA / "iiit5k_train" / "labels.jsonl").exists(),
                                reason=f"research data not found at {DATA} (set ROSETTA_DATA)")


def test_photo_grouping_on_made_up_names():
    rows = [{"image": f"crops/{p}_{k}.png"} for p in (5, 40, 7, 123, 9) for k in (1, 2, 3)]
    sides = split_labels("iiit5k_train", rows)
    photo_side = {}
    for r, s in zip(rows, sides):
        photo_side.setdefault(r["image"].split("/")[1].split("_")[0], set()).add(s)
    assert all(len(v) == 1 for v in photo_side.values())  # every crop of a photo on one side
    assert photo_side["123"] == {"val"} and sides.count("val") == 3  # the highest photo number, a fifth of 5


@needs_data
def test_iiit5k_validation_photos_are_never_trained_on():
    train = {Path(p).stem.rsplit("_", 1)[0] for p, _ in crop_split("iiit5k_train", "train")}
    val = {Path(p).stem.rsplit("_", 1)[0] for p, _ in crop_split("iiit5k_train", "val")}
    assert val and train and not train & val


@needs_data
@pytest.mark.parametrize("dataset", ["icdar2015_wordrec_train", "vintext_rec_train"])
def test_numbered_sets_hold_out_one_block_after_a_gap(dataset):
    rows = read_labels(DATA / dataset)
    sides = split_labels(dataset, rows)
    first_val = sides.index("val")
    assert set(sides[first_val:]) == {"val"}  # one contiguous block, at the end
    assert set(sides[first_val - 30:first_val]) == {"gap"} and set(sides[:first_val - 30]) == {"train"}


@needs_data
def test_photo_words_are_cut_from_the_validation_photos():
    from rosetta.data.crops import photo_word_crops

    crops = photo_word_crops(numbers=range(201, 211))
    assert len(crops) > 10 and all(im.shape[0] == 40 for im in crops.images)
    assert "###" not in crops.texts and all(n.split("#")[0].startswith("images/img_2") for n in crops.names)
    tight = photo_word_crops(numbers=range(201, 211), height=None, margin=0.0)
    loose = photo_word_crops(numbers=range(201, 211), height=None, margin=(0.3, 0.0))
    for t, lo in zip(tight.images, loose.images):  # 0.3 box heights more at each end, none top and bottom
        assert lo.shape[0] == t.shape[0] and abs(lo.shape[1] - (t.shape[1] + 0.6 * t.shape[0])) <= 2
