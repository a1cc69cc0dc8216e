"""Detector parts: box coder round trip, anchors, matcher, zero box loss without text, a tiny overfit run."""

from __future__ import annotations

import pytest
import torch

from rosetta.detection.anchors import AnchorGenerator
from rosetta.detection.box_coder import RotatedBoxCoder, wrap180
from rosetta.detection.matching import IGNORE, NEGATIVE, Matcher, mark_ignored
from rosetta.detection.model import DetectorConfig, RotatedFasterRCNN
from rosetta.ops.rotated import rotated_iou_pairwise


def distilled(student, teacher, batch: torch.Tensor, opt: torch.optim.Optimizer, steps: int = 25) -> list[float]:
    """``steps`` steps of ``opt`` on the distillation losses (rosetta.quant.distill) of ``student`` against
    ``teacher`` on ``batch`` (B, 3, H, W); the summed loss before each step."""
    from rosetta.quant.distill import distill_losses

    losses = []
    for _ in range(steps):
        loss = sum(distill_losses(student, teacher, batch).values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    return losses


def test_box_coder_round_trip_at_all_angles():
    coder = RotatedBoxCoder()
    g = torch.Generator().manual_seed(0)
    for angle in range(-180, 181, 15):
        anchors = torch.tensor([[100.0, 80.0, 64.0, 16.0, float(angle)]]).repeat(20, 1)
        boxes = anchors.clone()
        boxes[:, :2] += torch.randn(20, 2, generator=g) * 8
        boxes[:, 2:4] *= torch.exp(torch.randn(20, 2, generator=g) * 0.3)
        boxes[:, 4] = wrap180(boxes[:, 4] + torch.randn(20, generator=g) * 20)
        back = coder.decode(coder.encode(boxes, anchors), anchors)
        assert torch.allclose(back[:, :4], boxes[:, :4], atol=1e-3)
        assert torch.allclose(wrap180(back[:, 4] - boxes[:, 4]), torch.zeros(20), atol=1e-3)
        # the decoded box is the same rectangle (angle wraps by 180 for an undirected box)
        assert rotated_iou_pairwise(back, boxes).min() > 0.999


def test_anchors_cover_every_cell_and_angle():
    gen = AnchorGenerator(heights=((16.0,), (32.0,)), aspects=(1.0, 4.0), angles=(-45.0, 0.0, 45.0, 90.0))
    a = gen([(4, 5), (2, 3)], strides=(8, 16))
    assert a.shape == (4 * 5 * 8 + 2 * 3 * 8, 5)
    assert set(a[:, 4].tolist()) == {-45.0, 0.0, 45.0, 90.0}
    assert a[0, :2].tolist() == [4.0, 4.0] and a[4 * 5 * 8, :2].tolist() == [8.0, 8.0]


def test_matcher_and_dont_care():
    iou = torch.tensor([[0.8, 0.0], [0.0, 0.2], [0.45, 0.0], [0.0, 0.0]])
    labels = Matcher(0.5, 0.3, allow_low_quality=False)(iou)
    assert labels.tolist() == [0, NEGATIVE, IGNORE, NEGATIVE]
    boxes = torch.tensor([[10.0, 10.0, 20.0, 5.0, 0.0]] * 4)
    boxes[3, 0] = 500.0
    care = torch.tensor([[10.0, 10.0, 20.0, 5.0, 0.0]])
    out = mark_ignored(labels, boxes, care)
    assert out.tolist() == [0, IGNORE, IGNORE, NEGATIVE]  # a negative on a don't-care region is ignored


def test_matcher_iou_gives_the_labels_of_the_full_iou_on_the_detectors_anchors():
    """``Matcher.iou`` skips exact IoUs no label depends on (under the negative threshold, except a ground
    truth's low-quality best), and the RPN tests only the anchors the cell grid puts within reach of a word:
    the RPN's and the RoI head's labels, and the don't-care marking, are unchanged, on the detector's own
    anchors against words of every size, angle and crowding, tiny ones included."""
    from rosetta.detection.matching import sparse_rotated_iou
    from rosetta.detection.model import RotatedFasterRCNN

    model = RotatedFasterRCNN.build()
    anchors = model.rpn.anchor_gen([(48, 64), (24, 32), (12, 16)], model.rpn.strides)  # a 384x512 image
    g = torch.Generator().manual_seed(0)
    n = 60
    h = 4 + 60 * torch.rand(n, generator=g) ** 2  # many small words, a few big ones
    gt = torch.stack([torch.rand(n, generator=g) * 512, torch.rand(n, generator=g) * 384,
                      h * (1 + 9 * torch.rand(n, generator=g)), h, torch.rand(n, generator=g) * 180 - 90], 1)
    care = gt[:5].clone()
    care[:, :2] += 7.0
    grid = [(48, 64), (24, 32), (12, 16)]
    near = model.rpn.anchor_gen.pairs_near(grid, model.rpn.strides, gt, model.rpn.matcher.lowest_iou())
    near_care = model.rpn.anchor_gen.pairs_near(grid, model.rpn.strides, care, 0.25)  # the RPN's, from the grid
    assert len(near[0]) < 0.2 * len(anchors) * len(gt)
    for matcher, boxes, pairs, pairs_care in ((model.rpn.matcher, anchors, near, near_care),
                                              (model.roi_heads.matcher, torch.cat([anchors[::7], gt]), None, None)):
        want = matcher(sparse_rotated_iou(boxes, gt))
        got = matcher(matcher.iou(boxes, gt, pairs))
        assert torch.equal(got, want)
        assert (want >= 0).sum() > 50  # positives from both rules, so the comparison means something
        full = want.clone()  # don't-care marking from the full IoU
        full[(want < 0) & (sparse_rotated_iou(boxes, care).max(1).values > 0.25)] = IGNORE
        assert torch.equal(mark_ignored(got, boxes, care, pairs=pairs_care), full) and not torch.equal(full, want)


def _scene() -> tuple[torch.Tensor, dict]:
    img = torch.full((3, 160, 224), 0.8)
    boxes = torch.tensor([[70.0, 50.0, 90.0, 20.0, 0.0], [150.0, 110.0, 100.0, 18.0, 30.0]])
    from rosetta.ops.rotated import box_corners

    for q in box_corners(boxes):  # dark bars where the "words" are
        import cv2
        import numpy as np

        m = np.zeros((160, 224), np.uint8)
        cv2.fillConvexPoly(m, np.round(q.numpy()).astype(np.int32), 1)
        img[:, torch.from_numpy(m).bool()] = 0.1
    return img, {"boxes": boxes, "ignore_boxes": torch.zeros(0, 5)}


def test_no_text_gives_zero_box_loss():
    torch.manual_seed(0)
    model = RotatedFasterRCNN.build(DetectorConfig(size=224)).train()
    losses = model([torch.rand(3, 120, 160)], [{"boxes": torch.zeros(0, 5), "ignore_boxes": torch.zeros(0, 5)}])
    assert set(losses) == {"rpn_objectness", "rpn_box", "roi_cls", "roi_box"}
    assert float(losses["rpn_box"].detach()) == 0.0 and float(losses["roi_box"].detach()) == 0.0
    assert float(losses["rpn_objectness"].detach()) > 0.0
    sum(losses.values()).backward()  # and it still trains (objectness, background scores)


@pytest.mark.slow
def test_tiny_overfit_drives_the_loss_down_and_boxes_come_back_in_image_pixels():
    torch.manual_seed(0)
    model = RotatedFasterRCNN.build(DetectorConfig(size=224)).train()
    img, target = _scene()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    first = last = None
    for step in range(40):
        losses = model([img], [target])
        loss = sum(losses.values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = float(loss.detach()) if first is None else first
        last = float(loss.detach())
    assert last < 0.5 * first, (first, last)
    model.eval()
    with torch.no_grad():
        out = model([img], size=224)[0]
    assert out["boxes"].shape[1] == 5 and len(out["boxes"]) == len(out["scores"])
    if len(out["boxes"]):  # in the original image's frame: centres inside the 224x160 picture
        assert (out["boxes"][:, 0] < 224).all() and (out["boxes"][:, 1] < 160).all()


@pytest.mark.slow
def test_a_new_stem_learns_the_shipped_stems_features():
    """Fine-tuning to another stem starts by teaching it the shipped detector's stem output (distil_stem):
    on real photos (the bundled samples) its error against the teacher falls well below where it starts."""
    import itertools
    from pathlib import Path

    import numpy as np

    from rosetta.detection.model import DetectorConfig, RotatedFasterRCNN
    from rosetta.io import load_image
    from rosetta.train.common import load_checkpoint
    from rosetta.train.detector import distill_stem

    torch.manual_seed(0)
    samples = sorted((Path(__file__).parents[1] / "src/rosetta/samples").glob("*.jpg"))
    crops = [torch.from_numpy(np.ascontiguousarray(load_image(p)[:160, :160])).permute(2, 0, 1).float() / 255
             for p in samples]
    batches = itertools.cycle([(crops[i:i + 2], None, 160) for i in range(0, len(crops), 2)])
    student = RotatedFasterRCNN.build(DetectorConfig(stem="patch4"))
    teacher = load_checkpoint(Path(__file__).parents[1] / "src/rosetta/models/detector.safetensors")
    first = distill_stem(student, teacher, batches, 1)
    last = distill_stem(student, teacher, batches, 150, lr=1e-2)
    assert last < 0.6 * first, (first, last)
    assert tuple(student.trunk.stem(crops[0][None]).shape) == (1, 24, 40, 40)


def test_a_factorized_detector_starts_as_the_shipped_ones_best_approximation():
    """The neck's and RPN head's 3x3 convs as 3x1 / 1x3 pairs (DetectorConfig.factor_rank), started from the shipped
    detector's kernels (rosetta.detection.factorized): at full rank (3 x 64 channels) the maps and RPN outputs on a
    real photo are the shipped ones; at rank 48 they stay close (the fine-tune's start), and the pairs cost half."""
    from pathlib import Path

    import numpy as np

    from rosetta.detection.factorized import factorized_state
    from rosetta.detect_batch import normalized
    from rosetta.io import load_image
    from rosetta.train.common import load_checkpoint

    ck = load_checkpoint(Path(__file__).parents[1] / "src/rosetta/models/detector.safetensors")
    arch = ck["model_config"]
    full = RotatedFasterRCNN.build(DetectorConfig.from_arch(arch)).eval()
    full.load_state_dict(ck["model"])
    image = load_image(Path(__file__).parents[1] / "src/rosetta/samples/sign_latin.jpg")
    x = torch.from_numpy(normalized([image], 320)[0])
    with torch.no_grad():
        want = [*full.features(x), *sum(full.rpn.head(full.features(x)), [])]
    errors = {}
    for rank in (192, 48):
        cfg = DetectorConfig.from_arch({**arch, "factor_rank": rank})
        pairs = RotatedFasterRCNN.build(cfg).eval()
        pairs.load_state_dict(factorized_state(ck["model"], rank))  # strict: every tensor is there
        assert cfg.arch()["factor_rank"] == rank and not any(".smooth.0.0.weight" in k for k in pairs.state_dict())
        with torch.no_grad():
            got = [*pairs.features(x), *sum(pairs.rpn.head(pairs.features(x)), [])]
        errors[rank] = max(float((g - w).abs().max() / w.abs().max()) for g, w in zip(got, want))
    assert errors[192] < 1e-4, errors
    assert 1e-3 < errors[48] < 0.5, errors  # an approximation, not the same function
    n_full = sum(p.numel() for p in full.neck.smooth.parameters())
    n_pairs = sum(p.numel() for p in RotatedFasterRCNN.build(DetectorConfig(factor_rank=48)).neck.smooth.parameters())
    assert abs(n_pairs / n_full - 0.5) < 0.01


def test_factorized_pairs_distilled_on_photos_reproduce_the_full_detector_better():
    """``--set distill=1`` with ``factor_rank``: the pairs learn the full detector's function on images (features
    and RPN outputs, rosetta.quant.distill) rather than its kernels; on the bundled samples the distillation error
    falls well below the SVD start's within a few steps."""
    from pathlib import Path

    import numpy as np

    from rosetta.detect_batch import normalized
    from rosetta.detection.factorized import factorized_state
    from rosetta.io import load_image
    from rosetta.quant.distill import freeze_batchnorm
    from rosetta.train.common import load_checkpoint

    torch.manual_seed(0)
    ck = load_checkpoint(Path(__file__).parents[1] / "src/rosetta/models/detector.safetensors")
    teacher = RotatedFasterRCNN.build(DetectorConfig.from_arch(ck["model_config"])).eval()
    teacher.load_state_dict(ck["model"])
    student = RotatedFasterRCNN.build(DetectorConfig.from_arch({**ck["model_config"], "factor_rank": 8}))
    student.load_state_dict(factorized_state(ck["model"], 8))
    freeze_batchnorm(student.train())
    samples = sorted((Path(__file__).parents[1] / "src/rosetta/samples").glob("*.jpg"))
    x = torch.from_numpy(normalized([np.ascontiguousarray(load_image(p)[:256, :256]) for p in samples], 256)[0])
    losses = distilled(student, teacher, x, torch.optim.Adam(student.parameters(), lr=1e-3))
    assert losses[-1] < 0.6 * losses[0], losses


@pytest.mark.data("icdar2015_dev")
@pytest.mark.slow
def test_detector_training_holds_out_images_when_asked():
    """``holdout``: the last training images are never in the real-image pool, so checkpoints can be chosen
    on images the detector did not see."""
    from rosetta.data.splits import ic15_image_number
    from rosetta.train.detector import DetBatchStream, DetTrainConfig

    numbers = {}
    for holdout in (0, 20):
        stream = DetBatchStream(DetTrainConfig(holdout=holdout))
        stream._setup()
        numbers[holdout] = {ic15_image_number(r["image"]) for r in stream.real}
    assert numbers[0] == set(range(1, 201))
    assert numbers[20] == set(range(1, 181))


@pytest.mark.data("icdar2015_dev", "icdar2013_borndigital_dev")
@pytest.mark.slow
def test_detector_training_draws_born_digital_graphics_when_asked():
    """``bd_share``: that share of the real images are born-digital graphics (img_1..260 less ``bd_holdout``),
    their crops cut at the born-digital scales; none without it."""
    import random

    from rosetta.data.splits import ic15_image_number
    from rosetta.train.detector import DetBatchStream, DetTrainConfig

    cfg = DetTrainConfig(real_share=1.0, bd_share=0.5, bd_holdout=20)
    stream = DetBatchStream(cfg)
    stream._setup()
    assert {ic15_image_number(r["image"]) for r in stream.bd} == set(range(1, 241))
    rng = random.Random(0)
    drawn = [stream.sample(rng, 0, j) for j in range(40)]
    graphics = [img for img, _, scales in drawn if scales == (cfg.bd_min_scale, cfg.bd_max_scale)]
    assert 10 <= len(graphics) <= 30
    assert max(max(img.shape[:2]) for img in graphics) < 1280 <= min(max(img.shape[:2]) for img, _, sc in drawn
                                                                      if sc == (cfg.min_scale, cfg.max_scale))
    plain = DetBatchStream(DetTrainConfig())
    plain._setup()
    assert plain.bd == []


def test_roi_head_on_reduced_maps_is_the_same_function_and_qat_rounds_them():
    """The RoI head reading maps already through its 1x1 reduction (as the exported graph hands them over)
    computes the same losses and detections in float; quantization-aware training turns that on, to round
    the reduced maps as the int8 graph does, and detaching turns it off again."""
    from rosetta.quant.qat import attach_fake_quant, detach_fake_quant

    torch.manual_seed(0)
    model = RotatedFasterRCNN.build(DetectorConfig(size=224)).train()
    img, target = _scene()
    results = {}
    for flag in (False, True):
        model.reduce_maps_for_roi = flag
        torch.manual_seed(1)  # the same sampled anchors and RoIs
        results[flag] = {k: float(v) for k, v in model([img], [target]).items()}
    for k in results[False]:
        assert abs(results[False][k] - results[True][k]) < 1e-4 * max(1.0, abs(results[False][k])), k
    model.eval()
    with torch.no_grad():
        model.reduce_maps_for_roi = False
        plain = model([img], size=224)[0]["scores"]
        model.reduce_maps_for_roi = True
        on_maps = model([img], size=224)[0]["scores"]
    assert len(plain) == len(on_maps) and torch.allclose(plain, on_maps, atol=1e-4)
    model.reduce_maps_for_roi = False
    handles = attach_fake_quant(model)
    assert model.reduce_maps_for_roi
    f = torch.rand(1, model.roi_heads.head.reduce[0].in_channels, 8, 8)
    rounded = model.roi_heads.head.reduce_map(f)
    levels = torch.unique(rounded.detach()).numel()
    assert levels <= 256 and not torch.equal(rounded, torch.nn.functional.conv2d(f, model.roi_heads.head.reduce[0].weight))
    detach_fake_quant(handles)
    assert not model.reduce_maps_for_roi and "reduce_map" not in vars(model.roi_heads.head)


@pytest.mark.slow
def test_int8_self_distillation_learns_its_rounding_and_leaves_the_rest():
    """Quantization-aware self-distillation (``--set qat=1 --set qat_distill=1``): through ONNX Runtime's
    rounding the student's outputs move back towards its float self's, while BatchNorm statistics and the
    RoI head (outside the int8 graph, never in the loss) stay exactly as shipped."""
    from pathlib import Path

    import numpy as np

    from rosetta.io import load_image
    from rosetta.quant.distill import freeze_batchnorm
    from rosetta.quant.qat import attach_fake_quant
    from rosetta.train.common import load_checkpoint

    from rosetta.detection.model import DetectorConfig
    from rosetta.models import load_weights

    ck = load_checkpoint(Path(__file__).parents[1] / "src/rosetta/models/detector.safetensors")
    arch = DetectorConfig.from_arch(load_weights("detector")[1].get("model_config"))  # the shipped detector's
    float_self, student = RotatedFasterRCNN.build(arch).eval(), RotatedFasterRCNN.build(arch)
    float_self.load_state_dict(ck["model"])
    student.load_state_dict(ck["model"])
    attach_fake_quant(student)
    student.train()
    freeze_batchnorm(student)
    photo = load_image(sorted((Path(__file__).parents[1] / "src/rosetta/samples").glob("*.jpg"))[0])
    x = torch.from_numpy(np.ascontiguousarray(photo[:256, :256])).permute(2, 0, 1).float() / 255
    batch = student.transform([x], 256)[0]  # (1, 3, 256, 256)
    before = {k: v.clone() for k, v in student.state_dict().items()}
    losses = distilled(student, float_self, batch, torch.optim.Adam([p for p in student.parameters() if p.requires_grad],
                                                                    lr=1e-4))
    assert min(losses[-5:]) < 0.8 * losses[0], losses
    after = student.state_dict()
    moved = [k for k in before if not torch.equal(before[k], after[k])]
    assert moved and all(k.startswith(("trunk.", "neck.", "rpn.head.")) for k in moved)
    assert not any("running_" in k for k in moved)


@pytest.mark.slow
def test_onnx_features_are_channels_last_and_older_graphs_still_read(tmp_path):
    """The exported feature graph gives channels-last maps; the runner hands the model (B, C, H, W) views of
    them, equal to PyTorch's own features, and reads a graph exported before (B, C, H, W outputs) alike."""
    import numpy as np

    from rosetta.engine.onnx import FEATURE_NAMES, DetectorFeatures, export, session
    from rosetta.train.predict import features_runner

    torch.manual_seed(0)
    model = RotatedFasterRCNN.build().eval()
    x = torch.rand(1, 3, 128, 160)
    with torch.no_grad():
        feats = model.features(x)
        logits, deltas = model.rpn.head(feats)
    expected = [*feats, *logits, *deltas]
    new = export(DetectorFeatures(model, reduce_for_roi=False), torch.zeros(1, 3, 64, 96), tmp_path / "nhwc.onnx",
                 {"x": {0: "b", 2: "h", 3: "w"}, **{n: {0: "b", 1: f"h{n[1]}", 2: f"w{n[1]}"} for n in FEATURE_NAMES}},
                 FEATURE_NAMES)

    class Older(DetectorFeatures):  # the layout of graphs exported before: (B, C, H, W)
        def forward(self, x):
            f = self.neck(self.trunk(x))
            lg, dl = self.head(f)
            return (*f, *lg, *dl)

    old = export(Older(model), torch.zeros(1, 3, 64, 96), tmp_path / "nchw.onnx",
                 {"x": {0: "b", 2: "h", 3: "w"}, **{n: {0: "b", 2: f"h{n[1]}", 3: f"w{n[1]}"} for n in FEATURE_NAMES}},
                 FEATURE_NAMES)
    assert session(new, 1).get_outputs()[0].shape[3] == 64  # channels last
    for path in (new, old):
        f, (lg, dl) = features_runner(session(path, 1))(x)
        for got, want in zip([*f, *lg, *dl], expected):
            assert got.shape == want.shape
            np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-4, rtol=1e-3)


def test_roi_refinement_moves_the_shipped_detectors_boxes_a_little_and_keeps_their_scores():
    """``RoIConfig.refine_steps`` (off by default, a card's ``refine_steps`` turns it on): the RoI head reads
    its kept boxes again and moves them; the words found and their scores are the first pass's."""
    from dataclasses import replace
    from pathlib import Path

    import numpy as np

    from rosetta.io import load_image
    from rosetta.ops.rotated import rotated_iou
    from rosetta.train.predict import TorchDetector

    det = TorchDetector.load(engine="onnx")
    assert det.model.roi_heads.cfg.refine_steps == 0
    img = load_image(Path(__file__).parents[1] / "src/rosetta/samples/sign_latin.jpg")
    ((b0, s0),) = det([img])
    det.model.roi_heads.cfg = replace(det.model.roi_heads.cfg, refine_steps=1)
    ((b1, s1),) = det([img])
    assert len(b0) >= 5 and len(b1) == len(b0) and np.allclose(s1, s0)
    iou = rotated_iou(torch.from_numpy(b0).double(), torch.from_numpy(b1).double()).diagonal()
    assert bool((iou > 0.8).all()) and not np.allclose(b0, b1, atol=0.5)
