"""Expand command-line inputs: files, directories (recursive), globs, ``-`` (stdin bytes), list files.

>>> expand(["no/such/file.png"])
['no/such/file.png']
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Sequence

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm",
                    ".jfif", ".jp2"}
STDIN = "-"


def expand(paths: Sequence[str], list_file: str | None = None) -> list[str]:
    """Inputs in a stable order. Directories give their image files (recursive, sorted); a glob gives
    its matches; anything else is kept as given, so a missing file is reported by the reader."""
    items = list(paths)
    if list_file:
        with open(list_file, encoding="utf-8") as fh:
            items += [line.strip() for line in fh if line.strip() and not line.startswith("#")]
    out: list[str] = []
    for p in items:
        if p == STDIN:
            out.append(p)
        elif os.path.isdir(p):
            found = sorted(str(f) for f in Path(p).rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS)
            out += found
        elif any(ch in p for ch in "*?[") and not os.path.exists(p):
            out += sorted(glob.glob(p, recursive=True))
        else:
            out.append(p)
    return out


__all__ = ["expand", "IMAGE_EXTENSIONS", "STDIN"]
