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
from pathlib import Path
from typing import Iterable, NamedTuple, Sequence

import numpy as np

from rosetta import tiling
from rosetta.boxes.nms import union
from rosetta.config import ReadConfig
from rosetta.geometry import rotated_crop
from rosetta.io import ImageError, ImageInput, describe, load_image
from rosetta.result import Result, RotatedBox, Word
from rosetta.runtime.detector import Detector
from rosetta.runtime.recognizer import DecodeConfig, Recognizer

log = logging.getLogger(__name__)


SMALL_WORDS_NMS = 0.3  # IoU above which a box of the small-words pass and a first-pass box are one word


class SecondPass(NamedTuple):
    """A second detection of an image (:meth:`OCR.second_pass`): the detector, and whether the first pass's
    boxes are kept beside its own (else they are replaced)."""

    detector: Detector
    keep_first: bool


class OCR:
    """Read every word in images: detect rotated boxes, crop them upright, recognize, group into lines.

    Every setting is in one :class:`~rosetta.config.ReadConfig`, passed whole (model card values fill its
    ``None`` fields, :meth:`ReadConfig.resolved`); ``self.config`` is the resolved one in use.

    >>> from rosetta.config import ReadConfig
    >>> OCR(ReadConfig(min_confidence=0.0, threads=1)).config.min_confidence      # doctest: +SKIP
    0.0
    """

    def __init__(self, config: ReadConfig = ReadConfig(), *, detector: Detector | None = None,
                 recognizer: Recognizer | None = None):
        """A ``detector`` or ``recognizer`` given replaces the one ``config`` would load (its ``models``,
        ``int8``, ``engine``, ``scripts``, ``beam``, ``lexicon`` then do not apply to it)."""
        folder = Path(config.models) if config.models else None
        self.detector = detector or Detector.load(folder, int8=config.int8, threads=config.session_threads)
        self.recognizer = recognizer or load_recognizer(config)
        config = config.resolved(getattr(self.detector, "meta", {}), getattr(self.recognizer, "meta", {}))
        if config.score_thresh is not None and tunable(self.detector):
            self.detector = self.detector.with_config(score_thresh=config.score_thresh)
        self.scale_chosen = config.scale_chosen  # by the caller: kept for the second pass
        if self.scale_chosen:
            if not tunable(self.detector):
                raise ValueError("scale and max_side set rosetta's Detector; this detector has its own settings")
            self.detector = self.detector.scaled(config.scale, config.max_side)
        self.config = config
        self.dense_detector = None  # the second pass for pages of words (see ReadConfig.dense_words)
        if config.dense_words is not None and tunable(self.detector):
            second = self.detector if self.scale_chosen else self.detector.scaled(config.dense_scale,
                                                                                  config.dense_max_side)
            self.dense_detector = second.with_config(limits=tuple(config.dense_limits))

    @property
    def versions(self) -> dict[str, str]:
        return {"detector": str(self.detector.meta.get("version", "?")),
                "recognizer": str(self.recognizer.meta.get("version", "?"))}

    def __call__(self, image: ImageInput, name: str | None = None, scripts: Sequence[str] | None = None) -> Result:
        """Read one image (path, bytes, numpy array or PIL image). Raises ImageError for bad input.
        ``scripts``: the scripts its text is in, for this call (e.g. ("cyrillic",))."""
        name = name or describe(image)
        return self.read_arrays([load_image(image, name)], [name], scripts)[0]

    def batch(self, images: Iterable[ImageInput], names: Sequence[str] | None = None,
              scripts: Sequence[str] | None = None) -> list[Result]:
        """Read many images; results in input order. A bad input gives a Result with ``error`` set."""
        arrays, names, errors = load_all(images, names)
        ok = [i for i, a in enumerate(arrays) if a is not None]
        read = self.read_arrays([arrays[i] for i in ok], [names[i] for i in ok], scripts) if ok else []
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

    def read_arrays(self, arrays: list[np.ndarray], names: list[str], scripts: Sequence[str] | None = None
                    ) -> list[Result]:
        """Read decoded RGB uint8 images (H, W, 3), one Result each with its ``names`` entry, in order; what
        ``__call__`` and ``batch`` run after decoding (the service calls it from several threads at once).
        ``scripts``: the scripts the text is in, for this call."""
        t0 = time.perf_counter()
        strip = [self._strip(im) for im in arrays]
        whole = [i for i, s in enumerate(strip) if not s]
        dets = [self._detect_tiled(im) if s else None for im, s in zip(arrays, strip)]
        for i, d in zip(whole, self.detector([arrays[i] for i in whole]) if whole else []):
            dets[i] = d
        again: dict[int, tuple[SecondPass, list[int]]] = {}  # detected again, larger
        for i in whole:
            second = self.second_pass(arrays[i], dets[i])
            if second is not None:
                again.setdefault(id(second.detector), (second, []))[1].append(i)
        for second, idx in again.values():  # images sharing a detector share its batches
            for i, d in zip(idx, second.detector([arrays[i] for i in idx])):
                dets[i] = union([dets[i], d], SMALL_WORDS_NMS) if second.keep_first else d
        return self._recognize(arrays, dets, names, scripts, detect_s=time.perf_counter() - t0)

    def _strip(self, image: np.ndarray) -> bool:
        """Whether ``image`` is a long strip to detect in tiles (see ``ReadConfig.tile_aspect``)."""
        if self.config.tile_aspect is None or not tunable(self.detector):
            return False
        seen = self.detector.working_size(image.shape) / max(image.shape[:2])
        return tiling.needs_tiles(image.shape, self.config.tile_aspect, seen, self.detector.config.upscale)

    def _detect_tiled(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (N, 5) and scores of a long strip, detected tile by tile (tiles of one size share batches)."""
        cfg = self.detector.config
        tile = max(int(cfg.size / max(cfg.upscale, 1e-6)), 2 * min(image.shape[:2]))
        spans = tiling.windows(image.shape, tile, int(self.config.tile_overlap * tile))
        return tiling.merge(image.shape, spans, self.detector(tiling.cut(image, spans)))

    def second_pass(self, image: np.ndarray, det: tuple[np.ndarray, np.ndarray]) -> SecondPass | None:
        """How ``image`` is detected again after its first detection ``det`` (boxes (N, 5), scores): small print
        by the dense detector, whose boxes replace the first ones; a few small words at the scale chosen from them
        (:meth:`small_words_scale`), both passes' boxes kept, overlaps reduced to the surer (larger words, found by
        the first, stay); None: the first boxes are the image's."""
        if self.small_print(image, det):
            return SecondPass(self.dense_detector, keep_first=False)
        scale = self.small_words_scale(image, det)  # within the detector's own long-side cap
        return None if scale is None else SecondPass(self.detector.scaled(scale), keep_first=True)

    def small_words_scale(self, image: np.ndarray, det: tuple[np.ndarray, np.ndarray]) -> float | None:
        """The scale to detect ``image`` again at when its first detection's words (boxes (N, 5) in image
        pixels, scores) are few and small (see ``ReadConfig.small_words``): the one that shows their median height
        ``small_target`` pixels high, at most ``dense_scale``; None when the words are large enough or the image
        would not be seen larger within the detector's long-side cap (its memory stays that of one pass).

        >>> ocr = OCR.__new__(OCR)
        >>> ocr.config, ocr.scale_chosen = ReadConfig(), False
        >>> ocr.detector = Detector.load()  # the shipped card: 1.25x, long side up to 1600
        >>> box, banner = lambda h: np.array([[100, 100, 5 * h, h, 0]], np.float32), np.zeros((300, 400, 3))
        >>> ocr.small_words_scale(banner, (box(10), np.ones(1)))  # 16 px as first seen (at 640 px): 2.8x is capped
        2.5
        >>> ocr.small_words_scale(banner, (box(12), np.ones(1)))
        2.33
        >>> ocr.small_words_scale(banner, (box(14), np.ones(1))) is None  # 22 px as first seen
        True
        >>> ocr.small_words_scale(np.zeros((720, 1280, 3)), (box(10), np.ones(1))) is None  # already seen at 1600
        True
        """
        c, boxes = self.config, det[0]
        if c.small_words is None or self.scale_chosen or not tunable(self.detector) or len(boxes) < c.small_words:
            return None
        first = self.detector.working_size(image.shape) / max(image.shape[:2])  # the first pass's scale
        height = float(np.median(boxes[:, 3]))  # in image pixels
        if height * first >= c.small_height:
            return None
        scale = round(min(c.dense_scale, c.small_target / max(height, 1e-3)), 2)
        seen = self.detector.scaled(scale).working_size(image.shape) / max(image.shape[:2])  # capped as it will be
        return scale if seen > 1.1 * first else None

    def small_print(self, image: np.ndarray, det: tuple[np.ndarray, np.ndarray]) -> bool:
        """Whether an image's first detection (boxes (N, 5), scores) looks like small print that the detector
        would find better at the dense scale (see ``ReadConfig.dense_words``)."""
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


def tunable(detector) -> bool:
    """Whether ``detector`` takes rosetta's detector settings (``with_config``, ``scaled``, ``working_size``): the
    runtime's :class:`~rosetta.runtime.detector.Detector` and the PyTorch one used for comparisons do; another
    detector passed to :class:`OCR` keeps its own."""
    return all(hasattr(detector, m) for m in ("with_config", "scaled", "working_size"))


def load_recognizer(config: ReadConfig = ReadConfig()) -> Recognizer:
    """The recognizer ``config`` reads with (its models folder, engine, scripts, beam, lexicon and dictionary), alone: what
    ``OCR`` loads, for reading word crops without a detector (``rosetta read --crops``)."""
    decode = DecodeConfig(beam_width=config.beam, scripts=tuple(config.scripts) if config.scripts else None,
                          dictionary_bonus=config.dictionary_bonus)
    return Recognizer.load(Path(config.models) if config.models else None, int8=config.int8, decode=decode,
                           threads=config.session_threads,
                           lexicon=read_lexicon(config.lexicon) if config.lexicon else None)


def read_lexicon(path: str | Path) -> list[str]:
    """The words of a lexicon file, one per line (blank lines skipped); a missing file is an error naming it."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise FileNotFoundError(f"{path}: cannot read the lexicon ({exc.strerror})") from exc
    return [w.strip() for w in text.splitlines() if w.strip()]


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


__all__ = ["OCR", "ReadConfig", "tunable", "combine_reads", "load_all", "load_recognizer", "read_lexicon"]
