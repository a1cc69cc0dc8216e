"""ShuffleNetV2 trunk (Ma et al. 2018), quantization-ready, returning stride 8/16/32 features.

Widths are multiples of 8 so int8 depthwise kernels take their fast path. No classifier head.

>>> import torch
>>> net = ShuffleNetV2(width=0.5).eval()
>>> [tuple(f.shape) for f in net(torch.zeros(1, 3, 64, 64))]
[(1, 48, 8, 8), (1, 96, 4, 4), (1, 192, 2, 2)]
"""

from __future__ import annotations

import torch
import torch.nn as nn

STAGE_CHANNELS = {0.5: (24, 48, 96, 192), 1.0: (24, 116, 232, 464), 0.75: (24, 88, 176, 352)}
STAGE_REPEATS = (4, 8, 4)


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    b, c, h, w = x.shape
    x = x.view(b, groups, c // groups, h, w)  # (B, C, H, W) -> (B, g, C/g, H, W)
    return x.transpose(1, 2).reshape(b, c, h, w)  # -> (B, C/g, g, H, W) -> (B, C, H, W)


def _conv_bn(cin: int, cout: int, k: int, s: int, groups: int = 1, relu: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.stride = stride
        branch = cout // 2
        if stride > 1:
            self.branch1 = nn.Sequential(_conv_bn(cin, cin, 3, stride, groups=cin, relu=False),
                                         _conv_bn(cin, branch, 1, 1))
        else:
            self.branch1 = nn.Sequential()
        bin_ = cin if stride > 1 else branch
        self.branch2 = nn.Sequential(_conv_bn(bin_, branch, 1, 1),
                                     _conv_bn(branch, branch, 3, stride, groups=branch, relu=False),
                                     _conv_bn(branch, branch, 1, 1))
        self.cat = torch.ao.nn.quantized.FloatFunctional()  # quantization-ready concat

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = self.cat.cat([x1, self.branch2(x2)], dim=1)
        else:
            out = self.cat.cat([self.branch1(x), self.branch2(x)], dim=1)
        return channel_shuffle(out, 2)


STEMS = ("pool", "patch4")


def make_stem(kind: str, cout: int) -> nn.Sequential:
    """The stride-4 stem. ``pool``: ShuffleNetV2's 3x3 stride-2 convolution and 3x3 stride-2 max-pool.
    ``patch4``: one 4x4 stride-4 convolution (non-overlapping patches): 2.2x fewer multiply-adds and no
    full-resolution pool, which matters when the first layer runs in float inside an int8 graph.

    >>> import torch
    >>> [tuple(make_stem(k, 24)(torch.zeros(1, 3, 64, 96)).shape) for k in STEMS]
    [(1, 24, 16, 24), (1, 24, 16, 24)]
    """
    if kind == "pool":
        return nn.Sequential(_conv_bn(3, cout, 3, 2), nn.MaxPool2d(3, 2, 1))
    if kind == "patch4":
        return nn.Sequential(nn.Sequential(nn.Conv2d(3, cout, 4, 4, 0, bias=False), nn.BatchNorm2d(cout),
                                           nn.ReLU(inplace=True)))
    raise ValueError(f"stem {kind!r} not in {STEMS}")


class ShuffleNetV2(nn.Module):
    """Trunk: stem (stride 4) and three stages (strides 8, 16, 32)."""

    def __init__(self, width: float = 0.5, stem: str = "pool"):
        super().__init__()
        if width not in STAGE_CHANNELS:
            raise ValueError(f"width {width} not in {sorted(STAGE_CHANNELS)}")
        c0, c1, c2, c3 = STAGE_CHANNELS[width]
        self.channels = (c1, c2, c3)
        self.stem = make_stem(stem, c0)
        stages = []
        cin = c0
        for cout, n in zip((c1, c2, c3), STAGE_REPEATS):
            blocks = [InvertedResidual(cin, cout, 2)] + [InvertedResidual(cout, cout, 1) for _ in range(n - 1)]
            stages.append(nn.Sequential(*blocks))
            cin = cout
        self.stage2, self.stage3, self.stage4 = stages

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        c3 = self.stage2(x)
        c4 = self.stage3(c3)
        c5 = self.stage4(c4)
        return [c3, c4, c5]
