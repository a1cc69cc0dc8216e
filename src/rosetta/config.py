"""ReadConfig: every setting of reading images, in one frozen dataclass passed whole to ``OCR``, ``batch`` and
``serve`` (built once from the API or from the CLI, :mod:`rosetta.cli_options`). No PyTorch here.

A ``None`` means "the model card's value"; :meth:`ReadConfig.resolved` fills those from the cards, in one place.

>>> cfg = ReadConfig(int8=True, scripts=("cyrillic",))
>>> cfg.int8, cfg.min_confidence, cfg.resolved({"read_score_thresh": 0.6}, {"min_confidence": 0.85}).min_confidence
(True, None, 0.85)
>>> ReadConfig.from_dict(cfg.to_dict()) == cfg
True
>>> ReadConfig(scale=0.0)
Traceback (most recent call last):
ValueError: scale must be between 0.1 and 8, not 0.0
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Mapping

SCALE_RANGE = (0.1, 8)  # what ReadConfig.scale (and the CLI's --scale) accepts
MAX_SIDE_RANGE = (64, 8192)  # what ReadConfig.max_side (and --max-side) accepts, in pixels
COMBINE_RULES = ("max", "vote")


@dataclass(frozen=True)
class ReadConfig:
    # ---------------------------------------------------------------- the models and how they run
    models: str | None = None  # folder with detector/recognizer files; None: the shipped ones (rosetta/models/)
    # both models int8 (built by `rosetta quantize`): the detector's graph on ONNX Runtime, the recognizer's on
    # the faster of ONNX Runtime and the acc16 kernels, timed once per machine (rosetta.runtime.acc16_recognizer)
    int8: bool = False
    threads: int | None = None  # intra-op threads of each model's ONNX Runtime session (None: all cores)
    # ---------------------------------------------------------------- detection
    # the detector sees each image at ``scale`` times its size, its long side capped at ``max_side`` pixels.
    # None: the detector card's (1.25 and 1600 for the shipped one, chosen on ICDAR 2015 photos), and images full
    # of small print detected again at ``dense_scale`` / ``dense_max_side``; given, they replace both
    scale: float | None = None
    max_side: int | None = None
    # the detector's word-score threshold when its words are read; None: the detector card's
    # ``read_score_thresh`` (chosen with the floor below by end-to-end hmean on img_1..200, scripts/tune_ocr.py),
    # else the detector's own threshold (its card's ``score_thresh``, chosen for detection alone)
    score_thresh: float | None = None
    # small print: an image where the detector finds at least ``dense_words`` words whose median height is under
    # ``dense_height`` pixels (as the detector saw them) is detected again at ``dense_scale``, long side up to
    # ``dense_max_side``: print too small for the photo setting is found at 2.5x (receipts read far better, on
    # receipts held out from choosing 2.5 / 2500), while photos, with few words, are not detected twice.
    # When the caller sets the detector's scale (``scale``, ``max_side``, ``--scale``), an image with at least
    # ``dense_words`` words is detected again at that scale, with the room below. None: never
    dense_words: int | None = 32
    dense_height: float = 40.0
    dense_scale: float = 2.5
    dense_max_side: int = 2500
    # and with room for that many words: (RPN anchors per level, proposals, words); the photo setting stops at
    # 200 words an image, a page of small print has 300-1,200
    dense_limits: tuple[int, int, int] = (3000, 2000, 2000)
    # small words, few of them (web graphics, banners, a sign far away): an image where the detector finds at least
    # ``small_words`` words whose median height is under ``small_height`` pixels as it saw them (and that is not
    # small print above) is detected again at the scale chosen from the image: the one that shows that median
    # ``small_target`` pixels high (at most ``dense_scale``, long side within the detector's cap); the boxes of both
    # passes are kept, overlaps reduced to the surer (replacing the first pass's lost photos' large words: ICDAR 2015
    # img_1..200 e2e -1.2 points). None: never; off when the caller sets the scale
    small_words: int | None = 1
    small_height: float = 20.0
    small_target: float = 28.0
    # long strips: an image at least ``tile_aspect`` times longer than wide, that the detector would see at under
    # half its tuned scale, is detected as overlapping tiles along its long side (rosetta.tiling), each tile as
    # long as the detector's cap at its scale (at least twice the short side), overlapping by ``tile_overlap`` of a
    # tile: words shorter than the overlap are found whole. None: never tiled
    tile_aspect: float | None = 4.0
    tile_overlap: float = 0.33
    # ---------------------------------------------------------------- reading each box
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
    # how a box's reads make one: "max" (the surest read) or "vote" (see :func:`rosetta.ocr.combine_reads`)
    combine: str = "max"
    # re-read only the boxes whose first read (at ``crop_margin``) is less sure than this; None: every box.
    # A sure first read is rarely beaten by a re-read, and text-dense images (receipts: ~75 boxes, 3 reads of
    # each) spend most of their time re-reading
    reread_below: float | None = None
    # the scripts the text is known to be in, e.g. ("cyrillic",); None: every script the model reads
    scripts: tuple[str, ...] | None = None
    beam: int = 1  # CTC beam width (1 = greedy)
    lexicon: str | None = None  # a file of allowed words, one per line (beam search keeps to them)
    # a Latin reading that is an English word outranks likelier non-words by this log-probability
    # (rosetta.runtime.dictionary); None: the recognizer card's ``dictionary_bonus``; 0: off
    dictionary_bonus: float | None = None
    # ---------------------------------------------------------------- which words are kept
    # words read with a lower confidence are dropped (low-confidence reads are mostly misreads or non-text);
    # None: the recognizer card's ``min_confidence`` (0.8 for the shipped one, chosen on img_1..200 with the
    # re-reads above and the detector's read_score_thresh, scripts/tune_ocr.py), 0 when the card has none;
    # 0 keeps every word
    min_confidence: float | None = None
    keep_empty: bool = False  # keep detections whose text came out empty

    def __post_init__(self) -> None:
        if self.scale is not None and not SCALE_RANGE[0] <= self.scale <= SCALE_RANGE[1]:
            raise ValueError(f"scale must be between {SCALE_RANGE[0]} and {SCALE_RANGE[1]}, not {self.scale}")
        if self.max_side is not None and not MAX_SIDE_RANGE[0] <= self.max_side <= MAX_SIDE_RANGE[1]:
            raise ValueError(f"max_side must be between {MAX_SIDE_RANGE[0]} and {MAX_SIDE_RANGE[1]} pixels, "
                             f"not {self.max_side}")
        if self.combine not in COMBINE_RULES:
            raise ValueError(f"ReadConfig.combine must be 'max' or 'vote', not {self.combine!r}")
        if self.beam < 1:
            raise ValueError(f"ReadConfig.beam must be at least 1, not {self.beam}")
        if self.dictionary_bonus is not None and not 0 <= self.dictionary_bonus < 100:
            raise ValueError(f"ReadConfig.dictionary_bonus must be between 0 and 100, not {self.dictionary_bonus}")

    @property
    def scale_chosen(self) -> bool:
        """Whether the caller chose the detector's scale (then the small-print pass keeps it, see ``dense_words``)."""
        return self.scale is not None or self.max_side is not None

    @property
    def session_threads(self) -> int:
        """The intra-op threads each model's session runs on: ``threads``, or every core this process may use."""
        return int(self.threads) if self.threads else len(os.sched_getaffinity(0))

    def resolved(self, detector_meta: Mapping[str, Any], recognizer_meta: Mapping[str, Any]) -> "ReadConfig":
        """This config with the values left to the model cards filled in (the one place that reads them):
        ``min_confidence`` from the recognizer card (0 when it has none) and ``score_thresh`` from the detector
        card's ``read_score_thresh`` (None when it has none: the detector keeps its own threshold).

        >>> ReadConfig().resolved({"score_thresh": 0.8}, {}).score_thresh, ReadConfig().resolved({}, {}).min_confidence
        (None, 0.0)
        >>> ReadConfig(min_confidence=0.0).resolved({}, {"min_confidence": 0.85}).min_confidence
        0.0
        """
        floor = self.min_confidence
        if floor is None:
            floor = recognizer_meta.get("min_confidence", 0.0)
        thresh = self.score_thresh
        if thresh is None:
            thresh = detector_meta.get("read_score_thresh")
        return replace(self, min_confidence=float(floor), score_thresh=None if thresh is None else float(thresh))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (tuples as lists), for a manifest or an environment variable."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "ReadConfig":
        """The inverse of :meth:`to_dict`: lists become tuples again; unknown keys are an error naming them
        (``engine`` of older manifests is accepted as "onnx", the only engine the reader has).

        >>> ReadConfig.from_dict({"engine": "onnx", "beam": 2}).beam
        2
        """
        values = dict(values)
        if values.pop("engine", "onnx") != "onnx":
            raise ValueError("ReadConfig: the reader runs ONNX Runtime only; the PyTorch engine is for training "
                             "and comparisons (rosetta.train.predict)")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown reading settings {unknown} (known: {sorted(known)})")
        return cls(**{k: _tuples(v) for k, v in values.items()})


def _tuples(value: Any) -> Any:
    """Lists (nested too) as tuples, as the frozen config holds them."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


__all__ = ["ReadConfig", "SCALE_RANGE", "MAX_SIDE_RANGE"]
