"""Training plumbing: starting from a checkpoint, and resuming a run where it stopped."""

from __future__ import annotations

import torch

from rosetta.train.common import WeightEMA, restore, save_checkpoint


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
