"""torch ``IterableDataset`` views of the generators, for DataLoader workers (no disk copy).

Worker ``w`` of ``n`` yields samples ``w, w + n, w + 2n, ...`` of the seed, so the union over
workers is the same sequence whatever ``n`` is, and each sample is reproducible by index.

>>> from torch.utils.data import DataLoader
>>> ds = SynthWords(WordSynthConfig(scripts=("latin",)), limit=4)          # doctest: +SKIP
>>> [t for _, t in DataLoader(ds, batch_size=None, num_workers=2)]        # doctest: +SKIP
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
from torch.utils.data import IterableDataset, get_worker_info

from rosetta.synth.scenes import SceneSynth, SceneSynthConfig
from rosetta.synth.words import WordSynth, WordSynthConfig


def _indices(start: int, limit: int | None) -> Iterator[int]:
    info = get_worker_info()
    wid, nw = (info.id, info.num_workers) if info else (0, 1)
    i = start + wid
    while limit is None or i < start + limit:
        yield i
        i += nw


class SynthWords(IterableDataset):
    """Yields ``(image as (H, W, 3) uint8 array, text)``; endless unless ``limit`` is set."""

    def __init__(self, config: WordSynthConfig = WordSynthConfig(), limit: int | None = None, start: int = 0):
        self.config, self.limit, self.start = config, limit, start
        self._gen: WordSynth | None = None

    def __iter__(self) -> Iterator[tuple[np.ndarray, str]]:
        if self._gen is None:
            self._gen = WordSynth.create(self.config)  # built inside each worker process
        for i in _indices(self.start, self.limit):
            s = self._gen.sample(i)
            yield np.asarray(s.image), s.text


class SynthScenes(IterableDataset):
    """Yields ``(image (H, W, 3) uint8, words)`` with words as in :class:`SceneSample`."""

    def __init__(self, config: SceneSynthConfig = SceneSynthConfig(), limit: int | None = None, start: int = 0):
        self.config, self.limit, self.start = config, limit, start
        self._gen: SceneSynth | None = None

    def __iter__(self) -> Iterator[tuple[np.ndarray, list[dict]]]:
        if self._gen is None:
            self._gen = SceneSynth.create(self.config)
        for i in _indices(self.start, self.limit):
            s = self._gen.sample(i)
            yield np.asarray(s.image), s.words
