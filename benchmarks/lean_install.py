"""The runtime install, checked as a new user would: a fresh venv, ``pip install .`` (no extras: no PyTorch),
then ``rosetta read`` on the bundled samples, compared word for word with the full install's reading.

    python benchmarks/lean_install.py [--keep DIR] [--images src/rosetta/samples]

Prints the venv's size on disk, whether ``torch`` can be imported there (it must not), the start-up of
``rosetta.OCR()`` in it, and the comparison: the same words in the same order, boxes within 0.5 px and 0.5
degree. Exits 1 when they differ. Needs PyPI (or a pip cache) for the runtime's wheels.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(argv: list[str], cwd: Path | None = None) -> str:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"lean_install: {' '.join(argv)} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def words(jsonl: str) -> dict[str, list[dict]]:
    out = {}
    for line in jsonl.splitlines():
        r = json.loads(line)
        out[Path(r["image"]).name] = r["words"]
    return out


def same(a: list[dict], b: list[dict], px: float = 0.5, deg: float = 0.5) -> bool:
    if [w["text"] for w in a] != [w["text"] for w in b]:
        return False
    for u, v in zip(a, b):
        (ux, uy, uw, uh, ua), (vx, vy, vw, vh, va) = u["box"], v["box"]
        if max(abs(ux - vx), abs(uy - vy), abs(uw - vw), abs(uh - vh)) > px or abs(ua - va) > deg:
            return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", default=None, help="build the venv here and keep it (default: a temporary folder)")
    ap.add_argument("--images", default=str(ROOT / "src" / "rosetta" / "samples"))
    a = ap.parse_args()
    base = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="rosetta-lean-"))
    venv = base / "venv"
    t = time.perf_counter()
    run([sys.executable, "-m", "venv", str(venv)])
    py = venv / "bin" / "python"
    run([str(py), "-m", "pip", "install", "-q", str(ROOT)])
    install_s = time.perf_counter() - t
    has_torch = run([str(py), "-c", "import importlib.util; print(importlib.util.find_spec('torch') is not None)"])
    start = run([str(py), "-c", "import time; t = time.perf_counter(); import rosetta, sys; rosetta.OCR(); "
                 "print(time.perf_counter() - t, 'torch' in sys.modules)"], cwd=base).split()
    lean = words(run([str(venv / "bin" / "rosetta"), "read", a.images, "--format", "jsonl"], cwd=base))
    full = words(run([sys.executable, "-m", "rosetta", "read", a.images, "--format", "jsonl"], cwd=base))
    size = run(["du", "-sm", str(venv)]).split()[0]
    print(f"venv {size} MB, pip install {install_s:.0f} s, torch installed: {has_torch.strip()}, "
          f"rosetta.OCR() {float(start[0]):.2f} s (torch imported: {start[1]})")
    differ = [n for n in sorted(set(lean) | set(full)) if not same(lean.get(n, []), full.get(n, []))]
    n_words = sum(len(v) for v in full.values())
    print(f"{len(full)} images, {n_words} words: " + (f"DIFFER on {differ}" if differ else "same words and boxes"))
    sys.exit(1 if differ or has_torch.strip() == "True" or start[1] == "True" else 0)


if __name__ == "__main__":
    main()
