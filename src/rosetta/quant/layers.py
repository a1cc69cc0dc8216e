"""The recognizer's int8 layers as GEMMs: BatchNorm-folded weights, per-channel weight scales (7-bit as ONNX Runtime
uses now, full 8-bit, or co-designed for the acc16 kernel: :func:`codesigned_scales`), and each convolution's real
uint8 inputs im2col'd, quantized with the shipped int8 graph's activation ranges.

>>> import torch
>>> w = torch.tensor([[1.0, -0.5, 0.25, 0.1]])
>>> quantize_weights(w, weight_scales(w, "int7")).tolist()
[[64, -32, 16, 6]]
>>> quantize_weights(w, weight_scales(w, "int8")).tolist()
[[127, -64, 32, 13]]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from rosetta.runtime.preprocess import pad_batch, to_input

SCALE_MODES = ("int7", "int8", "codesigned")


@dataclass(frozen=True)
class ConvLayer:
    """One convolution with its BatchNorm folded in."""
    name: str  # module path in the recognizer, e.g. "stage2.conv1.0"
    conv: nn.Conv2d
    weight: torch.Tensor  # (Cout, Cin, kh, kw) folded
    bias: torch.Tensor  # (Cout,) folded
    factor: torch.Tensor  # (Cout,) the BatchNorm's per-channel factor folded into the weight (ones without one)

    @property
    def depth(self) -> int:  # K of the GEMM
        return self.weight[0].numel()


def folded_convs(model: nn.Module, skip_first: bool = True) -> list[ConvLayer]:
    """Every ``nn.Conv2d`` of ``model`` with the BatchNorm after it (in a Sequential) folded; the first one
    (raw pixels in, float in the shipped int8 graph) left out unless ``skip_first`` is False."""
    out: list[ConvLayer] = []
    for name, mod in model.named_modules():
        if not isinstance(mod, nn.Conv2d):
            continue
        w = mod.weight.detach().float()
        b = mod.bias.detach().float() if mod.bias is not None else torch.zeros(w.shape[0])
        g = torch.ones(w.shape[0])
        parent_name, _, idx = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        if isinstance(parent, nn.Sequential) and idx.isdigit() and int(idx) + 1 < len(parent) \
                and isinstance(parent[int(idx) + 1], nn.BatchNorm2d):
            bn = parent[int(idx) + 1]
            g = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)  # (Cout,)
            w, b = w * g.view(-1, 1, 1, 1), (b - bn.running_mean) * g + bn.bias.detach()
        out.append(ConvLayer(name, mod, w, b, g))
    return out[1:] if skip_first else out


def weight_scales(w: torch.Tensor, mode: str, share: float = 0.005) -> torch.Tensor:
    """Per-output-channel symmetric scales (Cout,) of a (Cout, ...) weight.

    ``int7``: max |w| -> 64 (ONNX Runtime's ``reduce_range``, the shipped int8 graph's grid).
    ``int8``: max |w| -> 127, the finest grid with no clipping; many weights land outside 7 bits.
    ``codesigned``: the finest grid on which at most ``floor(share * K)`` of a channel's K weights land outside
    7 bits (|q| > 63: the acc16 kernel's outliers) and none beyond 127: the (n + 1)-th largest |w| -> 63,
    unless max |w| -> 127 is coarser.

    >>> w = torch.tensor([[0.1] * 198 + [0.5, 1.0]])
    >>> [round(float(weight_scales(w, m)[0]) * 127, 3) for m in SCALE_MODES]
    [1.984, 1.0, 1.008]
    >>> round(float(weight_scales(w, "codesigned", share=0.001)[0]) * 63, 5)  # no outlier allowed: 7 bits
    1.0
    """
    a = w.detach().abs().flatten(1)  # (Cout, K)
    top = a.amax(1).clamp(min=1e-12)
    if mode == "int7":
        return top / 64
    if mode == "int8":
        return top / 127
    if mode == "codesigned":
        n = int(share * a.shape[1])  # outliers allowed per channel
        keep = torch.topk(a, n + 1, dim=1).values[:, n].clamp(min=1e-12)  # (Cout,) the largest |w| kept in 7 bits
        return torch.maximum(top / 127, keep / 63)
    raise ValueError(f"unknown scale mode {mode!r} (one of {', '.join(SCALE_MODES)})")


def quantize_weights(w: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """(Cout, ...) float -> (Cout, K) int32 on the per-channel grid ``scale``, clipped to [-127, 127]."""
    return torch.clamp(torch.round(w.flatten(1) / scale.view(-1, 1)), -127, 127).to(torch.int32)


def fake_quantized(model: nn.Module, mode: str, share: float = 0.005,
                   ranges: dict[str, tuple[float, int]] | None = None) -> nn.Module:
    """A copy of ``model`` whose int8 convolutions (all but the first) compute with their BatchNorm-folded
    weights rounded to the ``mode`` grid (:func:`weight_scales`), and, given ``ranges`` (:func:`activation_ranges`),
    with their inputs rounded to uint8 as the int8 graph rounds them: the int8 path's arithmetic in float, to
    measure a grid's accuracy."""
    import copy

    model = copy.deepcopy(model).eval()
    for layer in folded_convs(model):
        scale = weight_scales(layer.weight, mode, share)
        folded = (quantize_weights(layer.weight, scale).float() * scale.view(-1, 1)).view_as(layer.weight)
        factor = torch.where(layer.factor == 0, torch.ones_like(layer.factor), layer.factor)
        with torch.no_grad():  # unfold the BatchNorm's factor: the module keeps its BatchNorm
            layer.conv.weight.copy_(folded / factor.view(-1, 1, 1, 1))
        if ranges is not None:
            sc, zp = ranges[layer.name]
            layer.conv.register_forward_pre_hook(
                lambda m, a, sc=sc, zp=zp: ((quantize_activations(a[0], sc, zp).float() - zp) * sc,))
    return model


def activation_ranges(int8_onnx: Path) -> dict[str, tuple[float, int]]:
    """(scale, zero point) of each int8 convolution's input in an ONNX Runtime QDQ graph, by the recognizer's
    module name ("/model/stage1/conv1/conv1.0/Conv" -> "stage1.conv1.0")."""
    import onnx
    from onnx import numpy_helper

    g = onnx.load(str(int8_onnx)).graph
    init = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    out = {}
    for n in g.node:
        if n.op_type != "Conv" or n.input[0] not in producer or producer[n.input[0]].op_type != "DequantizeLinear":
            continue
        dq = producer[n.input[0]]
        out[module_name(n.name)] = (float(init[dq.input[1]]), int(init[dq.input[2]]))
    return out


def module_name(onnx_node: str) -> str:
    """The PyTorch module path of an exported node's name: each level names a Sequential's child as
    "parent.index".

    >>> module_name("/model/context/context.0/conv1/conv1.0/Conv"), module_name("/model/classifier/Conv")
    ('context.0.conv1.0', 'classifier')
    """
    parts = onnx_node.removeprefix("/model/").split("/")[:-1]
    return ".".join([parts[0]] + [p[len(prev) + 1:] if p.startswith(prev + ".") else p
                                  for prev, p in zip(parts, parts[1:])])


def quantize_activations(x: torch.Tensor, scale: float, zero: int) -> torch.Tensor:
    """float -> uint8 as ONNX Runtime's QuantizeLinear (round half to even, saturate)."""
    return torch.clamp(torch.round(x / scale) + zero, 0, 255).to(torch.uint8)


def im2col(x: torch.Tensor, conv: nn.Conv2d, zero: int, depth_multiple: int = 4) -> np.ndarray:
    """uint8 (B, Cin, H, W) -> (B*Ho*Wo, K rounded up to ``depth_multiple``) uint8 rows, padded with the zero point
    (the quantized 0.0) as the convolution pads; K in the weight's (Cin, kh, kw) order, zeros beyond it."""
    ph, pw = conv.padding if isinstance(conv.padding, tuple) else (conv.padding, conv.padding)
    xf = F.pad(x.float(), (pw, pw, ph, ph), value=float(zero))
    cols = F.unfold(xf, conv.kernel_size, dilation=conv.dilation, stride=conv.stride)  # (B, K, L)
    b, k, n = cols.shape
    kp = -(-k // depth_multiple) * depth_multiple
    out = np.zeros((b * n, kp), np.uint8)
    out[:, :k] = cols.permute(0, 2, 1).reshape(b * n, k).numpy()  # (B, K, L) -> (B*L, K)
    return out


@torch.no_grad()
def capture_inputs(model: nn.Module, names: Iterable[str], batches: Sequence[torch.Tensor]) -> dict[str, list[torch.Tensor]]:
    """The float inputs of the modules ``names`` while ``model`` reads ``batches``: {name: [one per batch]}."""
    seen: dict[str, list[torch.Tensor]] = {n: [] for n in names}
    hooks = [model.get_submodule(n).register_forward_pre_hook(lambda m, a, n=n: seen[n].append(a[0].detach().clone()))
             for n in seen]
    try:
        model.eval()
        for b in batches:
            model(b)
    finally:
        for h in hooks:
            h.remove()
    return seen


def crop_batches(crops: Sequence[np.ndarray], batch_size: int = 32) -> list[torch.Tensor]:
    """Real crops -> padded (B, 1, 32, W) batches of similar width, as the recognizer batches them."""
    inputs = sorted((to_input(c) for c in crops), key=lambda x: x.shape[1])
    return [torch.from_numpy(pad_batch(inputs[i:i + batch_size])[0]) for i in range(0, len(inputs), batch_size)]


__all__ = ["ConvLayer", "SCALE_MODES", "activation_ranges", "capture_inputs", "fake_quantized", "crop_batches", "folded_convs", "im2col", "module_name",
           "quantize_activations", "quantize_weights", "weight_scales"]
