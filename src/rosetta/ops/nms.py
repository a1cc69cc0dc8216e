"""Greedy rotated NMS for PyTorch callers: tensors in, tensors out, around :func:`rosetta.boxes.nms.nms`
(NumPy, shared with the runtime, which keeps the same boxes).

>>> b = torch.tensor([[10., 10., 20., 5., 0.], [11., 10., 20., 5., 2.], [50., 50., 10., 10., 45.]])
>>> batched_rotated_nms(b, torch.tensor([0.9, 0.8, 0.7]), torch.zeros(3, dtype=torch.long), 0.5).tolist()
[0, 2]
"""

from __future__ import annotations

import torch

from rosetta.boxes.nms import corners, intersection_area, iou_upper_bound, nms  # re-exported


def batched_rotated_nms(boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor, iou_threshold: float,
                        max_keep: int | None = None, block: int = 128) -> torch.Tensor:
    """NMS within each group of ``idxs`` (class or level): kept indices, highest score first (at most
    ``max_keep``), on ``boxes``' device. Ties in score: the earlier index first (:func:`rosetta.boxes.nms.nms`)."""
    device = boxes.device
    kept = nms(boxes.detach().cpu().float().numpy(), scores.detach().cpu().float().numpy(), iou_threshold, max_keep,
               idxs.cpu().numpy(), block)
    return torch.from_numpy(kept).to(device)


def rotated_nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float, max_keep: int | None = None
                ) -> torch.Tensor:
    """Greedy NMS of one group: indices of the kept boxes, highest score first (at most ``max_keep``).

    >>> b = torch.tensor([[10., 10., 20., 5., 0.], [11., 10., 20., 5., 2.], [50., 50., 10., 10., 45.]])
    >>> rotated_nms(b, torch.tensor([0.9, 0.8, 0.7]), 0.5).tolist()
    [0, 2]
    """
    return batched_rotated_nms(boxes, scores, torch.zeros(len(boxes), dtype=torch.long, device=boxes.device),
                               iou_threshold, max_keep)


__all__ = ["batched_rotated_nms", "corners", "intersection_area", "iou_upper_bound", "rotated_nms"]
