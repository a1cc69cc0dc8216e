"""OCR: a Detector and a Recognizer composed into the end-to-end reader.

>>> import rosetta
>>> ocr = rosetta.OCR()                                        # doctest: +SKIP
>>> result = ocr("photo.jpg")                                  # doctest: +SKIP
>>> [(w.text, round(w.confidence, 2)) for w in result.words]   # doctest: +SKIP
[('OPEN', 0.98), ('24h', 0.91)]
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch

from rosetta import tiling
from rosetta.detection.detector import Detector
from rosetta.geometry import rotated_crop
from rosetta.io import ImageError, ImageInput, describe, load_image
from rosetta.result import Result, RotatedBox, Word
from rosetta.train.predict import DecodeConfig, TorchRecognizer as Recognizer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OCRConfig:
    # context around each box, as a fraction of its height, on every side: a box cut tight loses the ends of
    # letters, a loose one takes in a neighbour's; chosen for the shipped models by end-to-end hmean on the
    # training images img_1..200 (scripts/tune_ocr.py; figures in docs/history/RESULTS-2026-12.md)
    crop_margin: float = 0.16
    # each box is also read at these margins (a number for every side, or (along, across) the text) and
    # ``combine`` makes its reads one: a word's end letters are sometimes cut by one margin or joined by a
    # neighbour's letter at another, so three reads per box are the recognizer's cheapest way to words whose box
    # is a little off; () reads once. Chosen on img_1..200 (scripts/tune_ocr.py). A fourth read with "vote" read
    # the training images better and the validation images worse (crops tighter across the text cut the dots
    # under Arabic letters), so it is not the default
    reread_margins: tuple[float | tuple[float, float], ...] = (0.08, 0.24)
    # how a box's reads make one: "max" (the surest read) or "vote" (see :func:`combine_reads`)
    combine: str = "max"
    # re-read only the boxes whose first read (at ``crop_margin``) is less sure than this; None: every box.
    # A sure first read is rarely beaten by a re-read, and text-dense images (receipts: ~75 boxes, 3 reads of
    # each) spend most of their time re-reading
    reread_below: float | None = None
    # words read with a lower confidence are dropped (low-confidence reads are mostly misreads or non-text);
    # None: the recognizer's own value from its card (0.85 for the shipped one, chosen on img_1..200 with the
    # re-read below and the detector's read_score_thresh, scripts/tune_ocr.py), 0 when the card has none;
    # 0 keeps every word
    min_confidence: float | None = None
    keep_empty: bool = False  # keep detections whose text came out empty
    # small print: an image where the detector finds at least ``dense_words`` words whose median height is under
    # ``dense_height`` pixels (as the detector saw them) is detected again at ``dense_scale``, long side up to
    # ``dense_max_side``: print too small for the photo setting is found at 2.5x (receipts read far better, on
    # receipts held out from choosing 2.5 / 2500), while photos, with few words, are not detected twice.
    # When the caller sets the detector's scale (``OCR(scale=, max_side=)``, ``--scale``), an image with at least
    # ``dense_words`` words is detected again at that scale, with the room below. None: never
    dense_words: int | None = 32
    dense_height: float = 40.0
    dense_scale: float = 2.5
    dense_max_side: int = 2500
    # and with room for that many words: (RPN anchors per level, proposals, words); the photo setting stops at
    # 200 words an image, a page of small print has 300-1,200
    dense_limits: tuple[int, int, int] = (3000, 2000, 2000)
    # the detector's word-score threshold when its words are read; None: the detector card's
    # ``read_score_thresh`` (chosen with the floor above by end-to-end hmean on img_1..200,
    # scripts/tune_ocr.py), else its own ``score_thresh`` (chosen for detection alone)
    score_thresh: float | None = None
    # long strips: an image at least ``tile_aspect`` times longer than wide, that the detector would see at under
    # half its tuned scale, is detected as overlapping tiles along its long side (rosetta.tiling), each tile as
    # long as the detector's cap at its scale (at least twice the short side), overlapping by ``tile_overlap`` of a
    # tile: words shorter than the overlap are found whole. None: never tiled
    tile_aspect: float | None = 4.0
    tile_overlap: float = 0.33


class OCR:
    """Read every word in images: detect rotated boxes, crop them upright, recognize, group into lines."""

    def __init__(self, detector: Detector | None = None, recognizer: Recognizer | None = None,
                 config: OCRConfig = OCRConfig(), threads: int | None = None, engine: str = "onnx",
                 int8: bool = False, folder: str | Path | None = None, scripts: Sequence[str] | None = None,
                 min_confidence: float | None = None, scale: float | None = None, max_side: int | None = None):
        """``engine``: "onnx" (default: measured fastest here, see docs/RESULTS.md) or "torch"; ``int8``:
        both models in int8 (ONNX Runtime); ``folder``: model files other than the shipped ones; ``scripts``:
        the scripts the text is known to be in, e.g. ("cyrillic",) (default: every script the model reads).
        ``min_confidence``: overrides ``config.min_confidence`` and the recognizer card's (0 keeps every word found).
        ``scale``, ``max_side``: the detector sees each image at ``scale`` times its size, its long side capped at
        ``max_side`` pixels (default: the detector card's 1.25 and 1600, chosen on ICDAR 2015 photos, and images
        full of small print detected again at 2.5 and 2500, see ``OCRConfig.dense_words``; given, they replace both).
        A ``detector`` or ``recognizer`` given replaces the one that would be loaded."""
        if config.combine not in ("max", "vote"):
            raise ValueError(f"OCRConfig.combine must be 'max' or 'vote', not {config.combine!r}")
        if threads:
            torch.set_num_threads(int(threads))
        folder = Path(folder) if folder else None
        engine = "int8" if int8 else engine
        self.detector = detector or Detector.load(folder, engine=engine)
        self.recognizer = recognizer or Recognizer.load(folder, engine=engine,
                                                        decode=DecodeConfig(scripts=tuple(scripts) if scripts else None))
        if min_confidence is None:
            min_confidence = config.min_confidence
        if min_confidence is None:
            min_confidence = float(self.recognizer.meta.get("min_confidence", 0.0))
        score_thresh = config.score_thresh
        if score_thresh is None:
            score_thresh = getattr(self.detector, "meta", {}).get("read_score_thresh")
        if score_thresh is not None and isinstance(self.detector, Detector):
            self.detector = self.detector.with_config(score_thresh=float(score_thresh))
        self.scale_chosen = scale is not None or max_side is not None  # by the caller: kept for the second pass
        if self.scale_chosen:
            if not isinstance(self.detector, Detector):
                raise ValueError("scale and max_side set rosetta's Detector; this detector has its own settings")
            self.detector = self.detector.scaled(scale, max_side)
        self.config = replace(config, min_confidence=float(min_confidence),
                              score_thresh=None if score_thresh is None else float(score_thresh))
        self.dense_detector = None  # the second pass for pages of words (see OCRConfig.dense_words)
        if self.config.dense_words is not None and isinstance(self.detector, Detector):
            second = self.detector if self.scale_chosen else self.detector.scaled(self.config.dense_scale,
                                                                                  self.config.dense_max_side)
            self.dense_detector = second.with_config(limits=tuple(self.config.dense_limits))

    @property
    def versions(self) -> dict[str, str]:
        return {"detector": str(self.detector.meta.get("version", "?")),
                "recognizer": str(self.recognizer.meta.get("version", "?"))}

    def __call__(self, image: ImageInput, name: str | None = None, scripts: Sequence[str] | None = None) -> Result:
        """Read one image (path, bytes, numpy array or PIL image). Raises ImageError for bad input.
        ``scripts``: the scripts its text is in, for this call (e.g. ("cyrillic",))."""
        name = name or describe(image)
        return self._read([load_image(image, name)], [name], scripts)[0]

    def batch(self, images: Iterable[ImageInput], names: Sequence[str] | None = None,
              scripts: Sequence[str] | None = None) -> list[Result]:
        """Read many images; results in input order. A bad input gives a Result with ``error`` set."""
        arrays, names, errors = load_all(images, names)
        ok = [i for i, a in enumerate(arrays) if a is not None]
        read = self._read([arrays[i] for i in ok], [names[i] for i in ok], scripts) if ok else []
        out: list[Result] = [Result.failed(nm, str(err)) for nm, err in zip(names, errors)]
        for i, r in zip(ok, read):
            out[i] = r
        return out

    def read_boxes(self, image: ImageInput, boxes: np.ndarray | Sequence[Sequence[float]],
                   scores: np.ndarray | Sequence[float] | None = None, name: str | None = None,
                   scripts: Sequence[str] | None = None) -> Result:
        """Read the words in given rotated boxes of one image, without detecting: boxes found elsewhere
        (another detector, a person, detections replayed by an experiment). ``boxes``: (N, 5) rows (cx, cy, w,
        h, angle) in the image's pixels, as ``Word.box``; ``scores``: their word scores (default 1). The words
        are read and kept as in ``__call__`` (crop margins, re-reads, confidence floor), in box order."""
        name = name or describe(image)
        array = load_image(image, name)
        b = np.asarray(boxes, np.float32).reshape(-1, 5)  # (N, 5)
        s = np.ones(len(b), np.float32) if scores is None else np.asarray(scores, np.float32).reshape(-1)
        if len(s) != len(b):
            raise ValueError(f"{len(b)} boxes but {len(s)} scores")
        return self._recognize([array], [(b, s)], [name], scripts, detect_s=0.0)[0]

    def _read(self, arrays: list[np.ndarray], names: list[str], scripts: Sequence[str] | None = None) -> list[Result]:
        t0 = time.perf_counter()
        strip = [self._strip(im) for im in arrays]
        whole = [i for i, s in enumerate(strip) if not s]
        dets = [self._detect_tiled(im) if s else None for im, s in zip(arrays, strip)]
        for i, d in zip(whole, self.detector([arrays[i] for i in whole]) if whole else []):
            dets[i] = d
        again = [i for i in whole if self._small_print(arrays[i], dets[i])]
        if again:  # detected again, larger: their boxes replace the first ones
            for i, d in zip(again, self.dense_detector([arrays[i] for i in again])):
                dets[i] = d
        return self._recognize(arrays, dets, names, scripts, detect_s=time.perf_counter() - t0)

    def _strip(self, image: np.ndarray) -> bool:
        """Whether ``image`` is a long strip to detect in tiles (see ``OCRConfig.tile_aspect``)."""
        if self.config.tile_aspect is None or not isinstance(self.detector, Detector):
            return False
        seen = self.detector.working_size(image.shape) / max(image.shape[:2])
        return tiling.needs_tiles(image.shape, self.config.tile_aspect, seen, self.detector.config.upscale)

    def _detect_tiled(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (N, 5) and scores of a long strip, detected tile by tile (tiles of one size share batches)."""
        cfg = self.detector.config
        tile = max(int(cfg.size / max(cfg.upscale, 1e-6)), 2 * min(image.shape[:2]))
        spans = tiling.windows(image.shape, tile, int(self.config.tile_overlap * tile))
        return tiling.merge(image.shape, spans, self.detector(tiling.cut(image, spans)))

    def _small_print(self, image: np.ndarray, det: tuple[np.ndarray, np.ndarray]) -> bool:
        """Whether an image's first detection (boxes (N, 5), scores) looks like small print that the detector
        would find better at the dense scale (see ``OCRConfig.dense_words``)."""
        c, boxes = self.config, det[0]
        if self.dense_detector is None or len(boxes) < c.dense_words:
            return False
        if self.scale_chosen:  # the caller's scale: a page of words is detected again with room for them all
            return True
        first = self.detector.working_size(image.shape)  # the long side the first pass saw
        if self.dense_detector.working_size(image.shape) <= first:
            return False  # the dense scale would not show it larger
        seen = first / max(image.shape[:2])  # the first pass's scale
        return float(np.median(boxes[:, 3])) * seen < c.dense_height

    def _recognize(self, arrays: list[np.ndarray], dets: Sequence[tuple[np.ndarray, np.ndarray]], names: list[str],
                   scripts: Sequence[str] | None, detect_s: float) -> list[Result]:
        """Each image's detections (boxes (N, 5), scores (N,)) read into its Result."""
        t1 = time.perf_counter()
        margins = (self.config.crop_margin, *self.config.reread_margins)
        per_image: list[list[Word]] = [[] for _ in arrays]
        for k, (img, (boxes, scores)) in enumerate(zip(arrays, dets)):
            # recognizer calls of this image alone: crops share padded batches, and a crop's read moves a little
            # with the padding its batch gives it, so crops of other images must not decide this image's words
            reads = self._reads(img, boxes, margins, scripts)  # per box, its reads (one per margin)
            for j in range(len(boxes)):
                text, conf = combine_reads(reads[j], self.config.combine)
                if (not text and not self.config.keep_empty) or conf < self.config.min_confidence:
                    continue
                per_image[k].append(Word(text, conf, float(scores[j]), RotatedBox(*(float(v) for v in boxes[j]))))
        t2 = time.perf_counter()
        n = max(1, len(arrays))
        meta = {"detect_ms": round(1000 * detect_s / n, 1), "recognize_ms": round(1000 * (t2 - t1) / n, 1),
                "models": self.versions}
        return [Result.build(img.shape[1], img.shape[0], words, image=nm, meta=meta)
                for img, words, nm in zip(arrays, per_image, names)]

    def _reads(self, img: np.ndarray, boxes: np.ndarray, margins: Sequence, scripts: Sequence[str] | None
               ) -> list[list[tuple[str, float]]]:
        """Each box's reads, one per margin (fewer when ``reread_below`` spares a sure first read)."""
        below = self.config.reread_below
        if below is None or len(margins) == 1:  # every box at every margin, in one call (box-major)
            crops = [rotated_crop(img, b, m) for b in boxes for m in margins]
            flat = self.recognizer(crops, scripts) if crops else []
            return [flat[j * len(margins):(j + 1) * len(margins)] for j in range(len(boxes))]
        first = self.recognizer([rotated_crop(img, b, margins[0]) for b in boxes], scripts) if len(boxes) else []
        unsure = [j for j, (_, conf) in enumerate(first) if conf < below]
        crops = [rotated_crop(img, boxes[j], m) for j in unsure for m in margins[1:]]
        more = self.recognizer(crops, scripts) if crops else []
        reads = [[r] for r in first]
        for k, j in enumerate(unsure):
            reads[j] += more[k * (len(margins) - 1):(k + 1) * (len(margins) - 1)]
        return reads

    def read_crops(self, crops: Iterable[ImageInput], names: Sequence[str] | None = None
                   ) -> list[tuple[str, float] | ImageError]:
        """Recognize each input as one word crop (no detection); a bad input yields its ImageError."""
        arrays, names, errors = load_all(crops, names)
        out: list[tuple[str, float] | ImageError] = list(errors)  # type: ignore[arg-type]
        ok = [i for i, a in enumerate(arrays) if a is not None]
        for i, r in zip(ok, self.recognizer([arrays[i] for i in ok])):
            out[i] = r
        return out


def combine_reads(reads: Sequence[tuple[str, float]], rule: str = "max") -> tuple[str, float]:
    """One box's reads (text, confidence), at several crop margins, made one. "max": the most confident read
    (the first on ties). "vote": the text whose reads' confidences sum highest (ties: the higher best read,
    then the first), with the confidence of its best read, so two agreeing reads outvote one surer misread.

    >>> reads = [("CAT", 0.7), ("CAT", 0.6), ("CAR", 0.9)]
    >>> combine_reads(reads, "max"), combine_reads(reads, "vote")
    (('CAR', 0.9), ('CAT', 0.7))
    """
    if rule == "max":
        return max(reads, key=lambda r: r[1])
    if rule != "vote":
        raise ValueError(f"unknown rule {rule!r} for combining reads (max, vote)")
    votes: dict[str, list[float]] = {}
    for text, conf in reads:
        votes.setdefault(text, []).append(conf)
    text = max(votes, key=lambda t: (sum(votes[t]), max(votes[t])))  # dicts keep first-seen order for ties
    return text, max(votes[text])


def load_all(images: Iterable[ImageInput], names: Sequence[str] | None = None
             ) -> tuple[list[np.ndarray | None], list[str], list[ImageError | None]]:
    """Decode every input: (arrays or None, names, errors or None), in input order."""
    images = list(images)
    names = list(names) if names is not None else [describe(im) for im in images]
    arrays: list[np.ndarray | None] = []
    errors: list[ImageError | None] = []
    for im, nm in zip(images, names):
        try:
            arrays.append(load_image(im, nm))
            errors.append(None)
        except ImageError as exc:
            arrays.append(None)
            errors.append(exc)
    return arrays, names, errors


__all__ = ["OCR", "OCRConfig", "combine_reads", "load_all"]
