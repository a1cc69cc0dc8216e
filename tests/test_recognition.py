"""Recognizer: charset/CTC round trips, decoding, a tiny overfit, degenerate crops, and the shipped model reading."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rosetta.charset import Charset, logical_to_visual, visual_to_logical
from rosetta.recognition.model import CTCRecognizer, RecognizerConfig
from rosetta.runtime.decode import Trie, beam_search, greedy_decode, log_softmax
from rosetta.runtime.preprocess import pad_batch, to_input
from rosetta.runtime.recognizer import DecodeConfig, Recognizer


def test_encode_decode_round_trip_all_scripts():
    cs = Charset.from_scripts()
    for text in ("Straße 42!", "Ґанок-Ёж", "مرحبا 2024", "ÉCOLE"):
        assert cs.decode(cs.encode(text)) == text
    assert Charset.from_text(cs.to_text()) == cs


def test_rtl_visual_and_logical_order():
    assert logical_to_visual("abc") == "abc"
    assert logical_to_visual("سلام") == "مالس"
    assert visual_to_logical(logical_to_visual("خصم 50% (جديد)")) == "خصم 50% (جديد)"


def test_beam_width_one_equals_greedy_and_beam_finds_lexicon_words():
    rng = np.random.default_rng(0)
    for _ in range(20):
        lp = log_softmax(rng.normal(size=(12, 6)) * 3)
        assert beam_search(lp, beam_width=1) == greedy_decode(lp)
    # frames favour "ab" then "c"; the lexicon only knows "abd"
    probs = np.full((4, 5), 0.01)
    for t, k in enumerate([1, 2, 3, 4]):
        probs[t, k] = 0.9
    probs[2, 4] = 0.5
    lp = np.log(probs / probs.sum(1, keepdims=True))
    assert greedy_decode(lp)[0] == [1, 2, 3, 4]
    assert beam_search(lp, 8, Trie([[1, 2, 4]]))[0] == [1, 2, 4]


def test_ctc_loss_falls_on_a_tiny_overfit_batch():
    torch.manual_seed(0)
    cs = Charset(tuple("abc"))
    model = CTCRecognizer(RecognizerConfig(num_classes=cs.num_classes, stem=8, widths=(8, 16, 16), head=16,
                                           dropout=0.0))
    rng = np.random.default_rng(1)
    x, widths = map(torch.from_numpy, pad_batch([to_input(rng.integers(0, 255, (32, w), dtype=np.uint8))
                                                 for w in (40, 56, 64, 48)]))
    texts = ["ab", "cab", "abca", "ba"]
    labels = torch.tensor([i for t in texts for i in cs.encode(t)])
    lengths = torch.tensor([len(t) for t in texts])
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        _, loss = model(x, (labels, lengths, widths))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.3 * losses[0], losses[::10]


@pytest.fixture(scope="module")
def recognizer():
    return Recognizer.load()  # the runtime (ONNX Runtime, no PyTorch), as users read


def test_degenerate_crops_give_empty_text_not_errors(recognizer):
    crops = [np.zeros((0, 0, 3), np.uint8), np.zeros((40, 1), np.uint8), np.full((32, 100, 3), 255, np.uint8),
             np.zeros((1, 300), np.uint8), np.full((5, 5, 4), 128, np.uint8)]
    out = recognizer(crops)
    assert len(out) == 5
    assert all(isinstance(t, str) and 0.0 <= c <= 1.0 for t, c in out)
    assert out[1][0] == "" and out[2][0] == ""


def render_word(text: str, family: str, size: int = 40) -> np.ndarray:
    from PIL import Image, ImageDraw

    from rosetta.synth.fonts import FontRegistry

    font = next(f for f in FontRegistry.discover().fonts if f.family == family and f.covers(text))
    pil_font = font.get(size)
    kw = {"direction": "rtl", "language": "ar"} if any("\u0600" <= c <= "\u06ff" for c in text) else {}
    box = pil_font.getbbox(text, **kw)
    im = Image.new("L", (box[2] - box[0] + 16, box[3] - box[1] + 12), 255)
    ImageDraw.Draw(im).text((8 - box[0], 6 - box[1]), text, font=pil_font, fill=20, **kw)
    return np.asarray(im)


def _read_clean(recognizer, words):
    crops = [render_word(t, f) for t, f in words]
    out = recognizer(crops)
    # batching by width must not change any answer
    assert [recognizer([c])[0][0] for c in crops] == [t for t, _ in out]
    return [got.casefold() for got, _ in out]  # compared as the standard protocol does: case-insensitive


def test_shipped_model_reads_clean_latin_words_and_numbers(recognizer):
    words = [("STATION", "DejaVu Sans"), ("coffee", "Liberation Serif"), ("2024", "Liberation Sans"),
             ("hello", "Noto Sans"), ("Garden", "DejaVu Serif"), ("12:45", "Noto Sans")]
    got = _read_clean(recognizer, words)
    assert sum(g == w.casefold() for (w, _), g in zip(words, got)) >= 5, list(zip(words, got))


def test_shipped_model_reads_clean_arabic(recognizer):
    words = [("مرحبا", "Noto Naskh Arabic"), ("السلام", "Noto Naskh Arabic"), ("مطعم", "Noto Sans Arabic")]
    got = _read_clean(recognizer, words)
    assert sum(g == w.casefold() for (w, _), g in zip(words, got)) >= 2, list(zip(words, got))


def test_shipped_model_reads_clean_cyrillic(recognizer):
    words = [("Жизнь", "DejaVu Sans"), ("Рынок", "DejaVu Serif"), ("АПТЕКА", "DejaVu Sans"), ("улица", "Noto Sans")]
    got = _read_clean(recognizer, words)
    assert sum(g == w.casefold() for (w, _), g in zip(words, got)) >= 3, list(zip(words, got))


def test_script_hint_reads_lookalike_words_in_the_given_script():
    """Words of letters shared by Latin and Cyrillic glyphs cannot be told apart by sight; a script hint decides."""
    words = [("МАРКА", "DejaVu Sans"), ("ТОРС", "DejaVu Serif"), ("сок", "DejaVu Sans"), ("Мех", "DejaVu Sans")]
    crops = [render_word(t, f) for t, f in words]
    reads = Recognizer.load(decode=DecodeConfig(scripts=("cyrillic",)))(crops)
    hinted = [t.casefold() for t, _ in reads]
    assert sum(g == w.casefold() for (w, _), g in zip(words, hinted)) >= 3, hinted
    # the confidence is given the hint (the look-alike Latin letters' share does not count against it), so the
    # OCR's confidence floor keeps these words
    assert sorted(c for _, c in reads)[1] > 0.7, reads
    assert not any(c.isascii() and c.isalpha() for g in hinted for c in g)  # no Latin letter can come out
    latin = [t for t, _ in Recognizer.load(decode=DecodeConfig(scripts=("latin",)))(crops)]
    assert not any("\u0400" <= c <= "\u04ff" for g in latin for c in g)
    with pytest.raises(ValueError, match="unknown script"):
        Recognizer.load(decode=DecodeConfig(scripts=("klingon",)))


def test_each_word_is_decoded_in_one_script():
    """A frame whose best letter is Cyrillic inside an otherwise Latin word is read in Latin ("вale" -> "sale")."""
    def fake_logits(rec, frames):  # (1, T, C) log-probs: each frame puts 0.6 on its first letter, 0.3 on the second
        lp = np.full((1, len(frames), rec.charset.num_classes), np.log(0.1 / rec.charset.num_classes))
        for t, letters in enumerate(frames):
            for c, p in zip(letters, (0.6, 0.3)):
                lp[0, t, 0 if c == "" else rec.charset.index[c]] = np.log(p)
        return lp

    frames = [("в", "s"), ("",), ("a", "а"), ("",), ("l",), ("",), ("e", "е"), ("",)]  # 8 frames = 32 px of input
    crop = np.full((32, 32), 255, np.uint8)
    for one_script, want in ((True, "sale"), (False, "вale")):
        rec = Recognizer.load(decode=DecodeConfig(one_script=one_script))
        rec.logits = lambda x, rec=rec: fake_logits(rec, frames)
        assert rec([crop])[0][0] == want


def test_words_turned_a_quarter_are_read_both_ways_round(recognizer):
    words = [("STATION", "DejaVu Sans"), ("coffee", "Liberation Serif"), ("Garden", "DejaVu Serif")]
    crops = [render_word(t, f) for t, f in words]
    turned = [np.rot90(crops[0], 1), np.rot90(crops[1], -1), np.rot90(crops[2], 1)]  # tall crops, both directions
    got = [t.casefold() for t, _ in recognizer(turned)]
    assert got == [w.casefold() for w, _ in words], got
    assert [t for t, _ in recognizer(crops)] == [t for t, _ in recognizer(turned)]  # same reads as upright
    plain = Recognizer(recognizer.network, recognizer.charset, DecodeConfig(tall_ratio=0))
    assert [t.casefold() for t, _ in plain(turned)] != got  # without the rule they are not read


def test_blend_runs_from_the_start_model_to_the_fine_tuned_one(tmp_path):
    """A deeper model grown from a one-block model of two scripts (as rec5 grew from the recognizer of 2026-12-01),
    its weights then moved (as a run would): the blend at 0 reads real-looking crops exactly as the start model
    does, at 1 as the moved checkpoint, and the midpoint's logits lie between (rosetta.train.blend)."""
    import dataclasses

    from rosetta.models import load_weights, save_weights
    from rosetta.train.blend import blended_checkpoint
    from rosetta.train.common import save_checkpoint
    from rosetta.train.recognizer import grown_from

    old_cs = Charset.from_scripts(["latin", "cyrillic"])
    torch.manual_seed(0)
    base_cfg = RecognizerConfig(num_classes=old_cs.num_classes, blocks=(1, 1, 1), context_blocks=1)
    base = tmp_path / "base"
    save_weights("recognizer", CTCRecognizer(base_cfg).state_dict(),
                 {"charset": old_cs.to_text(), "model_config": dataclasses.asdict(base_cfg)}, base)
    charset = Charset.from_scripts()
    cfg = RecognizerConfig(num_classes=charset.num_classes, blocks=(2, 2, 2), context_blocks=2)
    model = CTCRecognizer(cfg).eval()
    start = grown_from(str(base), model, charset)
    g = torch.Generator().manual_seed(0)
    moved = {k: v + 0.2 * v.std().nan_to_num() * torch.randn(v.shape, generator=g) if v.is_floating_point() else v
             for k, v in start.items()}
    save_checkpoint(tmp_path / "run.pt", {"ema": moved, "model": start, "model_config": dataclasses.asdict(cfg),
                                          "charset": charset.to_text(), "step": 10})
    x = torch.from_numpy(pad_batch([to_input(render_word(w, "DejaVu Sans")) for w in ("Market", "ХЛЕБ")])[0])

    def logits(state):
        model.load_state_dict(state)
        with torch.no_grad():
            return model(x)[0]

    src, _ = load_weights("recognizer", base)
    old = CTCRecognizer(base_cfg).eval()
    old.load_state_dict(src)
    with torch.no_grad():
        want = old(x)[0]
    keep = [0] + [charset.index[c] for c in old_cs.chars]  # blank and the shipped classes in the grown charset
    at0, at1 = (logits(blended_checkpoint(tmp_path / "run.pt", a, base=str(base))["model"]) for a in (0.0, 1.0))
    assert torch.allclose(at0[..., keep], want, atol=1e-3)
    assert torch.allclose(at1, logits(moved), atol=1e-5)
    assert not torch.allclose(at0, at1, atol=2e-3)  # a random start's logits are small
    mid = blended_checkpoint(tmp_path / "run.pt", 0.5, base=str(base))["model"]
    for name in ("stage1.0.conv1.0.weight", "stage1.1.conv2.1.weight", "classifier.weight"):  # continued, zeroed, grown
        assert torch.allclose(mid[name], (start[name] + moved[name]) / 2, atol=1e-6), name
    assert torch.equal(mid["stage1.1.conv1.0.weight"], moved["stage1.1.conv1.0.weight"])  # started random: the run's
    with pytest.raises(ValueError, match="alpha"):
        blended_checkpoint(tmp_path / "run.pt", 1.5)


def _scripted_network(charset: Charset, frames: list[dict[str, float]]):
    """A network whose every crop gives ``frames`` (character -> probability; the rest blank), then blanks."""
    def network(x: np.ndarray) -> np.ndarray:
        t = (((x.shape[-1] + 1) // 2) + 1) // 2
        p = np.full((x.shape[0], t, charset.num_classes), 1e-6, np.float32)
        p[:, :, 0] = 1.0
        for k, f in enumerate(frames[:t]):
            p[:, k, 0] = max(1e-6, 1.0 - sum(f.values()))
            for ch, v in f.items():
                p[:, k, charset.index[ch]] = v
        return np.log(p)
    return network


def test_a_dictionary_word_outranks_a_likelier_misread_only_in_latin_and_only_when_asked():
    """The network's best reading "trom" (t 0.6 against f 0.4): with the dictionary bonus the recognizer reads
    "from" with a confidence above the OCR's floor; without it, or at a bonus smaller than the odds, "trom"; a
    Cyrillic reading is never changed (no dictionary), and a reading that is a word is kept as it is."""
    cs = Charset.from_scripts()
    crop = np.full((32, 64), 255, np.uint8)
    trom = [{"t": 0.6, "f": 0.4}, {"r": 0.99}, {"o": 0.99}, {"m": 0.99}]
    read = lambda frames, **kw: Recognizer(_scripted_network(cs, frames), cs, DecodeConfig(**kw))([crop])[0]  # noqa: E731
    assert read(trom)[0] == "trom" and read(trom, dictionary_bonus=0.0)[0] == "trom"
    text, conf = read(trom, dictionary_bonus=2.0)
    assert text == "from" and conf > 0.85
    assert read(trom, dictionary_bonus=0.3)[0] == "trom"
    # the card's bonus applies when the caller leaves it unset
    rec = Recognizer(_scripted_network(cs, trom), cs, DecodeConfig(), meta={"dictionary_bonus": 2.0})
    assert rec([crop])[0][0] == "from"
    dom = [{"д": 0.6, "л": 0.4}, {"о": 0.99}, {"м": 0.99}]  # "дом" and "лом": no Cyrillic dictionary
    assert read(dom, dictionary_bonus=2.0)[0] == "дом"
    word = [{"t": 0.9, "f": 0.1}, {"o": 0.99}, {"m": 0.99}]  # "tom" is a word: kept, confidence as decoded
    assert read(word, dictionary_bonus=2.0) == read(word)


def test_read_config_and_cli_pass_the_dictionary_bonus(tmp_path):
    from rosetta.cli import build_parser
    from rosetta.cli_options import read_config_from_args
    from rosetta.config import ReadConfig

    args = build_parser().parse_args(["read", "x.png", "--dictionary-bonus", "1.5"])
    assert read_config_from_args(args).dictionary_bonus == 1.5
    with pytest.raises(ValueError, match="dictionary_bonus"):
        ReadConfig(dictionary_bonus=-1.0)
