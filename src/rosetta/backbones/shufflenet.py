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

from rosetta.detect_batch import space_to_depth  # re-exported: the pixel patches a patch4 stem reads

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


def _pad_conv(conv: nn.Conv2d, cout: int | None = None, cin: int | None = None, fill: float = 0.0) -> nn.Conv2d:
    """A copy of ``conv`` with ``cout`` filters / ``cin`` input channels; the added weights are ``fill``."""
    cout, cin = cout or conv.out_channels, cin or conv.in_channels
    groups = cout if conv.groups > 1 else 1  # depthwise stays depthwise
    new = nn.Conv2d(cin, cout, conv.kernel_size, conv.stride, conv.padding, groups=groups, bias=conv.bias is not None)
    with torch.no_grad():
        new.weight.fill_(fill)
        o, i = conv.weight.shape[:2]
        new.weight[:o, :i] = conv.weight  # (Cout, Cin/groups, kh, kw)
        if conv.bias is not None:
            new.bias.zero_()
            new.bias[:o] = conv.bias
    return new


def _pad_bn(bn: nn.BatchNorm2d, c: int) -> nn.BatchNorm2d:
    """A copy of ``bn`` over ``c`` channels; the added ones pass 0 on as 0 (scale ~1, no shift)."""
    new = nn.BatchNorm2d(c, eps=bn.eps).eval()
    with torch.no_grad():
        new.weight.fill_(1.0), new.bias.zero_(), new.running_mean.zero_(), new.running_var.fill_(1.0)
        n = bn.num_features
        new.weight[:n], new.bias[:n] = bn.weight, bn.bias
        new.running_mean[:n], new.running_var[:n] = bn.running_mean, bn.running_var
    return new


def widen_stem(trunk: "ShuffleNetV2", channels: int = 32) -> "ShuffleNetV2":
    """An equivalent copy of a ``pool``-stem trunk whose stem gives ``channels`` channels, the added ones
    always 0 (zero filters), and whose first block reads them with weights that cannot matter. For export
    only: ONNX Runtime runs a max-pool in its blocked float layout only when the channels are a multiple of
    16 here, and ShuffleNet's 24 cost a layout round trip around a slow pool (12-18 ms of
    a 1600 px image; docs/RESULTS.md).

    >>> import torch
    >>> net = ShuffleNetV2(width=0.5).eval()
    >>> x = torch.rand(1, 3, 64, 96)
    >>> wide = widen_stem(net)
    >>> wide.stem(x).shape[1], all(torch.allclose(a, b, atol=1e-5) for a, b in zip(net(x), wide(x)))
    (32, True)
    """
    import copy

    c0 = trunk.stem[0][0].out_channels
    if len(trunk.stem) != 2 or channels <= c0:
        return trunk
    new = copy.deepcopy(trunk).eval()
    conv, bn, relu = new.stem[0]
    new.stem[0] = nn.Sequential(_pad_conv(conv, cout=channels), _pad_bn(bn, channels), relu)
    first = new.stage2[0]
    dw, dw_bn = first.branch1[0][0], first.branch1[0][1]
    # the depthwise filters of the added channels see zeros only: 1s (not 0s) keep int8 per-channel scales finite
    first.branch1[0][0], first.branch1[0][1] = _pad_conv(dw, cout=channels, cin=channels, fill=1.0), _pad_bn(dw_bn, channels)
    first.branch1[1][0] = _pad_conv(first.branch1[1][0], cin=channels)
    first.branch2[0][0] = _pad_conv(first.branch2[0][0], cin=channels)
    return new


def has_patch_stem(trunk: "ShuffleNetV2") -> bool:
    """Whether a trunk's stem is one k x k stride-k convolution without padding (``patch4``), which
    :func:`pixel_stem` can fold the normalization into.

    >>> has_patch_stem(ShuffleNetV2(stem="patch4")), has_patch_stem(ShuffleNetV2(stem="pool"))
    (True, False)
    """
    conv = trunk.stem[0][0]
    return len(trunk.stem) == 1 and conv.padding == (0, 0) and conv.kernel_size == conv.stride


def pixel_stem(trunk: "ShuffleNetV2", mean: tuple[float, ...], std: tuple[float, ...]) -> "ShuffleNetV2":
    """An equivalent copy of a ``patch4``-stem trunk that reads raw pixel patches instead of a normalized
    image: its input is :func:`space_to_depth` of the pixels (0..255) as (B, k*k*3, H/k, W/k), and its stem
    convolution is a 1x1 one over those channels, with the normalization ``(x / 255 - mean) / std`` folded
    into its weights and bias. Exact up to float rounding, since a k x k stride-k convolution without padding
    only ever sees image pixels. For export only: the int8 graph then reads the image's uint8 pixels as they
    are (exactly representable) and its first convolution is an int8 matrix product (docs/RESULTS.md).

    >>> net = ShuffleNetV2(width=0.5, stem="patch4").eval()
    >>> pixels = torch.randint(0, 256, (1, 64, 96, 3)).float()
    >>> mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    >>> norm = ((pixels / 255 - torch.tensor(mean)) / torch.tensor(std)).permute(0, 3, 1, 2)
    >>> patches = torch.from_numpy(space_to_depth(pixels.numpy())).permute(0, 3, 1, 2)
    >>> all(torch.allclose(a, b, atol=1e-4) for a, b in zip(net(norm), pixel_stem(net, mean, std)(patches)))
    True
    """
    import copy

    if not has_patch_stem(trunk):
        raise ValueError("pixel_stem: only a patch4 stem (no padding, no overlap) folds the normalization exactly")
    conv = trunk.stem[0][0]
    new = copy.deepcopy(trunk).eval()
    k = conv.kernel_size[0]
    scale = torch.tensor([1.0 / (255.0 * s) for s in std]).view(1, -1, 1, 1)  # per input channel
    shift = torch.tensor([-m / s for m, s in zip(mean, std)]).view(1, -1, 1, 1)
    folded = nn.Conv2d(k * k * conv.in_channels, conv.out_channels, 1, bias=True)
    with torch.no_grad():  # weight[o, c, ky, kx] -> [o, (ky, kx, c)], the order space_to_depth lays them out
        folded.weight.copy_((conv.weight * scale).permute(0, 2, 3, 1).reshape(conv.out_channels, -1, 1, 1))
        folded.bias.copy_((conv.weight * shift).sum((1, 2, 3)))  # (Cout, 3, k, k) -> (Cout,)
    new.stem[0][0] = folded
    return new


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
