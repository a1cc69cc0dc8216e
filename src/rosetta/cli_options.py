"""The reading options shared by ``rosetta read``, ``batch`` and ``serve``: one argparse group, one ReadConfig.

>>> import argparse
>>> p = argparse.ArgumentParser()
>>> add_read_arguments(p)
>>> cfg = read_config_from_args(p.parse_args(["--int8", "--scripts", "cyrillic", "--scale", "2.5"]))
>>> cfg.int8, cfg.scripts, cfg.scale, cfg.min_confidence
(True, ('cyrillic',), 2.5, None)
"""

from __future__ import annotations

import argparse
from typing import Any, Callable

from rosetta.charset import parse_scripts
from rosetta.config import MAX_SIDE_RANGE, SCALE_RANGE, ReadConfig


def in_range(kind: Callable[[str], Any], bounds: tuple[float, float]) -> Callable[[str], Any]:
    """An argparse type: ``kind`` values within ``bounds``, anything else a usage error (exit 2).

    >>> in_range(int, (1, 9))("4")
    4
    """
    lo, hi = bounds

    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"must be between {lo} and {hi}, not {text}")
        return v
    return parse


def scripts_arg(spec: str) -> tuple[str, ...] | None:
    """argparse type of ``--scripts``: "latin,cyrillic" -> ("latin", "cyrillic"), with a clean error.

    >>> scripts_arg("latin,cyrillic")
    ('latin', 'cyrillic')
    """
    try:
        return parse_scripts(spec)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def margin_arg(spec: str) -> float | tuple[float, float]:
    """argparse type of a crop margin in box heights: one number for every side, or ALONG/ACROSS the text.

    >>> margin_arg("0.16"), margin_arg("0/0.08")
    (0.16, (0.0, 0.08))
    """
    try:
        parts = [float(v) for v in spec.split("/")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2) or min(parts) < 0:
        raise argparse.ArgumentTypeError(f"not a crop margin: {spec!r} (e.g. 0.16, or 0/0.08 along/across the text)")
    return parts[0] if len(parts) == 1 else (parts[0], parts[1])


def add_read_arguments(p: argparse.ArgumentParser, threads_help: str = "intra-op threads (default: all cores)",
                       lexicon_flag: str = "--lexicon") -> None:
    """The reading options (every field :func:`read_config_from_args` reads) in their own help group.
    ``lexicon_flag``: the word-lexicon option's name, for a command whose ``--lexicon`` means another file."""
    g = p.add_argument_group("reading", "how images are read (rosetta.ReadConfig)")
    g.add_argument("--models", default=None, help="folder with detector/recognizer files (default: shipped)")
    g.add_argument("--int8", action="store_true",
                   help="int8 detector and recognizer (ONNX Runtime; built by `rosetta quantize`)")
    g.add_argument("--threads", type=int, default=None, help=threads_help)
    g.add_argument("--scripts", default=None, type=scripts_arg,
                   help="the scripts the text is in, e.g. cyrillic or latin,cyrillic (default: every script)")
    g.add_argument("--beam", type=int, default=1, help="CTC beam width (1 = greedy)")
    g.add_argument(lexicon_flag, dest="read_lexicon", default=None,
                   help="a file of allowed words, one per line (beam search keeps to them)")
    g.add_argument("--dictionary-bonus", type=float, default=None,
                   help="how much an English word outranks likelier non-words when a Latin word is read "
                        "(log-probability; default: the recognizer card's; 0: off)")
    g.add_argument("--min-confidence", type=float, default=None,
                   help="drop words read with a lower confidence (default: the recognizer card's "
                        "min_confidence, 0.8 for the shipped one; 0 keeps all)")
    g.add_argument("--scale", type=in_range(float, SCALE_RANGE), default=None,
                   help="the detector sees images at this multiple of their size (default: the model's, 1.25; "
                        "small print such as receipts: 2.5 with --max-side 2500)")
    g.add_argument("--max-side", type=in_range(int, MAX_SIDE_RANGE), default=None,
                   help="cap on the long side the detector sees, in pixels (default: the model's, 1600)")


def read_config_from_args(args: argparse.Namespace, **fixed: Any) -> ReadConfig:
    """The ReadConfig of parsed :func:`add_read_arguments` options; ``fixed``: fields a command sets itself
    (e.g. ``beam`` from a caller's own option)."""
    return ReadConfig(models=args.models, int8=args.int8, threads=args.threads, scripts=args.scripts,
                      beam=max(1, args.beam), lexicon=args.read_lexicon, dictionary_bonus=args.dictionary_bonus,
                      min_confidence=args.min_confidence,
                      scale=args.scale, max_side=args.max_side, **fixed)


__all__ = ["add_read_arguments", "read_config_from_args", "scripts_arg", "margin_arg", "in_range"]
