"""Training plumbing: starting from a checkpoint, resuming a run where it stopped, crops cut as the reader cuts."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from rosetta.data.crops import STORE_HEIGHT
from rosetta.train.common import WeightEMA, restore, save_checkpoint
from rosetta.train.context import Margins, PhotoWords, loosen


def _net(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))


def test_restore_starts_from_init_as_a_path_or_a_loaded_checkpoint_and_a_resume_wins(tmp_path):
    src = _net(1)
    ck = {"model": src.state_dict(), "ema": {k: v + 1 for k, v in src.state_dict().items()}}
    save_checkpoint(tmp_path / "init.pt", ck)
    for init in (str(tmp_path / "init.pt"), ck):  # the trainer may pass the checkpoint it already read
        net = _net(2)
        opt = torch.optim.AdamW(net.parameters())
        ema = WeightEMA(net, 0.9)
        assert restore(net, opt, None, init, ema) == (0, -1.0)
        assert torch.equal(net[0].weight, src[0].weight + 1)  # the weight average: what was evaluated
    save_checkpoint(tmp_path / "last.pt", {"model": _net(3).state_dict(), "opt": opt.state_dict(), "step": 17,
                                           "best": 0.5, "ema": _net(3).state_dict()})
    net = _net(2)
    step, best = restore(net, torch.optim.AdamW(net.parameters()), tmp_path / "last.pt", ck, WeightEMA(net, 0.9))
    assert (step, best) == (17, 0.5) and torch.equal(net[0].weight, _net(3)[0].weight)


def test_loosen_gives_a_tight_crop_a_margin_and_a_neighbours_edge_at_its_height():
    rng = random.Random(3)
    word = np.full((40, 100), 255, np.uint8)
    word[10:30, 10:90] = 0  # the word's ink
    neighbour = np.full((40, 60), 128, np.uint8)
    widths, grey_ends = [], 0
    for _ in range(40):
        out = loosen(rng, word, [neighbour], sliver=0.5)
        assert out.shape[0] == 40 and out.dtype == np.uint8
        widths.append(out.shape[1])
        assert (out < 40).mean() > 0.08  # the word's ink is all kept (40% of the tight crop)
        grey_ends += int(abs(int(out[20, 0]) - 128) < 20) + int(abs(int(out[20, -1]) - 128) < 20)
    assert max(widths) > 120 and len(set(widths)) > 10  # margins of many sizes (top and bottom narrow it)
    assert 10 < grey_ends < 70  # about half the ends hold the neighbour's edge
    assert loosen(rng, word, [], sliver=1.0)[20, 0] == 255  # no neighbours: the border repeated


@pytest.mark.data("icdar2013_borndigital_dev")
def test_photo_words_are_cut_loosely_around_the_ground_truth_and_refuse_validation_images():
    words = PhotoWords("icdar2013_borndigital_dev:1-3", Margins(along=(0.3, 0.3), across=(0.0, 0.0), shift=0, angle=0))
    assert len(words) > 5 and all(t and t != "###" for _, _, t in words.words)
    rng = random.Random(0)
    for k in range(len(words)):
        _, (_, _, w, h, _), _ = words.words[k]
        crop = words.cut(rng, k)
        assert crop.shape[0] == STORE_HEIGHT
        assert abs(crop.shape[1] / STORE_HEIGHT - (w + 0.6 * h) / h) < 0.1  # 0.3 box heights at each end
    with pytest.raises(ValueError, match="validation images"):
        PhotoWords("icdar2013_borndigital_dev:255-265")
    with pytest.raises(ValueError, match="DATASET:RANGE"):
        PhotoWords("icdar2013_borndigital_dev")
