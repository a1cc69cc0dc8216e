"""Recognizer predictor without PyTorch: word crops (any size, any mode) -> (text in logical order, confidence).

Owns everything around the network: grayscale and height-32 resizing, batching by width (sorted, so little padding
is wasted), the network (the shipped ONNX graph ``recognizer.onnx`` or ``recognizer.int8.onnx`` in ONNX Runtime, or
any callable from batches to logits), CTC decoding (greedy or beam, optionally with a lexicon, one script per word)
and right-to-left reordering.

>>> rec = Recognizer.load()
>>> rec([np.full((32, 90, 3), 255, np.uint8)])[0][0]
''
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from rosetta.charset import SCRIPTS, Charset, harmonize_script, load_script_chars, visual_to_logical
from rosetta.models import MODEL_DIR
from rosetta.runtime.acc16_recognizer import Acc16Recognizer, int8_recognizer_session
from rosetta.runtime.decode import Trie, beam_search, greedy_decode, log_softmax
from rosetta.runtime.dictionary import Dictionary, prefer_words
from rosetta.runtime.files import check_graph, check_int8, graph_path, read_meta
from rosetta.runtime.preprocess import output_lengths, pad_batch, to_input
from rosetta.runtime.sessions import session

log = logging.getLogger(__name__)

Network = Callable[[np.ndarray], np.ndarray]  # (B, 1, 32, W) float32 in [-1, 1] -> (B, T, C) logits, T = ceil(W/4)


@dataclass(frozen=True)
class DecodeConfig:
    beam_width: int = 1  # 1 = greedy
    batch_size: int = 32
    max_pad_ratio: float = 1.6  # start a new batch when the widest crop would be this much wider than the narrowest
    # scripts the text is known to be in (None: every script the model reads). Letters of other scripts
    # are never output, so words of look-alike letters come out right: "МАРА", not "MAPA"
    scripts: tuple[str, ...] | None = None
    # a word is written in one script: decode each crop within the script (of ``scripts``, or of all the
    # model reads) whose best path is most probable, so no word mixes Latin, Cyrillic and Arabic letters
    one_script: bool = True
    # a crop this much taller than wide holds a vertical or 90-degree turned word (or stacked letters): it is also
    # read turned a quarter both ways and the surest of the three reads is kept (0 turns the rule off)
    tall_ratio: float = 1.5
    # a reading that is a dictionary word gets this much log-probability more when the likeliest readings are
    # ranked (:mod:`rosetta.runtime.dictionary`; Latin only); None: the recognizer card's ``dictionary_bonus``
    # (0 when it has none), 0: off
    dictionary_bonus: float | None = None
    dictionary_beam: int = 8  # readings ranked when the likeliest is not a dictionary word


def allowed_classes(charset: Charset, scripts: Sequence[str] | None) -> np.ndarray | None:
    """Boolean mask over the CTC classes (blank first) of ``common`` and ``scripts``; None for all.

    >>> cs = Charset.from_scripts(["latin", "cyrillic"])
    >>> m = allowed_classes(cs, ["cyrillic"])
    >>> bool(m[0]), bool(m[cs.index["Ж"]]), bool(m[cs.index["7"]]), bool(m[cs.index["M"]])
    (True, True, True, False)
    """
    if not scripts:
        return None
    keep = set(load_script_chars("common"))
    for name in scripts:
        keep.update(load_script_chars(name))  # raises on an unknown script name
    return np.array([True] + [c in keep for c in charset.chars])


def tall_variants(crops: Sequence[np.ndarray], ratio: float) -> list[tuple[int, np.ndarray]]:
    """(index, turned crop) for every crop over ``ratio`` times taller than wide: each turned a quarter
    clockwise and a quarter counter-clockwise (top-to-bottom text reads left to right one way or the other).

    >>> tall = np.zeros((90, 30), np.uint8)
    >>> [(i, v.shape) for i, v in tall_variants([np.zeros((30, 90), np.uint8), tall], 1.5)]
    [(1, (30, 90)), (1, (30, 90))]
    >>> tall_variants([tall], 0)
    []
    """
    if ratio <= 0:
        return []
    out = []
    for i, c in enumerate(crops):
        h, w = c.shape[:2]
        if w > 0 and h > ratio * w:
            out += [(i, np.ascontiguousarray(np.rot90(c, -1))), (i, np.ascontiguousarray(np.rot90(c, 1)))]
    return out


class GraphNetwork:
    """The ONNX graph at ``path`` as a :data:`Network`, run by an ONNX Runtime session (``.session``)."""

    def __init__(self, path: Path, threads: int | None = None):
        self.path = Path(path)
        self.session = session(self.path, threads)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"x": x})[0]


class Recognizer:
    def __init__(self, network: Network, charset: Charset, decode: DecodeConfig = DecodeConfig(),
                 lexicon: Sequence[str] | None = None, meta: dict | None = None, engine: str = "onnx"):
        """``network``: batches (B, 1, 32, W) -> logits (B, T, C) over ``charset``'s classes (blank first);
        ``engine``: what runs it, for reports ("onnx", "int8", "int8-acc16", "torch")."""
        self.network, self.charset, self.decode_cfg, self.meta = network, charset, decode, dict(meta or {})
        self.engine = engine
        self.trie = Trie(charset.encode(w) for w in lexicon) if lexicon else None
        self._masks: dict[tuple[str, ...] | None, np.ndarray | None] = {}
        self.script_masks(decode.scripts)  # fail early on an unknown script name
        bonus = decode.dictionary_bonus
        self.dictionary_bonus = float(self.meta.get("dictionary_bonus", 0.0) if bonus is None else bonus)

    @classmethod
    def load(cls, folder: Path | None = None, int8: bool = False, decode: DecodeConfig = DecodeConfig(),
             threads: int | None = None, lexicon: Sequence[str] | None = None) -> "Recognizer":
        """The shipped recognizer (``src/rosetta/models/recognizer.onnx`` and ``.json``) or the one in ``folder``;
        ``int8``: its int8 graph ``recognizer.int8.onnx``; ``threads``: ONNX Runtime's (default 1). A graph
        written or built from other weights than the safetensors beside it is refused."""
        folder = Path(folder) if folder else MODEL_DIR
        meta = read_meta("recognizer", folder)
        if int8:  # the faster exact runner here: ONNX Runtime's session or the acc16 kernels (timed once, cached)
            runner = int8_recognizer_session(check_int8(folder, "recognizer"), int(threads or 1))
            network = lambda x: runner.run(None, {"x": x})[0]  # noqa: E731
            engine = "int8-acc16" if isinstance(runner, Acc16Recognizer) else "int8"
        else:
            path = graph_path(folder, "recognizer")
            if not path.exists():
                raise FileNotFoundError(f"recognizer graph {path} not found: write it with "
                                        f"`python -m rosetta.graphs.recognizer {path.parent}`")
            network, engine = GraphNetwork(path, threads), "onnx"
            check_graph(path, network.session.get_modelmeta().custom_metadata_map, "recognizer")
        return cls(network, Charset.from_text(meta["charset"]), decode, lexicon, meta, engine)

    def logits(self, x: np.ndarray) -> np.ndarray:
        """(B, 1, 32, W) -> (B, T, C) log-probabilities."""
        return log_softmax(self.network(x), -1)

    def batches(self, widths: Sequence[int]) -> list[list[int]]:
        """Indices grouped into batches of similar width (ascending).

        >>> Recognizer(None, Charset.from_scripts(["latin"]), DecodeConfig(batch_size=2)).batches([40, 100, 50, 60])
        [[0, 2], [3], [1]]
        """
        order = sorted(range(len(widths)), key=lambda i: widths[i])
        out: list[list[int]] = []
        for i in order:
            if out and len(out[-1]) < self.decode_cfg.batch_size and \
                    widths[i] <= self.decode_cfg.max_pad_ratio * widths[out[-1][0]]:
                out[-1].append(i)
            else:
                out.append([i])
        return out

    def script_masks(self, scripts: Sequence[str] | None) -> np.ndarray | None:
        """(S, C) classes each candidate script may use, for text known to be in ``scripts`` (None: any
        script the model reads); None when nothing is masked. Cached per ``scripts``."""
        key = tuple(scripts) if scripts else None
        if key not in self._masks:
            if self.decode_cfg.one_script:
                masks = [allowed_classes(self.charset, [n]) for n in self.candidate_scripts(key)]
            else:
                masks = [allowed_classes(self.charset, key)] if key else []
            self._masks[key] = np.stack(masks) if masks else None
        return self._masks[key]

    def candidate_scripts(self, scripts: Sequence[str] | None) -> tuple[str, ...]:
        """``scripts``, or every script the model reads: with one script per word, the rows of
        :meth:`script_masks`."""
        if scripts:
            return tuple(scripts)
        return tuple(n for n in SCRIPTS if any(c in self.charset.index for c in load_script_chars(n)))

    def dictionaries(self, scripts: Sequence[str] | None) -> list[Dictionary | None] | None:
        """Per row of :meth:`script_masks` ``(scripts)``, that script's dictionary (None for a script without
        one); None when the dictionary is off or rows are not single scripts."""
        if self.dictionary_bonus <= 0 or self.trie is not None or not self.decode_cfg.one_script:
            return None
        return [Dictionary.for_script(n) for n in self.candidate_scripts(scripts)]

    @staticmethod
    def pick_scripts(masks: np.ndarray | None, lp: np.ndarray, lens: Sequence[int]) -> np.ndarray | None:
        """For log-probs (B, T, C), the candidate script (row of ``masks``) whose best path is most
        probable for each crop: (B,) indices, or None when every class is allowed."""
        if masks is None:
            return None
        if len(masks) == 1:
            return np.zeros(len(lp), dtype=np.int64)
        valid = np.arange(lp.shape[1])[None, :] < np.asarray(lens)[:, None]  # (B, T) frames inside each crop
        best = [np.where(m, lp, -np.inf).max(-1) for m in masks]  # S x (B, T): best frame log-prob
        score = np.stack([np.where(valid, b, 0.0).sum(1) for b in best])  # (S, B) best-path log-probability
        return score.argmax(0)

    def __call__(self, crops: Sequence[np.ndarray], scripts: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """Crops (H, W[, C]) uint8 -> [(text, confidence)] in input order. Blank or degenerate crops give ''.
        ``scripts``: the scripts the text is in, for this call (default: the decode config's). Crops taller than
        ``tall_ratio`` times their width are also read turned 90 degrees both ways; the surest read is kept
        (:func:`tall_variants`)."""
        crops = list(crops)
        turned = tall_variants(crops, self.decode_cfg.tall_ratio)
        if not turned:
            return self._read(crops, scripts)
        reads = self._read(crops + [c for _, c in turned], scripts)
        out = reads[:len(crops)]
        for (i, _), r in zip(turned, reads[len(crops):]):
            if r[1] > out[i][1]:
                out[i] = r
        return out

    def _read(self, crops: Sequence[np.ndarray], scripts: Sequence[str] | None) -> list[tuple[str, float]]:
        hint = scripts or self.decode_cfg.scripts
        masks = self.script_masks(hint)
        dictionaries = self.dictionaries(hint)
        inputs = [to_input(c) for c in crops]
        out: list[tuple[str, float]] = [("", 0.0)] * len(inputs)
        for idx in self.batches([x.shape[1] for x in inputs]):
            x, widths = pad_batch([inputs[i] for i in idx])
            lp = self.logits(x)
            if hint:  # the text is known to be in these scripts: probabilities (and confidences) given that
                lp = log_softmax(np.where(masks.any(0), lp, -np.inf), -1)
            lens = output_lengths(widths).tolist()
            script = self.pick_scripts(masks, lp, lens)
            for j, i in enumerate(idx):
                seq_lp = lp[j, :lens[j]]
                if script is not None:  # letters of other scripts can never be output
                    seq_lp = np.where(masks[script[j]], seq_lp, -np.inf)
                if self.decode_cfg.beam_width > 1 or self.trie is not None:
                    seq, conf = beam_search(seq_lp, self.decode_cfg.beam_width, self.trie)
                else:
                    seq, conf = greedy_decode(seq_lp)
                words = None if dictionaries is None or script is None else dictionaries[script[j]]
                if words is not None:
                    seq, conf = prefer_words(seq_lp, (seq, conf), lambda q: visual_to_logical(self.charset.decode(q)),
                                             words, self.dictionary_bonus, self.decode_cfg.dictionary_beam)
                text = visual_to_logical(self.charset.decode(seq))
                if not self.decode_cfg.one_script:  # one-script decoding never mixes scripts in the first place
                    text = " ".join(harmonize_script(w) for w in text.split(" "))
                out[i] = (text, float(conf))
        return out


__all__ = ["Recognizer", "DecodeConfig", "Network", "allowed_classes", "tall_variants", "GraphNetwork"]
