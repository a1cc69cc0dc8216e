"""Train the rotated Faster R-CNN text detector: synthetic scenes on the fly plus real images.

Launch (background, 1 thread, resumable)::

    nice rosetta train detector --out runs/det --threads 1 --resume
    rosetta train detector --out runs/det --device cuda --batch-size 8   # on a GPU

Real data: ``icdar2015_dev`` img_1..img_200 (their "###" regions are don't-care: neither positive
nor negative) and, with ``bd_share`` > 0, ``icdar2013_borndigital_dev`` img_1..img_260 (web and e-mail graphics).
img_201..img_250 and born-digital img_261..img_310 are the validation images, never trained on; the last
``holdout`` / ``bd_holdout`` training images of each set are not trained on either, and the learning curve and
``best.pt`` are scored on them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import random
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from rosetta.data import icdar2015
from rosetta.data.splits import BD_DATASET, BD_TRAIN_IMAGES, IC15_TRAIN_IMAGES, IC15_VAL_IMAGES
from rosetta.detection.box_coder import wrap180
from rosetta.detection.factorized import FACTORIZED_PREFIXES, factorized_state
from rosetta.detection.model import DetectorConfig, RotatedFasterRCNN
from rosetta.eval import evaluate_images
from rosetta.geometry import boxes_to_quads, quad_to_box
from rosetta.quant.distill import distill_losses, freeze_batchnorm
from rosetta.quant.qat import attach_fake_quant
from rosetta.synth.scenes import SceneSynth, SceneSynthConfig
from rosetta.train.common import (Every, WeightEMA, append_eval, ignore_stop_signals, load_checkpoint, restore,
                                  save_checkpoint, set_threads, setup_logging, warmup_cosine)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetTrainConfig:
    out: str = "runs/det"
    steps: int = 60_000
    warmup: int = 500
    ema_decay: float = 0.999  # weight average evaluated and shipped (about the last 1000 steps)
    batch_size: int = 2
    real_share: float = 0.5  # share of real IC15 images among training images
    crop: int = 512  # training crops are crop x crop pixels ...
    min_scale: float = 0.6  # ... cut from the image rescaled by a factor in [min_scale, max_scale]
    max_scale: float = 1.4
    eval_size: int = 1280  # long side at evaluation (IC15 images are 1280x720: native resolution)
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 1
    threads: int = 1
    workers: int = 1
    device: str = "cpu"
    eval_every: int = 2000
    checkpoint_seconds: float = 300.0
    width: float = 0.5
    stem: str = "pool"  # the trunk's stem (rosetta.backbones.shufflenet.STEMS)
    # the neck's and RPN head's 3x3 convs as 3x1 / 1x3 pairs through this many channels (0: full); with --init
    # from a full detector they start as its kernels' best approximation (rosetta.detection.factorized)
    factor_rank: int = 0
    # with --init: learn to reproduce the --init detector's float outputs (rosetta.quant.distill: features and RPN
    # outputs) instead of the ground truth, BatchNorm statistics frozen; with factor_rank, the pairs learn the full
    # kernels' function on training images rather than the kernels themselves
    distill: bool = False
    distill_steps: int = 600  # with --init from a detector with another stem: steps teaching the new stem first
    qat: bool = False  # train through ONNX Runtime's int8 rounding (rosetta.quant.qat), for the int8 path
    # with qat and --init: learn to reproduce the --init detector's own float outputs (rosetta.quant.distill)
    # instead of the ground truth, BatchNorm statistics frozen; the int8 graph is then built from the result
    qat_distill: bool = False
    # with qat: train in float until this step, then through the int8 rounding for the rest of the schedule
    # (quantization-aware training as the tail of a long run, where the learning rate is already low)
    qat_from: int = 0
    # the last ``holdout`` training images (img_181..200 for 20) are not trained on, so that checkpoints and
    # settings can be chosen on images the detector never saw (img_1..200 alone cannot tell an overfit detector)
    holdout: int = 0
    # share of the real images drawn from the born-digital graphics (img_1..260 less the last ``bd_holdout``)
    bd_share: float = 0.0
    bd_holdout: int = 0
    # born-digital images are small (about 400x300) with small words: their crops are cut from the image
    # rescaled by a factor in [bd_min_scale, bd_max_scale] (reading scales them 1.25x, ``DetectConfig.upscale``)
    bd_min_scale: float = 0.8
    bd_max_scale: float = 2.0
    bd_eval_upscale: float = 1.25  # born-digital images are evaluated at this scale (long side up to 1600)


def detector_from_checkpoint(ck: dict) -> RotatedFasterRCNN:
    """The detector a loaded checkpoint holds (:func:`rosetta.train.common.load_checkpoint`): its
    architecture, its weight average when it has one, in inference mode."""
    model = RotatedFasterRCNN.build(DetectorConfig.from_arch(ck.get("model_config"))).eval()
    model.load_state_dict(ck.get("ema") or ck["model"])
    return model


def start_factorized(model: RotatedFasterRCNN, ck: dict, rank: int) -> None:
    """Load into a factorized ``model`` the pairs that best approximate the full 3x3 kernels of checkpoint ``ck``
    (its weight average when it has one); a checkpoint already factorized at ``rank`` loads as it is."""
    state = ck.get("ema") or ck["model"]
    if DetectorConfig.from_arch(ck.get("model_config")).factor_rank not in (0, rank):
        raise ValueError(f"--init is factorized at rank {ck['model_config']['factor_rank']}, not {rank}")
    pairs = {k: v for k, v in factorized_state(state, rank).items() if k.startswith(FACTORIZED_PREFIXES)}
    missing = set(pairs) ^ {k for k in model.state_dict() if k.startswith(FACTORIZED_PREFIXES)}
    if missing:
        raise ValueError(f"the factorized kernels do not match the model's: {sorted(missing)[:4]}")
    model.load_state_dict(pairs, strict=False)
    log.info("started %d factorized kernels (rank %d) from the full ones", len(pairs) // 3, rank)


def distill_stem(model: RotatedFasterRCNN, teacher_ckpt: dict, batches: Iterator, steps: int, lr: float = 3e-3) -> float:
    """Teach ``model``'s (new) stem to reproduce the stem output of the detector in ``teacher_ckpt`` (a loaded
    checkpoint, :func:`rosetta.train.common.load_checkpoint`; mean
    squared error on training batches), so that fine-tuning starts from features the rest of the network
    knows. Only the stem learns; returns the last loss relative to the teacher's output energy.

    The stems differ (e.g. ``pool`` -> ``patch4``) but both give (B, C, H/4, W/4).
    """
    teacher = detector_from_checkpoint(teacher_ckpt)
    stem = model.trunk.stem
    stem.train()
    opt = torch.optim.Adam(stem.parameters(), lr=lr)
    rel = float("nan")
    for i in range(steps):
        images, _, size = next(batches)
        batch, _, _ = model.transform(images, size)  # (B, 3, H, W), normalised and padded
        with torch.no_grad():
            target = teacher.trunk.stem(batch)  # (B, C, H/4, W/4)
        out = stem(batch)
        loss = F.mse_loss(out, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        for g in opt.param_groups:
            g["lr"] = lr * 0.5 * (1 + math.cos(math.pi * i / steps))
        opt.step()
        rel = loss.item() / max(1e-12, target.pow(2).mean().item())
        if i % 100 == 0 or i == steps - 1:
            log.info("distil stem step %d/%d relative error %.4f", i, steps, rel)
    return rel


def trained_images(holdout: int = 0, images: range = IC15_TRAIN_IMAGES) -> range:
    """The image numbers a detector trains on: ``images`` (default ICDAR 2015 dev img_1..200) less the last
    ``holdout``.

    >>> trained_images(), trained_images(20), trained_images(20, BD_TRAIN_IMAGES)
    (range(1, 201), range(1, 181), range(1, 241))
    """
    return images[:len(images) - holdout]


def held_out_images(holdout: int, images: range = IC15_TRAIN_IMAGES) -> range:
    """The training images ``trained_images(holdout, images)`` leaves out, for choosing checkpoints and settings.

    >>> held_out_images(20), held_out_images(0), held_out_images(20, BD_TRAIN_IMAGES)
    (range(181, 201), range(201, 201), range(241, 261))
    """
    return images[len(trained_images(holdout, images)):]


def quads_to_boxes(quads: list) -> torch.Tensor:
    """Quads (TL, TR, BR, BL) -> undirected rotated boxes (N, 5), angle in [-90, 90)."""
    if not quads:
        return torch.zeros(0, 5)
    b = torch.tensor(np.stack([quad_to_box(q) for q in quads]), dtype=torch.float32)
    b[:, 4] = wrap180(b[:, 4])
    return b


def load_gt(root: Path | None = None, dataset: str = icdar2015.DATASET, numbers: range | None = None) -> list[dict]:
    """Rows of ICDAR 2015 dev (or ``dataset`` in its layout; rosetta.data.icdar2015), images ``numbers`` only if
    given, each with its image's ``path``."""
    data = icdar2015.folder(root, dataset)
    rows = icdar2015.load_gt_rows(data, numbers)
    for r in rows:
        r["path"] = str(data / r["image"])
    return rows


def _rotate(img: np.ndarray, words: list[dict], angle: float) -> tuple[np.ndarray, list[dict]]:
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(h * sin + w * cos), int(h * cos + w * sin)
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    out = cv2.warpAffine(img, m, (nw, nh), borderMode=cv2.BORDER_REFLECT)
    words = [{**wd, "points": cv2.transform(np.float32(wd["points"])[None], m)[0].tolist()} for wd in words]
    return out, words


def random_crop(rng: random.Random, img: np.ndarray, words: list[dict], crop: int, min_scale: float,
                max_scale: float) -> tuple[np.ndarray, list, list]:
    """Rescale by a random factor and cut a ``crop`` x ``crop`` window (padded if the image is smaller).

    The window is centred on a random word half of the time, so text is not rare. A word mostly inside
    the window (>= 70% of its area) stays a target; one cut more than that becomes a don't-care region.
    Returns the crop, cared quads and don't-care quads in crop pixels."""
    s = rng.uniform(min_scale, max_scale)
    h, w = img.shape[:2]
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    quads = [np.float32(wd["points"]) * s for wd in words]
    if quads and rng.random() < 0.5:
        c = quads[rng.randrange(len(quads))].mean(0)
        x0 = int(np.clip(c[0] - rng.uniform(0.2, 0.8) * crop, 0, max(0, nw - crop)))
        y0 = int(np.clip(c[1] - rng.uniform(0.2, 0.8) * crop, 0, max(0, nh - crop)))
    else:
        x0, y0 = rng.randint(0, max(0, nw - crop)), rng.randint(0, max(0, nh - crop))
    out = np.zeros((crop, crop, 3), np.uint8)
    patch = img[y0:y0 + crop, x0:x0 + crop]
    out[:patch.shape[0], :patch.shape[1]] = patch
    care, ign = [], []
    for wd, q in zip(words, quads):
        q = q - np.float32([x0, y0])
        area = abs(cv2.contourArea(q))
        inside = np.clip(q, 0, [patch.shape[1], patch.shape[0]]).astype(np.float32)
        if area < 1 or not ((q[:, 0].max() > 0) & (q[:, 1].max() > 0) & (q[:, 0].min() < patch.shape[1])
                            & (q[:, 1].min() < patch.shape[0])):
            continue
        frac = abs(cv2.contourArea(inside)) / area  # the clipped hull: a close estimate for convex quads
        if wd.get("ignore") or frac < 0.7:
            ign.append(q.tolist())
        else:
            care.append(q.tolist())
    return out, care, ign


class DetBatchStream(IterableDataset):
    """Endless batches ``(images [(3, H, W) in [0, 1]], targets, size)``; batch k from Random(seed:k)."""

    def __init__(self, cfg: DetTrainConfig, start: int = 0):
        self.cfg, self.start = cfg, start
        self._ready = False

    def _setup(self) -> None:
        self.synth = SceneSynth.create(SceneSynthConfig(seed=self.cfg.seed))
        self.real = load_gt(numbers=trained_images(self.cfg.holdout))
        self.bd = (load_gt(dataset=BD_DATASET, numbers=trained_images(self.cfg.bd_holdout, BD_TRAIN_IMAGES))
                   if self.cfg.bd_share > 0 else [])
        self._ready = True

    def sample(self, rng: random.Random, k: int, j: int) -> tuple[np.ndarray, list[dict], tuple[float, float]]:
        """One training image: (RGB image, words, the range of scales its crop is cut at)."""
        cfg = self.cfg
        scales = (cfg.min_scale, cfg.max_scale)
        if rng.random() < cfg.real_share and self.real:
            rows = self.real
            if self.bd and rng.random() < cfg.bd_share:
                rows, scales = self.bd, (cfg.bd_min_scale, cfg.bd_max_scale)
            r = rows[rng.randrange(len(rows))]
            img = cv2.cvtColor(cv2.imread(r["path"], cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            words = r["words"]
            if rng.random() < 0.3:
                img, words = _rotate(img, words, rng.uniform(-15, 15))
            if rng.random() < 0.5:  # photometric jitter
                f = img.astype(np.float32) * rng.uniform(0.7, 1.3) + rng.uniform(-25, 25)
                img = np.clip(f, 0, 255).astype(np.uint8)
            return img, words, scales
        s = self.synth.with_difficulty(min(1.0, 0.4 + k / 20000)).sample(k * 16 + j)
        return np.asarray(s.image), s.words, scales

    def make_batch(self, k: int):
        if not self._ready:
            self._setup()
        rng = random.Random(f"{self.cfg.seed}:{k}")
        images, targets = [], []
        for j in range(self.cfg.batch_size):
            img, words, (lo, hi) = self.sample(rng, k, j)
            img, care, ign = random_crop(rng, img, words, self.cfg.crop, lo, hi)
            images.append(torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float() / 255.0)
            targets.append({"boxes": quads_to_boxes(care), "ignore_boxes": quads_to_boxes(ign)})
        return images, targets, self.cfg.crop

    def __iter__(self) -> Iterator:
        info = get_worker_info()
        wid, nw = (info.id, info.num_workers) if info else (0, 1)
        k = self.start + wid
        while True:
            yield self.make_batch(k)
            k += nw


@torch.no_grad()
def evaluate_detector(model: RotatedFasterRCNN, rows: list[dict], size: int | None = None, device: str = "cpu",
                      upscale: float | None = None) -> dict:
    """Detection scores of ``model`` on ``rows`` (:func:`load_gt`), each image's long side made ``size``, or
    ``upscale`` times its own (at most 1600) when given."""
    model.eval()
    gts, dets = [], []
    for r in rows:
        img = cv2.cvtColor(cv2.imread(r["path"], cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        x = torch.from_numpy(img).permute(2, 0, 1).float() / 255.0
        long_side = min(1600, round(upscale * max(img.shape[:2]))) if upscale else size
        out = model([x.to(device)], size=long_side)[0]
        quads = boxes_to_quads(out["boxes"].cpu().numpy()) if len(out["boxes"]) else np.zeros((0, 4, 2))
        dets.append([{"points": q.tolist()} for q in quads])
        gts.append(r["words"])
    return evaluate_images(gts, dets)


def train(cfg: DetTrainConfig, resume: bool = False, max_minutes: float | None = None, init: str | None = None) -> Path:
    out = Path(cfg.out)
    setup_logging(out / "train.log")
    set_threads(cfg.threads)
    device = torch.device(cfg.device)
    model_cfg = DetectorConfig(width=cfg.width, stem=cfg.stem, factor_rank=cfg.factor_rank)
    model = RotatedFasterRCNN.build(model_cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    last = out / "last.pt"
    ema = WeightEMA(model, cfg.ema_decay)
    # the --init checkpoint, read once, for what starts from it (a fresh run) or learns from it (distillation)
    fresh = not (resume and last.exists())
    init_ck = load_checkpoint(Path(init)) if init and (fresh or cfg.distill or cfg.qat_distill) else None
    step, best = restore(model, opt, last if resume else None, init_ck if fresh else None, ema)
    if step == 0 and init_ck and cfg.factor_rank:
        start_factorized(model, init_ck, cfg.factor_rank)
        ema.reset(model)
    log.info("detector %.2fM params, config %s", sum(p.numel() for p in model.parameters()) / 1e6,
             json.dumps(dataclasses.asdict(cfg)))
    (out / "config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=2))
    loader = DataLoader(DetBatchStream(cfg, start=step), batch_size=None, num_workers=cfg.workers,
                        prefetch_factor=2 if cfg.workers else None, worker_init_fn=ignore_stop_signals)
    batches = iter(loader)
    if step == 0 and init_ck and DetectorConfig.from_arch(init_ck.get("model_config")).stem != cfg.stem:
        distill_stem(model, init_ck, batches, cfg.distill_steps)
        ema.reset(model)
    float_self = None
    if cfg.qat_distill or cfg.distill:
        if not init or (cfg.qat_distill and not cfg.qat):
            raise ValueError("distill needs --init (the float detector to reproduce), qat_distill qat=1 too")
        float_self = detector_from_checkpoint(init_ck).to(device)
        for p in float_self.parameters():
            p.requires_grad_(False)
    quantized = {"on": False}

    def quantize_when_due() -> None:
        if cfg.qat and not quantized["on"] and step >= cfg.qat_from:
            attach_fake_quant(model)
            quantized["on"] = True
            log.info("step %d: training through the int8 rounding from here on", step)

    quantize_when_due()
    # the learning curve (and best.pt) on the held-out training images when there are some, so that no
    # checkpoint is ever picked on the validation images; else on the validation images, for the curve only
    scored = held_out_images(cfg.holdout) if cfg.holdout else IC15_VAL_IMAGES
    val_rows = load_gt(numbers=scored)
    bd_rows = (load_gt(dataset=BD_DATASET, numbers=held_out_images(cfg.bd_holdout, BD_TRAIN_IMAGES))
               if cfg.bd_share > 0 and cfg.bd_holdout else [])
    ckpt_timer = Every(cfg.checkpoint_seconds)
    t_end = time.monotonic() + 60 * max_minutes if max_minutes else math.inf
    stop = {"now": False}

    def on_term(signum, frame):
        stop["now"] = True

    old = {s: signal.signal(s, on_term) for s in (signal.SIGTERM, signal.SIGINT)}

    def state() -> dict:
        return {"model": model.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(), "step": step, "best": best,
                "model_config": model_cfg.arch(), "train_config": dataclasses.asdict(cfg)}

    from tqdm import tqdm

    bar = tqdm(total=cfg.steps, initial=step, dynamic_ncols=True, mininterval=5)
    avg: dict[str, float] = {}  # running averages of the losses, for the log
    t0, seen = time.monotonic(), 0

    def train_mode() -> None:  # BatchNorm statistics stay frozen while self-distilling
        model.train()
        if float_self is not None:
            freeze_batchnorm(model)

    train_mode()
    for images, targets, size in batches:
        if step >= cfg.steps or time.monotonic() > t_end or stop["now"]:
            break
        quantize_when_due()
        for g in opt.param_groups:
            g["lr"] = cfg.lr * warmup_cosine(step, cfg.steps, cfg.warmup)
        images = [im.to(device) for im in images]
        targets = [{k: v.to(device) for k, v in t.items()} for t in targets]
        if float_self is not None:
            losses = distill_losses(model, float_self, model.transform(images, size)[0])
        else:
            losses = model(images, targets, size=size)
        loss = sum(losses.values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        ema.update(model)
        step += 1
        seen += len(images)
        for k, v in losses.items():
            avg[k] = float(v) if k not in avg else 0.98 * avg[k] + 0.02 * float(v)
        bar.update(1)
        if step % 10 == 0:
            bar.set_postfix({k.replace("_", ""): f"{v:.3f}" for k, v in avg.items()}
                            | {"img_s": f"{seen / (time.monotonic() - t0):.1f}"})
        if step % 200 == 0:
            log.info("step %d %s lr %.2e img/s %.2f", step, json.dumps({k: round(v, 4) for k, v in avg.items()}),
                     opt.param_groups[0]["lr"], seen / (time.monotonic() - t0))
        if step % cfg.eval_every == 0:
            with ema.applied(model):  # the averaged weights are the ones evaluated and shipped
                res = evaluate_detector(model, val_rows, size=cfg.eval_size, device=str(device))
                if bd_rows:  # scored on both kinds of image; best.pt by the mean of the two hmeans
                    res = {"ic15": res, "bd": evaluate_detector(model, bd_rows, device=str(device),
                                                                upscale=cfg.bd_eval_upscale)}
                    res["mean_hmean"] = (res["ic15"]["det"]["hmean"] + res["bd"]["det"]["hmean"]) / 2
            train_mode()
            log.info("eval step %d %s", step, json.dumps(res))
            append_eval(out, step, res)
            score = res["mean_hmean"] if bd_rows else res["det"]["hmean"]
            if score > best:
                best = score
                save_checkpoint(out / "best.pt", state())
        if ckpt_timer():
            save_checkpoint(last, state())
    save_checkpoint(last, state())
    bar.close()
    for s, h in old.items():
        signal.signal(s, h)
    log.info("stopped at step %d", step)
    return last
