"""Rotated IoU, NMS and RoI align against brute-force references (shapely, Python loops, manual bilinear)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from shapely.geometry import Polygon

from rosetta.geometry import box_to_quad
from rosetta.ops.rotated import (batched_rotated_nms, box_corners, iou_upper_bound, rotated_iou, rotated_iou_pairwise, rotated_nms,
                                 rotated_roi_align)


def _random_boxes(n: int, seed: int, spread: float = 30.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    c = torch.rand(n, 2, generator=g) * spread + 20
    wh = torch.rand(n, 2, generator=g) * torch.tensor([40.0, 12.0]) + torch.tensor([2.0, 1.0])
    a = torch.rand(n, 1, generator=g) * 360 - 180
    return torch.cat([c, wh, a], 1)


def _shapely_iou(a, b) -> float:
    pa, pb = Polygon(box_to_quad(a.tolist())), Polygon(box_to_quad(b.tolist()))
    inter = pa.intersection(pb).area
    return inter / (pa.area + pb.area - inter)


def test_corners_follow_the_geometry_convention():
    boxes = _random_boxes(20, 0)
    ref = np.stack([box_to_quad(b.tolist()) for b in boxes])
    assert np.allclose(box_corners(boxes).numpy(), ref, atol=1e-4)


def test_rotated_iou_matches_shapely():
    a, b = _random_boxes(60, 1), _random_boxes(50, 2)
    got = rotated_iou(a, b).numpy()
    ref = np.array([[_shapely_iou(x, y) for y in b] for x in a])
    assert (ref > 0.05).sum() > 50  # the sets really overlap
    assert np.abs(got - ref).max() < 1e-3


def test_rotated_iou_identical_disjoint_and_turns():
    a = _random_boxes(30, 3)
    assert torch.allclose(rotated_iou_pairwise(a, a), torch.ones(30), atol=1e-4)
    far = a.clone()
    far[:, 0] += 1000
    assert rotated_iou_pairwise(a, far).abs().max() == 0
    b = _random_boxes(30, 4)
    base = rotated_iou_pairwise(a, b)
    assert torch.allclose(base, rotated_iou_pairwise(b, a), atol=1e-4)  # symmetric in its arguments
    for turn in (90.0, 180.0):  # the same rectangle described four ways: same IoU
        t = b.clone()
        t[:, 4] += turn
        if turn == 90.0:
            t[:, 2], t[:, 3] = b[:, 3], b[:, 2]
        assert torch.allclose(base, rotated_iou_pairwise(a, t), atol=1e-4)
    # turning the whole scene about a point keeps every IoU
    th = math.radians(90.0)
    rot = lambda x: torch.stack([x[:, 0] * math.cos(th) + x[:, 1] * math.sin(th),
                                 -x[:, 0] * math.sin(th) + x[:, 1] * math.cos(th), x[:, 2], x[:, 3], x[:, 4] + 90], 1)
    assert torch.allclose(base, rotated_iou_pairwise(rot(a), rot(b)), atol=1e-4)


def test_rotated_iou_degenerate_and_empty():
    a = torch.tensor([[10.0, 10.0, 0.0, 5.0, 0.0]])
    assert float(rotated_iou(a, a)[0, 0]) == 0.0
    assert rotated_iou(torch.zeros(0, 5), a).shape == (0, 1)
    assert rotated_nms(torch.zeros(0, 5), torch.zeros(0), 0.5).numel() == 0


def _brute_nms(boxes, scores, thresh):
    order = sorted(range(len(boxes)), key=lambda i: -float(scores[i]))
    keep = []
    for i in order:
        if all(_shapely_iou(boxes[i], boxes[k]) <= thresh for k in keep):
            keep.append(i)
    return keep


@pytest.mark.parametrize("thresh", [0.1, 0.3, 0.7])
def test_rotated_nms_matches_brute_force(thresh):
    boxes = _random_boxes(80, 5, spread=25)
    scores = torch.rand(80, generator=torch.Generator().manual_seed(6))
    assert rotated_nms(boxes, scores, thresh).tolist() == _brute_nms(boxes, scores, thresh)


def test_blocked_nms_with_a_cap_equals_the_plain_greedy_prefix():
    boxes = _random_boxes(120, 8, spread=20)
    scores = torch.rand(120, generator=torch.Generator().manual_seed(9))
    ref = _brute_nms(boxes, scores, 0.3)
    groups = torch.zeros(120, dtype=torch.long)
    assert batched_rotated_nms(boxes, scores, groups, 0.3, block=7).tolist() == ref
    assert batched_rotated_nms(boxes, scores, groups, 0.3, max_keep=5, block=7).tolist() == ref[:5]


def test_iou_upper_bound_is_an_upper_bound():
    a, b = _random_boxes(70, 10), _random_boxes(70, 11)
    exact = torch.stack([rotated_iou_pairwise(a, b.roll(k, 0)) for k in range(70)])
    bound = torch.stack([iou_upper_bound(a, b.roll(k, 0)) for k in range(70)])
    assert (bound >= exact - 1e-5).all() and (exact > 0.05).sum() > 30


def test_numpy_intersection_used_by_nms_agrees_with_the_torch_reference():
    from rosetta.ops import nms

    a, b = _random_boxes(200, 12, spread=15), _random_boxes(200, 13, spread=15)
    b[:40] = a[:40]  # identical boxes: IoU exactly 1 (their shared edges counted once)
    b[40:60, 4] = a[40:60, 4] = 0.0  # axis-aligned pairs: parallel edges
    ref = rotated_iou_pairwise(a, b).numpy()
    an, bn = a.numpy(), b.numpy()
    inter = nms.intersection_area(nms.corners(an), nms.corners(bn))
    got = inter / (an[:, 2] * an[:, 3] + bn[:, 2] * bn[:, 3] - inter)
    assert (ref > 0.1).sum() > 60 and np.abs(got - ref).max() < 1e-4
    assert np.allclose(got[:40], 1.0, atol=1e-5)
    assert (nms.iou_upper_bound(an, bn) >= got - 1e-5).all()


def test_batched_nms_keeps_groups_apart():
    boxes = torch.tensor([[10.0, 10.0, 20.0, 5.0, 0.0]] * 3)
    scores = torch.tensor([0.9, 0.8, 0.7])
    assert batched_rotated_nms(boxes, scores, torch.tensor([0, 1, 0]), 0.5).tolist() == [0, 1]


def _bilinear(f: np.ndarray, x: float, y: float) -> np.ndarray:
    """Reference bilinear sample at feature coordinates (cell centres at i + 0.5), zeros outside."""
    c, h, w = f.shape
    x, y = x - 0.5, y - 0.5
    x0, y0 = math.floor(x), math.floor(y)
    out = np.zeros(c)
    for yy, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
        for xx, wx in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
            if 0 <= yy < h and 0 <= xx < w:
                out += wx * wy * f[:, yy, xx]
    return out


def test_rotated_roi_align_matches_manual_sampling():
    g = torch.Generator().manual_seed(7)
    feats = torch.rand(2, 3, 12, 16, generator=g)
    rois = torch.tensor([[0, 40.0, 30.0, 36.0, 12.0, 0.0], [1, 64.0, 48.0, 40.0, 16.0, 35.0],
                         [0, 20.0, 70.0, 30.0, 10.0, -120.0]])
    scale, (oh, ow), sr = 0.25, (2, 4), 2
    got = rotated_roi_align(feats, rois, (oh, ow), scale, sr).numpy()
    for k, (b, cx, cy, w, h, a) in enumerate(rois.tolist()):
        t = math.radians(a)
        u, v = (math.cos(t), -math.sin(t)), (math.sin(t), math.cos(t))
        for i in range(oh):
            for j in range(ow):
                acc = np.zeros(3)
                for si in range(sr):
                    for sj in range(sr):
                        du = ((j + (sj + 0.5) / sr) / ow - 0.5) * w
                        dv = ((i + (si + 0.5) / sr) / oh - 0.5) * h
                        x, y = cx + du * u[0] + dv * v[0], cy + du * u[1] + dv * v[1]
                        acc += _bilinear(feats[int(b)].numpy(), x * scale, y * scale)
                assert np.allclose(got[k, :, i, j], acc / sr**2, atol=1e-5), (k, i, j)


def test_roi_align_of_a_turned_box_reads_the_turned_map():
    f = torch.arange(64.0).view(1, 1, 8, 8)
    upright = rotated_roi_align(f, torch.tensor([[0, 4.0, 4.0, 8.0, 2.0, 0.0]]), (1, 4), 1.0, 1)
    turned = rotated_roi_align(f.transpose(2, 3).flip(2), torch.tensor([[0, 4.0, 4.0, 8.0, 2.0, 90.0]]), (1, 4), 1.0, 1)
    assert torch.allclose(upright, turned, atol=1e-4)
