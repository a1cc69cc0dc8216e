"""Write synthetic data to disk in the layout of ``../shared/data`` (with a progress bar).

Words: ``OUT/crops/NNNNNNNN.png`` + ``OUT/labels.jsonl`` ({"image", "text", "script", "font"}).
Scenes: ``OUT/images/NNNNNNNN.jpg`` + ``OUT/gt.jsonl`` ({"image", "width", "height", "words":
[{"points", "text", "line", "script", "ignore"}]}). Sample ``i`` is written by whichever worker
process makes it; lines are written in index order so the files are byte-identical per seed.

>>> write_words("out/words", WordSynthConfig(seed=3), count=100, workers=2)   # doctest: +SKIP
"""

from __future__ import annotations

import io
import json
import logging
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tqdm import tqdm

from rosetta.synth.backgrounds import Backgrounds
from rosetta.synth.corpus import Corpus
from rosetta.synth.fonts import FontRegistry
from rosetta.synth.scenes import SceneSynth, SceneSynthConfig
from rosetta.synth.words import WordSynth, WordSynthConfig

log = logging.getLogger(__name__)

_GEN: WordSynth | SceneSynth | None = None


def _init(kind: str, config) -> None:
    global _GEN
    _GEN = WordSynth.create(config) if kind == "words" else SceneSynth.create(config)


def _make(args: tuple[str, int, str]) -> str:
    kind, i, out = args
    assert _GEN is not None
    s = _GEN.sample(i)
    if kind == "words":
        rel = f"crops/{i:08d}.png"
        buf = io.BytesIO()
        s.image.save(buf, format="PNG", optimize=False)
        (Path(out) / rel).write_bytes(buf.getvalue())
        return json.dumps({"image": rel, "text": s.text, "script": s.script, "font": s.font}, ensure_ascii=False)
    rel = f"images/{i:08d}.jpg"
    buf = io.BytesIO()
    s.image.save(buf, format="JPEG", quality=92)
    (Path(out) / rel).write_bytes(buf.getvalue())
    w, h = s.image.size
    return json.dumps({"image": rel, "width": w, "height": h, "words": s.words}, ensure_ascii=False)


def check_setup(scripts) -> None:
    """Fail fast, in the calling process, with a message that says how to fix the setup."""
    Corpus.check(scripts)
    FontRegistry.discover().require(scripts)
    Backgrounds.load(max_side=512)


def _write(kind: str, out: str | Path, config, count: int, workers: int, progress: bool) -> Path:
    check_setup(config.scripts)
    out = Path(out)
    (out / ("crops" if kind == "words" else "images")).mkdir(parents=True, exist_ok=True)
    index = out / ("labels.jsonl" if kind == "words" else "gt.jsonl")
    jobs = [(kind, i, str(out)) for i in range(count)]
    with open(index, "w", encoding="utf-8") as fh, tqdm(total=count, unit=kind[:-1], disable=not progress) as bar:
        if workers <= 1:
            _init(kind, config)
            for j in jobs:
                fh.write(_make(j) + "\n")
                bar.update(1)
        else:
            with ProcessPoolExecutor(workers, initializer=_init, initargs=(kind, config)) as ex:
                for line in ex.map(_make, jobs, chunksize=16):
                    fh.write(line + "\n")
                    bar.update(1)
    return index


def write_words(out: str | Path, config: WordSynthConfig, count: int, workers: int = 1, progress: bool = True) -> Path:
    return _write("words", out, config, count, workers, progress)


def write_scenes(out: str | Path, config: SceneSynthConfig, count: int, workers: int = 1, progress: bool = True) -> Path:
    return _write("scenes", out, config, count, workers, progress)
