"""Test-wide settings: one intra-op thread (small tensors gain nothing from more, and OpenMP threads
spinning against a busy second core make backward passes 30x slower on a 2-core machine)."""

import torch

torch.set_num_threads(1)
