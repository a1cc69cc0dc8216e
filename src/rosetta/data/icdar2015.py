"""ICDAR 2015 (``icdar2015_dev`` in the shared data): the one loader of its full photos and ground truth, and the
one refusal of its validation images (img_201..250) by anything that chooses something. The born-digital set
(``icdar2013_borndigital_dev``, validation img_261..310) has the same layout and goes through the same functions
with ``dataset=BD_DATASET``.

>>> parse_range("1-3,7"), parse_range("")
({1, 2, 3, 7}, None)
>>> refuse_validation({1, 2, 200}, "tune_x")
>>> refuse_validation({199, 201}, "tune_x")
Traceback (most recent call last):
ValueError: tune_x: validation images (201-250) are not for choosing; use 1-200
>>> refuse_validation({201, 260}, "tune_x", BD_DATASET)
>>> refuse_validation({261}, "tune_x", BD_DATASET)
Traceback (most recent call last):
ValueError: tune_x: validation images (261-310) of icdar2013_borndigital_dev are not for choosing; use 1-260
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import numpy as np

from rosetta.data.splits import (BD_DATASET, BD_TRAIN_IMAGES, BD_VAL_IMAGES, IC15_TRAIN_IMAGES, IC15_VAL_IMAGES,
                                 data_root, ic15_image_number)
from rosetta.io import load_image

DATASET = "icdar2015_dev"
SPLITS = {DATASET: (IC15_TRAIN_IMAGES, IC15_VAL_IMAGES), BD_DATASET: (BD_TRAIN_IMAGES, BD_VAL_IMAGES)}


def parse_range(spec: str | None) -> set[int] | None:
    """Image numbers from "201-250" or "1-5,9" (None when empty); a malformed spec is a ValueError naming it."""
    if not spec:
        return None
    out: set[int] = set()
    for part in spec.split(","):
        a, _, b = part.strip().partition("-")
        try:
            out |= set(range(int(a), int(b or a) + 1))
        except ValueError:
            raise ValueError(f"not an image range: {spec!r} (e.g. 1-200 or 1-5,9)") from None
    return out


def folder(root: Path | None = None, dataset: str = DATASET) -> Path:
    """The data set's folder: ``images/`` and ``gt.jsonl`` (``dataset``: another set in the same layout, e.g.
    ``icdar2013_borndigital_dev``)."""
    return (root or data_root()) / dataset


def load_gt_rows(data: Path | None = None, numbers: Iterable[int] | None = None) -> list[dict]:
    """The rows of ``data/gt.jsonl`` (``{"image", "words"}``, one image each; ``data``: default the shared
    ICDAR 2015 folder), only images ``img_N`` with N in ``numbers`` if given."""
    data = data or folder()
    gt = data / "gt.jsonl"
    if not gt.exists():
        raise FileNotFoundError(f"{gt} not found: set ROSETTA_DATA to the shared data folder")
    rows = [json.loads(line) for line in gt.read_text(encoding="utf-8").splitlines() if line.strip()]
    if numbers is None:
        return rows
    wanted = set(numbers)
    return [r for r in rows if ic15_image_number(r["image"]) in wanted]


def load_images(numbers: Iterable[int], root: Path | None = None, dataset: str = DATASET
                ) -> tuple[list[dict], list[np.ndarray]]:
    """Rows (``{"image", "words"}``) and decoded RGB images of image ``numbers``, for measuring; tools that choose
    something call :func:`refuse_validation` first (or :func:`training_images`).

    >>> rows, images = load_images({201})  # doctest: +SKIP
    >>> rows[0]["image"], images[0].shape  # doctest: +SKIP
    ('images/img_201.jpg', (720, 1280, 3))
    """
    data = folder(root, dataset)
    rows = load_gt_rows(data, numbers)
    return rows, [load_image(data / r["image"]) for r in rows]


def refuse_validation(numbers: Iterable[int], who: str, dataset: str = DATASET) -> None:
    """Stop ``who`` (a tool that chooses something: a setting, a checkpoint, calibration photos) with a ValueError
    when ``numbers`` holds validation images of ``dataset``: they are measured on once, never chosen on."""
    train, val = SPLITS[dataset]
    if set(numbers) & set(val):
        of = "" if dataset == DATASET else f" of {dataset}"
        raise ValueError(f"{who}: validation images ({val[0]}-{val[-1]}){of} are not for choosing; "
                         f"use {train[0]}-{train[-1]}")


def training_images(spec: str, who: str, root: Path | None = None, dataset: str = DATASET
                    ) -> tuple[list[dict], list[np.ndarray]]:
    """Rows and decoded images for image numbers ``spec`` ("1-200") of ``dataset``, for a tool that chooses
    something (``who`` names it): validation images are refused (:func:`refuse_validation`)."""
    numbers = parse_range(spec) or set()
    refuse_validation(numbers, who, dataset)
    return load_images(numbers, root, dataset)


__all__ = ["parse_range", "folder", "load_gt_rows", "load_images", "refuse_validation", "training_images"]
