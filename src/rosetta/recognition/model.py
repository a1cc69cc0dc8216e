"""Fully convolutional ResNet-style word recognizer trained with CTC (Rosetta's second stage).

Input: grayscale crops resized to height 32 (aspect kept), zero-padded to a common width,
normalised to [-1, 1]: ``(B, 1, 32, W)``. Output: per-column class scores ``(B, W/4, C)``.
The height is collapsed by strided convolutions; the width is downsampled 4x only, so a word of
N characters needs a crop of at least ~4N px at height 32 (true for any legible word).

>>> import torch
>>> m = CTCRecognizer(RecognizerConfig(num_classes=11)).eval()
>>> logits, loss = m(torch.zeros(2, 1, 32, 64))
>>> tuple(logits.shape), loss is None
((2, 16, 11), True)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from rosetta.models import load_weights

HEIGHT = 32
WIDTH_STRIDE = 4


@dataclass(frozen=True)
class RecognizerConfig:
    num_classes: int  # charset size + 1 (blank = 0)
    stem: int = 32  # channels after the stride-2 stem conv
    widths: tuple[int, int, int] = (64, 128, 192)  # the three residual stages (multiples of 8 for int8)
    blocks: tuple[int, int, int] = (1, 1, 1)  # residual blocks per stage (Rosetta's ResNet-18-like: 2 each)
    head: int = 256  # channels of the 1-row feature sequence
    context_blocks: int = 1  # 1x3 residual convs along the sequence (widen the receptive field)
    dropout: float = 0.1


class ConvBNReLU(nn.Sequential):
    def __init__(self, cin: int, cout: int, k: int | tuple[int, int], s: int | tuple[int, int] = 1,
                 p: int | tuple[int, int] = 0, relu: bool = True):
        layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, s, p, bias=False), nn.BatchNorm2d(cout)]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class BasicBlock(nn.Module):
    """ResNet basic block; ``stride`` may be (2, 1) to halve the height only."""

    def __init__(self, cin: int, cout: int, stride: tuple[int, int]):
        super().__init__()
        self.conv1 = ConvBNReLU(cin, cout, 3, stride, 1)
        self.conv2 = ConvBNReLU(cout, cout, 3, 1, 1, relu=False)
        self.down = None
        if stride != (1, 1) or cin != cout:
            self.down = ConvBNReLU(cin, cout, 1, stride, 0, relu=False)
        self.add = torch.ao.nn.quantized.FloatFunctional()  # quantization-ready residual add
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idt = x if self.down is None else self.down(x)
        return self.relu(self.add.add(self.conv2(self.conv1(x)), idt))


def _stage(cin: int, cout: int, stride: tuple[int, int], blocks: int) -> nn.Module:
    """One block that changes the resolution, then ``blocks - 1`` that keep it. A single-block stage stays a bare
    ``BasicBlock`` so that checkpoints of the one-block models load unchanged."""
    if blocks == 1:
        return BasicBlock(cin, cout, stride)
    return nn.Sequential(BasicBlock(cin, cout, stride), *[BasicBlock(cout, cout, (1, 1)) for _ in range(blocks - 1)])


class ContextBlock(nn.Module):
    """Residual 1x3 convolutions along the (height 1) sequence."""

    def __init__(self, c: int):
        super().__init__()
        self.conv1 = ConvBNReLU(c, c, (1, 3), 1, (0, 1))
        self.conv2 = ConvBNReLU(c, c, (1, 3), 1, (0, 1), relu=False)
        self.add = torch.ao.nn.quantized.FloatFunctional()
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.add.add(self.conv2(self.conv1(x)), x))


class CTCRecognizer(nn.Module):
    def __init__(self, config: RecognizerConfig):
        super().__init__()
        self.config = config
        w1, w2, w3 = config.widths
        self.stem = ConvBNReLU(1, config.stem, 3, 2, 1)  # (B, 1, 32, W) -> (B, s, 16, W/2)
        b1, b2, b3 = config.blocks
        self.stage1 = _stage(config.stem, w1, (2, 2), b1)  # -> (B, w1, 8, W/4)
        self.stage2 = _stage(w1, w2, (2, 1), b2)  # -> (B, w2, 4, W/4)
        self.stage3 = _stage(w2, w3, (2, 1), b3)  # -> (B, w3, 2, W/4)
        self.collapse = ConvBNReLU(w3, config.head, (2, 3), 1, (0, 1))  # -> (B, head, 1, W/4)
        self.context = nn.Sequential(*[ContextBlock(config.head) for _ in range(config.context_blocks)])
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Conv2d(config.head, config.num_classes, 1)  # -> (B, C, 1, W/4)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stage3(self.stage2(self.stage1(self.stem(x))))
        return self.context(self.collapse(x))

    def forward(self, x: torch.Tensor, targets: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``x``: (B, 1, 32, W). ``targets``: (labels concatenated (S,), label lengths (B,), input widths
        in pixels (B,)). Returns logits (B, T, C) with T = ceil(W/4), and the mean CTC loss or None."""
        logits = self.classifier(self.dropout(self.features(x)))  # (B, C, 1, T)
        logits = logits.squeeze(2).permute(0, 2, 1)  # (B, C, 1, T) -> (B, T, C)
        if targets is None:
            return logits, None
        labels, label_lengths, widths = targets
        t = logits.shape[1]
        input_lengths = torch.clamp(output_lengths(widths), max=t)
        log_probs = F.log_softmax(logits.float(), dim=-1).permute(1, 0, 2)  # (B, T, C) -> (T, B, C)
        loss = F.ctc_loss(log_probs, labels, input_lengths, label_lengths, blank=0, reduction="mean",
                          zero_infinity=True)
        return logits, loss


def output_lengths(widths: torch.Tensor) -> torch.Tensor:
    """Number of valid output columns for crops of the given pixel widths (stride 4, 'same' pads).

    >>> output_lengths(torch.tensor([1, 4, 5, 64])).tolist()
    [1, 1, 2, 16]
    """
    w = torch.div(widths + 1, 2, rounding_mode="floor")  # stem: k3 s2 p1
    return torch.div(w + 1, 2, rounding_mode="floor")  # stage1: k3 s2 p1


def load_model(folder: Path | None = None) -> tuple[CTCRecognizer, dict[str, Any]]:
    """The shipped recognizer (``src/rosetta/models/recognizer.*``) or the one in ``folder``, in eval mode, with
    its JSON sidecar (charset, config, card).

    >>> model, meta = load_model()
    >>> model.config.num_classes == len(meta["charset"].splitlines()) + 1, model.training
    (True, False)
    """
    state, meta = load_weights("recognizer", folder)
    cfg = dict(meta["model_config"])
    cfg["widths"] = tuple(cfg["widths"])
    if "blocks" in cfg:
        cfg["blocks"] = tuple(cfg["blocks"])
    model = CTCRecognizer(RecognizerConfig(**cfg))
    model.load_state_dict(state)
    return model.eval(), meta
