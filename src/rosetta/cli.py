"""The ``rosetta`` command: read | synth | train | eval | quantize | batch | serve | bench.

Each subcommand lives in its own module; this file only wires argparse to them.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

log = logging.getLogger("rosetta")


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model")
    tsub = p.add_subparsers(dest="what", required=True)
    r = tsub.add_parser("recognizer", help="train the CTC word recognizer (synthetic + real crops)")
    r.add_argument("--out", default="runs/rec", help="run folder: checkpoints, log, evals")
    r.add_argument("--steps", type=int, default=40_000, help="schedule horizon in steps")
    r.add_argument("--batch-size", type=int, default=48)
    r.add_argument("--lr", type=float, default=2e-3)
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--workers", type=int, default=1, help="data-generating processes")
    r.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--eval-every", type=int, default=1000)
    r.add_argument("--max-minutes", type=float, default=None, help="stop (with a checkpoint) after this long")
    r.add_argument("--resume", action="store_true", help="continue from OUT/last.pt if present")
    r.add_argument("--init", default=None, help="start from the weights of this checkpoint (fine-tuning)")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a TrainConfig field (model.widths=64,128,192 for model fields)")


def _parse_sets(items: Sequence[str]) -> dict:
    out: dict = {}
    for it in items:
        if "=" not in it:
            raise SystemExit(f"--set expects KEY=VALUE, got {it!r}")
        k, v = it.split("=", 1)
        val: object
        if "," in v:
            val = tuple(int(x) for x in v.split(","))
        else:
            try:
                val = int(v)
            except ValueError:
                try:
                    val = float(v)
                except ValueError:
                    val = v
        if k.startswith("model."):
            out.setdefault("model", {})[k[6:]] = val
        else:
            out[k] = val
    return out


def _run_train(args: argparse.Namespace) -> int:
    if args.what == "recognizer":
        from rosetta.train.recognizer import TrainConfig, train

        cfg = TrainConfig(out=args.out, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                          threads=args.threads, workers=args.workers, device=args.device, seed=args.seed,
                          eval_every=args.eval_every, **_parse_sets(args.set))
        train(cfg, resume=args.resume, max_minutes=args.max_minutes, init=args.init)
        return 0
    raise SystemExit(f"unknown training target {args.what}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rosetta", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)
    _add_train(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s")
    if args.command == "train":
        return _run_train(args)
    raise SystemExit(f"unknown command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
