"""Quantization-aware fine-tuning of the detector's ONNX part for ONNX Runtime's static int8 path.

Training sees the rounding ONNX Runtime will apply (``rosetta.quant.ort_int8``): convolution weights
per output channel, symmetric, 7-bit (``reduce_range``; per-channel rounding is unchanged by the BatchNorm
folded in afterwards, as folding scales each channel); every convolution's (BatchNorm's, ReLU's) output,
concatenation and sum per tensor in uint8 over a running min-max range. The first convolution stays
float (the fourth trick). Gradients pass the rounding unchanged (straight-through). The weights stay
ordinary float weights (no extra state), so the fine-tuned model is saved, shipped and quantized as any other.

>>> import torch
>>> from rosetta.detection.model import RotatedFasterRCNN
>>> m = RotatedFasterRCNN.build().eval()
>>> x = torch.rand(1, 3, 64, 64)
>>> before = m.features(x)[0]
>>> handles = attach_fake_quant(m)
>>> after = m.features(x)[0]
>>> bool((after - before).abs().max() > 0), bool(torch.allclose(after, before, atol=0.5))
(True, True)
>>> detach_fake_quant(handles)
>>> bool(torch.equal(m.features(x)[0], before))
True
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from rosetta.engine.onnx import GRAPH_PARTS


def fake_quant_weight(w: torch.Tensor, bits: int = 7) -> torch.Tensor:
    """Per-output-channel symmetric fake quantization of a (Cout, ...) weight, straight-through."""
    q = 2 ** (bits - 1) - 1
    scale = w.detach().abs().flatten(1).amax(1).clamp(min=1e-8) / q  # (Cout,)
    scale = scale.view(-1, *([1] * (w.dim() - 1)))
    wq = (w / scale).round().clamp(-q - 1, q) * scale
    return w + (wq - w).detach()


class ActivationFakeQuant(nn.Module):
    """Per-tensor uint8 fake quantization over a running min-max range (0 always inside), straight-through.
    Its range is Python state, not a buffer: state dicts are unchanged."""

    def __init__(self, momentum: float = 0.01):
        super().__init__()
        self.momentum, self.lo, self.hi = momentum, None, None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lo, hi = float(x.detach().min().clamp(max=0)), float(x.detach().max().clamp(min=0))
        if self.lo is None:
            self.lo, self.hi = lo, hi
        elif self.training:
            self.lo += self.momentum * (lo - self.lo)
            self.hi += self.momentum * (hi - self.hi)
        scale = max(self.hi - self.lo, 1e-8) / 255.0
        zero = round(-self.lo / scale)
        xq = ((x / scale).round() + zero).clamp(0, 255).sub(zero).mul(scale)
        return x + (xq - x).detach()


def attach_fake_quant(model: nn.Module) -> list:
    """Fake-quantize the detector's trunk, neck and RPN head, and the RoI head's reduction of the maps, as
    ONNX Runtime will (see the module doc).
    Returns handles for :func:`detach_fake_quant`."""
    handles: list = []
    parts = [model.get_submodule(p) for p in GRAPH_PARTS]
    convs = [m for p in parts for m in p.modules() if isinstance(m, nn.Conv2d)]
    first = convs[0]  # the trunk's first convolution: float, raw pixels in
    for conv in convs[1:]:
        conv.forward = (lambda c: lambda x: c._conv_forward(x, fake_quant_weight(c.weight), c.bias))(conv)
        handles.append(("forward", conv))
    quantized_outputs = [model.trunk.stem]  # the float stem's output is quantized after its pool
    for p in parts:
        for m in p.modules():
            if isinstance(m, nn.Sequential) and len(m) and isinstance(m[0], nn.Conv2d) and m[0] is not first:
                quantized_outputs.append(m)  # conv (+ BatchNorm) (+ ReLU)
    inside = {id(m[0]) for m in quantized_outputs[1:]}
    quantized_outputs += [c for c in convs[1:] if id(c) not in inside]  # plain convolutions
    for m in quantized_outputs:
        fq = ActivationFakeQuant()
        handles.append(("hook", m.register_forward_hook(lambda mod, inp, out, fq=fq: fq.train(mod.training)(out))))
    for p in parts:
        for m in p.modules():
            if isinstance(m, torch.ao.nn.quantized.FloatFunctional):  # concatenations and sums
                old = m.activation_post_process
                m.activation_post_process = ActivationFakeQuant()
                handles.append(("post", (m, old)))
    # the RoI head's 1x1 reduction runs in the graph on the maps (rosetta.engine.onnx.DetectorFeatures): int8 weights,
    # its output rounded to uint8 before the RoI align samples it
    head, fq = model.roi_heads.head, ActivationFakeQuant()
    head.reduce_map = lambda f: fq.train(head.training)(F.conv2d(f, fake_quant_weight(head.reduce[0].weight)))
    model.reduce_maps_for_roi = True
    handles.append(("roi_maps", model))
    return handles


def detach_fake_quant(handles: list) -> None:
    """Undo :func:`attach_fake_quant`: plain float modules again."""
    for kind, h in handles:
        if kind == "forward":
            del h.forward  # back to the class's forward
        elif kind == "hook":
            h.remove()
        elif kind == "roi_maps":
            del h.roi_heads.head.reduce_map  # back to the class's method
            h.reduce_maps_for_roi = False
        else:
            m, old = h
            m.activation_post_process = old


__all__ = ["ActivationFakeQuant", "attach_fake_quant", "detach_fake_quant", "fake_quant_weight"]
