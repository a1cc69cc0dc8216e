"""Train the CTC word recognizer on synthetic words (generated on the fly) mixed with real crops.

Launch (background, 1 thread, resumable)::

    nice rosetta train recognizer --out runs/rec --threads 1 --resume
    rosetta train recognizer --out runs/rec --device cuda --batch-size 256   # on a GPU

Batches are homogeneous: *word* batches (real Latin crops + synthetic words of all scripts) and
*line* batches (real Arabic book lines + synthetic lines), so long lines do not pad short words.
The curriculum raises synthetic difficulty (word length, distortion) over the first steps.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import random
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from rosetta.charset import Charset, logical_to_visual, normalize, visual_to_logical
from rosetta.data.crops import Crops, load_crops, photo_word_crops
from rosetta.metrics import text_scores
from rosetta.models import load_weights
from rosetta.recognition.model import CTCRecognizer, RecognizerConfig, output_lengths
from rosetta.runtime.decode import greedy_decode
from rosetta.runtime.preprocess import MAX_WIDTH, pad_batch, to_input
from rosetta.synth.words import WordSynth, WordSynthConfig
from rosetta.train.common import (Every, WeightEMA, append_eval, ignore_stop_signals, load_checkpoint, restore,
                                  save_checkpoint, set_threads, setup_logging, warmup_cosine)
from rosetta.train.context import PhotoWords, loosen
from rosetta.train.grow import grow_state

log = logging.getLogger(__name__)

BUCKET = 4  # batches per width-sorted chunk
LATIN_REAL = ("iiit5k_train", "icdar2015_wordrec_train", "svt_train", "vintext_rec_train")
ARABIC_REAL = ("arabic_lines_dev",)


@dataclass(frozen=True)
class TrainConfig:
    out: str = "runs/rec"
    steps: int = 40_000  # schedule horizon; a run may stop earlier and resume later
    warmup: int = 300
    ema_decay: float = 0.999  # weight average evaluated and shipped (about the last 1000 steps)
    batch_size: int = 48  # word batches; line batches use batch_size // 4
    line_batch_share: float = 0.2
    real_share: float = 0.5  # share of real crops in word batches
    real_line_share: float = 0.6  # share of real Arabic lines in line batches
    # synthetic word scripts (Latin, Cyrillic, Arabic): Cyrillic has no real data, so it gets the most
    synth_script_weights: tuple[float, float, float] = (0.35, 0.45, 0.2)
    lr: float = 2e-3
    weight_decay: float = 0.01
    curriculum_steps: int = 4000  # synthetic difficulty rises from 0.3 to 1.0 over these steps
    seed: int = 1
    threads: int = 1
    workers: int = 1
    device: str = "cpu"
    eval_every: int = 1000
    checkpoint_seconds: float = 300.0
    max_word_width: int = 256
    real_pool_power: float = 0.5  # real crop sets drawn in proportion to size ** power: small sets are not memorised
    # real words cut from full training photos as the reader cuts a detected box (``rosetta.train.context``):
    # "DATASET:RANGE" ("" for none), drawn for this share of the real Latin crops
    context_photos: str = ""
    context_share: float = 0.0
    loosen_share: float = 0.0  # share of the other real crops given a reader's margin and a neighbour's edge
    channels_last: bool = True  # measured faster for fp32 training on AVX2 (benchmarks/train_speed.py)
    model: dict = field(default_factory=dict)  # RecognizerConfig overrides


# ----------------------------------------------------------------------------- augmentation
def augment_real(rng: random.Random, g: np.ndarray) -> np.ndarray:
    """Light photometric and geometric jitter of a real grayscale crop."""
    h, w = g.shape
    if rng.random() < 0.5:  # crop jitter: the detector's boxes are not perfect
        dx0, dx1 = (int(rng.uniform(-0.06, 0.06) * h) for _ in range(2))
        dy0, dy1 = (int(rng.uniform(-0.06, 0.08) * h) for _ in range(2))
        g = cv2.copyMakeBorder(g, max(0, -dy0), max(0, -dy1), max(0, -dx0), max(0, -dx1), cv2.BORDER_REPLICATE)
        g = g[max(0, dy0):g.shape[0] - max(0, dy1), max(0, dx0):g.shape[1] - max(0, dx1)]
        if g.size == 0 or g.shape[0] < 4 or g.shape[1] < 4:
            return augment_real(rng, cv2.resize(g if g.size else np.zeros((h, w), np.uint8), (w, h)))
    if rng.random() < 0.3:
        h, w = g.shape
        m = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-3, 3), 1.0)
        g = cv2.warpAffine(g, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
    f = g.astype(np.float32)
    if rng.random() < 0.5:
        c, b = rng.uniform(0.6, 1.3), rng.uniform(-30, 30)
        f = (f - 128) * c + 128 + b
    if rng.random() < 0.2:
        f = cv2.GaussianBlur(f, (0, 0), rng.uniform(0.4, 1.2))
    if rng.random() < 0.2:
        f = f + np.random.default_rng(rng.getrandbits(32)).normal(0, rng.uniform(2, 8), f.shape).astype(np.float32)
    if rng.random() < 0.1:
        f = 255 - f
    return np.clip(f, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- data stream
class BatchStream(IterableDataset):
    """Infinite stream of ready batches ``(x, labels, label_lengths, widths, texts)``.

    Batch ``k`` is drawn from ``random.Random(f"{seed}:{k}")`` so a resumed run continues with
    fresh, reproducible data (``start`` = the step to resume from)."""

    def __init__(self, cfg: TrainConfig, charset: Charset, start: int = 0):
        self.cfg, self.charset, self.start = cfg, charset, start
        self._ready = False

    def _setup(self) -> None:
        c = self.cfg
        self.latin = [load_crops(d, "train") for d in LATIN_REAL]
        self.arabic = [load_crops(d, "train") for d in ARABIC_REAL]
        self.context = PhotoWords(c.context_photos) if c.context_photos else None
        self.synth = WordSynth.create(WordSynthConfig(scripts=("latin", "cyrillic", "arabic"),
                                                      script_weights=tuple(c.synth_script_weights), seed=c.seed,
                                                      line_share=0.03, max_line_words=3))
        self.line_synth = WordSynth.create(WordSynthConfig(scripts=("arabic", "latin", "cyrillic"),
                                                           script_weights=(0.7, 0.15, 0.15), line_share=1.0,
                                                           seed=c.seed + 500, max_line_words=10))
        self._ready = True

    def _difficulty(self, step: int) -> float:
        return min(1.0, 0.3 + 0.7 * step / max(1, self.cfg.curriculum_steps))

    def _real(self, rng: random.Random, pools: list[Crops], loosen_share: float | None = None
              ) -> tuple[np.ndarray, str]:
        """A real crop of ``pools`` (drawn by pool size ** ``real_pool_power``), augmented; with probability
        ``loosen_share`` first given a reader's margin and a neighbour's edge from the same pool (:func:`loosen`;
        None: never, and no draw for it, so the stream of the pools that are never loosened stays as it was)."""
        sizes = [len(p) for p in pools]
        k = rng.choices(range(len(pools)), weights=[n ** self.cfg.real_pool_power for n in sizes])[0]
        i = rng.randrange(sizes[k])
        g = pools[k].images[i]
        if loosen_share is not None and rng.random() < loosen_share:
            g = loosen(rng, g, [pools[k].images[rng.randrange(sizes[k])] for _ in range(2)])
        return augment_real(rng, g), pools[k].texts[i]

    def make_chunk(self, k: int) -> list:
        """Chunk ``k``: ``BUCKET`` batches of one kind, made from samples sorted by width."""
        if not self._ready:
            self._setup()
        c = self.cfg
        rng = random.Random(f"{c.seed}:{k}")
        d = self._difficulty(k * BUCKET)
        lines = rng.random() < c.line_batch_share
        n = (max(2, c.batch_size // 4) if lines else c.batch_size) * BUCKET
        inputs, texts = [], []
        for j in range(n):
            if lines:
                if rng.random() < c.real_line_share:
                    img, text = self._real(rng, self.arabic)
                else:
                    s = self.line_synth.with_difficulty(d).sample(k * 1000 + j)
                    img, text = np.asarray(s.image), s.text
            else:
                if rng.random() < c.real_share:
                    if self.context is not None and rng.random() < c.context_share:
                        img, text = self.context.sample(rng)
                        img = augment_real(rng, img)
                    else:
                        img, text = self._real(rng, self.latin, c.loosen_share)
                else:
                    s = self.synth.with_difficulty(d).sample(k * 1000 + j)
                    img, text = np.asarray(s.image), s.text
            x = to_input(img)
            limit = MAX_WIDTH if lines else c.max_word_width
            if x.shape[1] > limit:
                x = cv2.resize(x, (limit, x.shape[0]), interpolation=cv2.INTER_AREA)
            label = self.charset.encode(logical_to_visual(normalize(text)))
            # CTC needs a column per character plus one between repeats: drop crops too narrow for it
            need = len(label) + sum(a == b for a, b in zip(label, label[1:]))
            if not label or int(output_lengths(torch.tensor([x.shape[1]]))[0]) < need:
                continue
            inputs.append(x)
            texts.append(text)
        order = sorted(range(len(inputs)), key=lambda i: inputs[i].shape[1])
        per = math.ceil(len(order) / BUCKET)
        batches = []
        for b in range(0, len(order), per):
            idx = order[b:b + per]
            batch, widths = padded_tensors([inputs[i] for i in idx])
            bt = [texts[i] for i in idx]
            encoded = [self.charset.encode(logical_to_visual(normalize(t))) for t in bt]
            labels = torch.tensor([i for e in encoded for i in e], dtype=torch.long)
            lengths = torch.tensor([len(e) for e in encoded], dtype=torch.long)
            batches.append((batch, labels, lengths, widths, bt))
        rng.shuffle(batches)
        return batches

    def __iter__(self) -> Iterator:
        info = get_worker_info()
        wid, nw = (info.id, info.num_workers) if info else (0, 1)
        k = self.start // BUCKET + wid
        while True:
            yield from self.make_chunk(k)
            k += nw


def padded_tensors(inputs: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`rosetta.runtime.preprocess.pad_batch` as tensors: the batch (B, 1, 32, W) and the widths (B,)."""
    batch, widths = pad_batch(inputs)
    return torch.from_numpy(batch), torch.from_numpy(widths)


# ----------------------------------------------------------------------------- evaluation
@torch.no_grad()
def predict_crops(model: CTCRecognizer, charset: Charset, images: list[np.ndarray], batch_size: int = 64,
                  device: str = "cpu") -> list[tuple[str, float]]:
    """Greedy-decode crops (any size, gray or RGB). Returns (text in logical order, confidence)."""
    model.eval()
    inputs = [to_input(im) for im in images]
    order = sorted(range(len(inputs)), key=lambda i: inputs[i].shape[1])
    out: list[tuple[str, float]] = [("", 0.0)] * len(inputs)
    for b in range(0, len(order), batch_size):
        idx = order[b:b + batch_size]
        x, widths = padded_tensors([inputs[i] for i in idx])
        logits, _ = model(x.to(device))
        lp = torch.log_softmax(logits.float(), -1).cpu().numpy()
        lens = output_lengths(widths).tolist()
        for j, i in enumerate(idx):
            seq, conf = greedy_decode(lp[j, :lens[j]])
            out[i] = (visual_to_logical(charset.decode(seq)), conf)
    return out


def evaluate(model: CTCRecognizer, charset: Charset, sets: dict[str, Crops], device: str = "cpu") -> dict:
    res = {}
    for name, crops in sets.items():
        preds = [t for t, _ in predict_crops(model, charset, crops.images, device=device)]
        res[name] = text_scores(preds, crops.texts)
    return res


def validation_sets(limit: int | None = None) -> dict[str, Crops]:
    """The fixed validation splits, grouped by source photo (see rosetta.data.splits); ``limit`` keeps N of each,
    evenly spaced through the split so that a quick evaluation still sees many photos."""
    sets = {"iiit5k_val": load_crops("iiit5k_train", "val", case_sensitive=False),
            "ic15_val": load_crops("icdar2015_wordrec_train", "val"),
            "vintext_val": load_crops("vintext_rec_train", "val"),
            "ic15_photo_val": photo_word_crops(numbers=range(1, 201)),  # never trained on by any recognizer
            "arabic_val": load_crops("arabic_lines_dev", "val")}
    if limit:
        sets = {k: _spaced(v, limit) for k, v in sets.items()}
    return sets


def _spaced(crops: Crops, n: int) -> Crops:
    """``n`` crops evenly spaced through ``crops`` (all of them when there are fewer)."""
    idx = sorted({int(i * len(crops) / n) for i in range(n)}) if len(crops) > n else list(range(len(crops)))
    return Crops([crops.images[i] for i in idx], [crops.texts[i] for i in idx], [crops.names[i] for i in idx])


# ----------------------------------------------------------------------------- training loop
def init_weights(init: str) -> tuple[dict[str, torch.Tensor], Charset]:
    """The weights and charset of ``init``: ``shipped`` (the packaged recognizer), a model folder holding
    ``recognizer.safetensors``, or a training checkpoint (its weight average when it has one, as shipped)."""
    if init == "shipped" or Path(init).is_dir():
        src, meta = load_weights("recognizer", None if init == "shipped" else Path(init))
        return src, Charset.from_text(meta["charset"])
    ck = load_checkpoint(Path(init))
    return ck.get("ema") or ck["model"], Charset.from_text(ck["charset"])


def grown_from(init: str, model: CTCRecognizer, charset: Charset) -> dict[str, torch.Tensor]:
    """The state that continues ``init`` (see :func:`init_weights`) in ``model`` (see ``rosetta.train.grow``)."""
    src, src_charset = init_weights(init)
    log.info("initialised from %s (%d classes -> %d)", init, src_charset.num_classes, charset.num_classes)
    return grow_state(model.state_dict(), src, src_charset, charset)


def train(cfg: TrainConfig, resume: bool = False, max_minutes: float | None = None, init: str | None = None) -> Path:
    out = Path(cfg.out)
    setup_logging(out / "train.log")
    set_threads(cfg.threads)
    device = torch.device(cfg.device)
    charset = Charset.from_scripts()
    model_cfg = RecognizerConfig(num_classes=charset.num_classes, **cfg.model)
    model = CTCRecognizer(model_cfg).to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    last = out / "last.pt"
    ema = WeightEMA(model, cfg.ema_decay)
    if init and not (resume and last.exists()):
        model.load_state_dict(grown_from(init, model, charset))
        init = None
    step, best = restore(model, opt, last if resume else None, init, ema)
    nparams = sum(p.numel() for p in model.parameters())
    log.info("recognizer %s, %.2fM params, charset %d, config %s", model_cfg, nparams / 1e6, charset.num_classes,
             json.dumps(dataclasses.asdict(cfg)))
    (out / "config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=2))
    stream = BatchStream(cfg, charset, start=step)
    loader = DataLoader(stream, batch_size=None, num_workers=cfg.workers, prefetch_factor=4 if cfg.workers else None,
                        persistent_workers=False, worker_init_fn=ignore_stop_signals)
    val = validation_sets(limit=400)
    use_amp = device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    ckpt_timer = Every(cfg.checkpoint_seconds)
    t_end = time.monotonic() + 60 * max_minutes if max_minutes else math.inf
    from tqdm import tqdm

    bar = tqdm(total=cfg.steps, initial=step, dynamic_ncols=True, mininterval=5)
    ema_loss, ema_acc, seen, t0 = None, None, 0, time.monotonic()

    def state() -> dict:
        return {"model": model.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(), "step": step, "best": best,
                "model_config": dataclasses.asdict(model_cfg), "charset": charset.to_text(),
                "train_config": dataclasses.asdict(cfg)}

    stop = {"now": False}

    def on_term(signum, frame):  # kill / Ctrl-C: finish the step, write the checkpoint, exit
        stop["now"] = True

    old_handlers = {sig: signal.signal(sig, on_term) for sig in (signal.SIGTERM, signal.SIGINT)}
    model.train()
    for x, labels, lengths, widths, texts in loader:
        if step >= cfg.steps or time.monotonic() > t_end or stop["now"]:
            break
        for g in opt.param_groups:
            g["lr"] = cfg.lr * warmup_cosine(step, cfg.steps, cfg.warmup)
        x = x.to(device, non_blocking=True)
        if cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
            logits, loss = model(x, (labels.to(device), lengths.to(device), widths.to(device)))
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        scaler.step(opt)
        scaler.update()
        ema.update(model)
        step += 1
        seen += len(texts)
        if step % 20 == 0:
            lp = torch.log_softmax(logits.detach().float(), -1).cpu().numpy()
            lens = output_lengths(widths).tolist()
            preds = [visual_to_logical(charset.decode(greedy_decode(lp[j, :lens[j]])[0])) for j in range(len(texts))]
            acc = float(np.mean([p == normalize(t) for p, t in zip(preds, texts)]))
            ema_acc = acc if ema_acc is None else 0.9 * ema_acc + 0.1 * acc
        lv = float(loss.detach())
        ema_loss = lv if ema_loss is None else 0.98 * ema_loss + 0.02 * lv
        bar.update(1)
        if step % 20 == 0:
            rate = seen / max(1e-6, time.monotonic() - t0)
            bar.set_postfix(loss=f"{ema_loss:.3f}", acc=f"{ema_acc or 0:.3f}", crops_s=f"{rate:.0f}")
        if step % 200 == 0:
            log.info("step %d loss %.4f acc %.3f lr %.2e crops/s %.1f", step, ema_loss, ema_acc or 0,
                     opt.param_groups[0]["lr"], seen / max(1e-6, time.monotonic() - t0))
        if step % cfg.eval_every == 0:
            with ema.applied(model):  # the averaged weights are the ones evaluated and shipped
                res = evaluate(model, charset, val, device=str(device))
            model.train()
            score = (res["iiit5k_val"]["word_acc"] + res["ic15_val"]["word_acc"] + res["vintext_val"]["word_acc"]
                     + res["ic15_photo_val"]["word_acc"] + (1 - res["arabic_val"]["cer"]))
            log.info("eval step %d %s", step, json.dumps({k: {m: round(v, 4) for m, v in r.items()} for k, r in res.items()}))
            append_eval(out, step, res)
            if score > best:
                best = score
                save_checkpoint(out / "best.pt", state())
        if ckpt_timer():
            save_checkpoint(last, state())
    save_checkpoint(last, state())
    bar.close()
    for sig, h in old_handlers.items():
        signal.signal(sig, h)
    log.info("stopped at step %d", step)
    return last
