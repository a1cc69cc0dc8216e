"""Write the English dictionary the recognizer's decoding prefers (``src/rosetta/dictionaries/english.txt.gz``).

    python scripts/make_dictionary.py

From SCOWL's American and British English word lists as Debian ships them (``wamerican``, ``wbritish``; permissive
licence, kept in ``src/rosetta/dictionaries/NOTICE``): every word casefolded, possessives ("'s") and words with
characters other than letters, apostrophes and hyphens left out, sorted, one per line.
"""

from __future__ import annotations

import gzip
from pathlib import Path

SOURCES = ("/usr/share/dict/american-english", "/usr/share/dict/british-english")
OUT = Path(__file__).resolve().parent.parent / "src" / "rosetta" / "dictionaries" / "english.txt.gz"


def words(paths=SOURCES) -> list[str]:
    out = set()
    for path in paths:
        for line in Path(path).read_text(encoding="utf-8", errors="ignore").splitlines():
            w = line.strip().casefold()
            if w and not w.endswith("'s") and all(c.isalpha() or c in "'-" for c in w):
                out.add(w)
    return sorted(out)


def main() -> None:
    ws = words()
    # mtime 0: the same lists give the same bytes
    with open(OUT, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=9) as fh:
        fh.write(("\n".join(ws) + "\n").encode("utf-8"))
    print(f"{OUT}: {len(ws)} words, {OUT.stat().st_size / 1e3:.0f} kB")


if __name__ == "__main__":
    main()
