"""The ONNX graphs that ship with the package, written from the PyTorch models (training side: imports torch)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Callable

from rosetta.models import MODEL_DIR


def run_writer(name: str, write: Callable[[Path], object], doc: str | None, argv: list[str] | None = None) -> None:
    """``python -m rosetta.graphs.NAME [FOLDER]``: ``write`` the graphs of model ``name`` from the
    ``NAME.safetensors`` and ``NAME.json`` in FOLDER (default: the shipped models); ``doc`` (the module's
    docstring) gives the help text."""
    parser = argparse.ArgumentParser(prog=f"python -m rosetta.graphs.{name}", description=(doc or "").split("\n\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, default=MODEL_DIR,
                        help=f"folder with {name}.safetensors and {name}.json (default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    write(args.folder)


__all__ = ["run_writer"]
