"""ReadConfig: one frozen config for reading, filled from the model cards in one place, and the words the
shipped models read on the bundled samples unchanged by it."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from rosetta.config import ReadConfig

ROOT = Path(__file__).parents[1]
FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "samples_words.json").read_text(encoding="utf-8"))


def test_card_values_fill_only_what_the_caller_left_open():
    cards = ({"read_score_thresh": 0.6, "score_thresh": 0.8}, {"min_confidence": 0.85})
    open_ = ReadConfig().resolved(*cards)
    assert (open_.score_thresh, open_.min_confidence) == (0.6, 0.85)
    chosen = ReadConfig(score_thresh=0.3, min_confidence=0.0).resolved(*cards)
    assert (chosen.score_thresh, chosen.min_confidence) == (0.3, 0.0)
    bare = ReadConfig().resolved({}, {})  # cards without them: the detector keeps its own threshold, every word kept
    assert (bare.score_thresh, bare.min_confidence) == (None, 0.0)


def test_nonsense_is_refused_when_the_config_is_built():
    for bad, match in (({"scale": 9.0}, "scale"), ({"max_side": 10}, "max_side"), ({"combine": "mean"}, "combine"),
                       ({"beam": 0}, "beam")):
        with pytest.raises(ValueError, match=match):
            ReadConfig(**bad)
    with pytest.raises(ValueError, match="unknown reading settings"):
        ReadConfig.from_dict({"scael": 2.0})
    with pytest.raises(ValueError, match="ONNX Runtime only"):  # an older manifest that read with PyTorch
        ReadConfig.from_dict({"engine": "torch"})


def test_a_config_survives_json_as_the_service_and_batch_manifests_carry_it():
    cfg = ReadConfig(scripts=("latin", "cyrillic"), reread_margins=(0.1, (0.4, 0.0)), dense_limits=(1, 2, 3))
    again = ReadConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg and hash(again) == hash(cfg)
    assert replace(cfg, threads=2) != cfg


def test_one_cli_group_builds_the_same_config_for_read_batch_and_serve():
    from rosetta.cli import build_parser
    from rosetta.cli_options import read_config_from_args

    opts = ["--int8", "--scripts", "cyrillic", "--min-confidence", "0.5", "--scale", "2.5", "--max-side", "2500",
            "--threads", "2", "--beam", "4"]
    configs = [read_config_from_args(build_parser().parse_args([*cmd, *opts]))
               for cmd in (["read", "x.jpg"], ["batch", "in", "-o", "out"], ["serve"])]
    assert configs[0] == configs[1] == configs[2] == ReadConfig(int8=True, scripts=("cyrillic",), min_confidence=0.5,
                                                                scale=2.5, max_side=2500, threads=2, beam=4)


def _words(ocr) -> dict:
    out = {}
    for p in sorted((ROOT / "src/rosetta/samples").glob("*.jpg")):
        out[p.name] = [[w.text, round(w.confidence, 3), [round(v, 1) for v in w.box.to_list()]]
                       for w in ocr(str(p)).words]
    return out


def _same(got: dict, want: dict) -> None:
    """Same words in the same order; confidences within 0.002 and boxes within 0.5 px (other CPUs round a little
    differently)."""
    assert list(got) == list(want)
    for name in want:
        assert [w[0] for w in got[name]] == [w[0] for w in want[name]], name
        for g, w in zip(got[name], want[name]):
            assert abs(g[1] - w[1]) <= 0.002 and max(abs(a - b) for a, b in zip(g[2], w[2])) <= 0.5, (name, g, w)


def test_the_default_reader_reads_the_samples_as_before_readconfig():
    from rosetta.ocr import OCR

    _same(_words(OCR(ReadConfig(threads=1))), FIXTURE["fp32"])


@pytest.mark.slow
def test_the_int8_reader_reads_the_samples_as_captured():
    from rosetta.ocr import OCR

    _same(_words(OCR(ReadConfig(threads=1, int8=True))), FIXTURE["int8"])
