"""Quantization-aware fine-tuning by self-distillation: the int8-rounded detector learns to reproduce its own
float self (the teacher, frozen), not the ground truth.

Fine-tuning the fake-quantized detector on the detection loss moves it off the long run's weight average
(docs/RESULTS.md: its fp32 fell 2.5 points of e2e hmean in 1500 steps). Here the target is the teacher's
output on the same input, so the student only learns to undo its rounding error: the features of each
level (the RoI head reads them) and the RPN's objectness and box deltas (the proposals), each normalised by
the teacher's own energy. BatchNorm statistics stay frozen (the student's BatchNorms run as in inference),
so only the weights move, and little: the int8 graph is then built from the student, while the float path
keeps the teacher.

>>> import torch
>>> from rosetta.detection.model import RotatedFasterRCNN
>>> from rosetta.quant.qat import attach_fake_quant
>>> teacher = RotatedFasterRCNN.build().eval()
>>> student = RotatedFasterRCNN.build()
>>> _ = student.load_state_dict(teacher.state_dict())
>>> freeze_batchnorm(student.train())
>>> x = torch.rand(1, 3, 64, 64)
>>> distill_losses(student, teacher, x)["distill_feat"].item() == 0.0  # no rounding yet: nothing to learn
True
>>> _ = attach_fake_quant(student)
>>> distill_losses(student, teacher, x)["distill_feat"].item() > 0.0
True
"""

from __future__ import annotations

import torch
import torch.nn as nn


def freeze_batchnorm(model: nn.Module) -> None:
    """Put every BatchNorm in inference mode (running statistics used, not updated); the rest stays as is."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


def _rel_mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean squared error relative to the target's mean energy (scale-free across levels)."""
    return (a - b).pow(2).mean() / b.pow(2).mean().clamp(min=1e-8)


def distill_losses(student: nn.Module, teacher: nn.Module, batch: torch.Tensor) -> dict[str, torch.Tensor]:
    """Losses making ``student``'s features and RPN outputs match ``teacher``'s on ``batch`` (B, 3, H, W), the
    detector transform's output. The deltas count where the teacher sees text (objectness weight), as only
    there do they become proposals."""
    with torch.no_grad():
        t_feats = teacher.features(batch)  # [(B, C, H/s, W/s)] for s = 8, 16, 32
        t_logits, t_deltas = teacher.rpn.head(t_feats)  # [(B, A, h, w)], [(B, 5A, h, w)]
    s_feats = student.features(batch)
    s_logits, s_deltas = student.rpn.head(s_feats)
    feat = sum(_rel_mse(s, t) for s, t in zip(s_feats, t_feats)) / len(t_feats)
    logit = sum(_rel_mse(s, t) for s, t in zip(s_logits, t_logits)) / len(t_logits)
    delta = s_feats[0].new_zeros(())
    for s, t, lg in zip(s_deltas, t_deltas, t_logits):
        b, a5, h, w = t.shape
        weight = torch.sigmoid(lg).unsqueeze(2)  # (B, A, 1, h, w)
        err = (s - t).pow(2).view(b, a5 // 5, 5, h, w)  # (B, A, 5, h, w)
        delta = delta + (err * weight).sum() / weight.sum().clamp(min=1e-6) / 5
    return {"distill_feat": feat, "distill_logit": logit, "distill_delta": delta / len(t_deltas)}


__all__ = ["distill_losses", "freeze_batchnorm"]
