"""Text to render: dictionary words per script mixed with numbers, prices, dates, phones, URLs,
hashtags and random strings, so the recognizer learns glyphs, not only a language model.

>>> c = Corpus.load(["latin"])                        # doctest: +SKIP
>>> c.sample(random.Random(0), "latin", difficulty=0.5)  # doctest: +SKIP
'Harbour'
"""

from __future__ import annotations

from rosetta.synth.errors import SynthSetupError

import logging
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from rosetta.charset import SCRIPTS, Charset, load_script_chars, normalize

log = logging.getLogger(__name__)

# Word lists from Debian packages: wamerican, wbritish, wfrench, wspanish, wngerman, witalian,
# wportuguese, wukrainian, hunspell-ru, hunspell-uk, hunspell-ar.
WORDLISTS: dict[str, tuple[str, ...]] = {
    "latin": ("/usr/share/dict/american-english", "/usr/share/dict/british-english", "/usr/share/dict/french",
              "/usr/share/dict/spanish", "/usr/share/dict/ngerman", "/usr/share/dict/italian",
              "/usr/share/dict/portuguese"),
    "cyrillic": ("/usr/share/hunspell/ru_RU.dic", "/usr/share/hunspell/uk_UA.dic", "/usr/share/dict/ukrainian"),
    "arabic": ("/usr/share/hunspell/ar.dic",),
}
MAX_WORDS_PER_FILE = 60_000  # a deterministic subsample keeps worker start-up fast


class CorpusError(SynthSetupError):
    """Missing word lists or an unknown script; the message says how to fix it."""


def _read_wordlist(path: Path, charset: Charset) -> list[str]:
    words = []
    with open(path, encoding="utf-8", errors="ignore") as fh:
        lines = fh.read().splitlines()
    if path.suffix == ".dic" and lines and lines[0].strip().isdigit():
        lines = lines[1:]  # hunspell: first line is the count
    step = max(1, len(lines) // MAX_WORDS_PER_FILE)
    for line in lines[::step]:
        w = normalize(line.split("/")[0].strip())
        if w and " " not in w and not w.endswith("'s") and charset.covers(w) and all(
                c.isalpha() or c in "'-\u0640" or _is_mark(c) for c in w):
            words.append(w)
    return words


@dataclass
class Corpus:
    """Word lists per script plus generators of non-dictionary strings."""

    words: dict[str, list[list[str]]]  # per script: one list per source (language)
    chars: dict[str, list[str]]

    @staticmethod
    def check(scripts: Iterable[str]) -> None:
        """Raise :class:`CorpusError` for an unknown script or a script without any word list."""
        for s in scripts:
            if s not in SCRIPTS:
                raise CorpusError(f"unknown script {s!r}: choose from {', '.join(SCRIPTS)}")
            if not any(Path(p).exists() for p in WORDLISTS[s]):
                raise CorpusError(
                    f"no word list for {s} (looked for {', '.join(WORDLISTS[s])}); run `make setup` "
                    "to install the Debian word-list packages (scripts/debian-packages.txt)")

    @classmethod
    def load(cls, scripts: Iterable[str] = SCRIPTS) -> "Corpus":
        scripts = list(scripts)
        words, chars = {}, {}
        for s in scripts:
            if s not in SCRIPTS:
                raise CorpusError(f"unknown script {s!r}: choose from {', '.join(SCRIPTS)}")
            cs = Charset.from_scripts([s])
            found = [Path(p) for p in WORDLISTS[s] if Path(p).exists()]
            if not found:
                raise CorpusError(
                    f"no word list for {s} (looked for {', '.join(WORDLISTS[s])}); run `make setup` "
                    "to install the Debian word-list packages (scripts/debian-packages.txt)")
            words[s] = [ws for ws in (sorted(set(_read_wordlist(p, cs))) for p in found) if ws]
            chars[s] = [c for c in load_script_chars(s) if c.isalpha()]
            log.debug("corpus %s: %d words from %d lists", s, sum(map(len, words[s])), len(found))
        return cls(words, chars)

    # ------------------------------------------------------------------ sampling
    def word(self, rng: random.Random, script: str, max_len: int) -> str:
        """A dictionary word; the first list (English for Latin) is drawn half of the time."""
        lists = self.words[script]
        ws = lists[0] if rng.random() < 0.5 or len(lists) == 1 else lists[rng.randrange(1, len(lists))]
        for _ in range(20):
            w = ws[rng.randrange(len(ws))]
            if len(w) <= max_len:
                return w
        return w[:max_len]

    def sample(self, rng: random.Random, script: str, difficulty: float = 1.0, words: int = 1) -> str:
        """One string to render for ``script``; ``difficulty`` in [0, 1] raises length and variety.

        With ``words > 1`` the result is a phrase of that many tokens separated by spaces (lines).
        """
        max_len = int(round(4 + difficulty * 18))
        tokens = [self._token(rng, script, max_len, difficulty) for _ in range(words)]
        return " ".join(tokens)

    def _token(self, rng: random.Random, script: str, max_len: int, difficulty: float) -> str:
        r = rng.random()
        if r < 0.62:
            w = self.word(rng, script, max_len)
            return _case(rng, w, script)
        kinds: list[Callable[[random.Random], str]] = [_number, _price, _date, _time, _phone, _percent]
        if script == "latin":
            kinds += [_url, _email, _hashtag, _code]
        if r < 0.82:
            s = kinds[rng.randrange(len(kinds))](rng)
            if script == "arabic" and rng.random() < 0.4:
                s = s.translate(_ARABIC_DIGITS)
            return s[:max_len] if len(s) > max_len + 6 else s
        if r < 0.93 and script != "arabic":
            # a word with punctuation attached, as in running text
            w = _case(rng, self.word(rng, script, max_len), script)
            return rng.choice(['"', "(", "'", ""]) + w + rng.choice([".", ",", "!", "?", ":", ")", '"', ";"])
        return self.random_string(rng, script, max(1, rng.randint(1, max_len)))

    def random_string(self, rng: random.Random, script: str, n: int) -> str:
        """Random characters of the script with some digits and punctuation (no language model)."""
        pool = self.chars[script]
        ascii_pool = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
        extra = "0123456789" + ".-/:&'!?%"
        out = []
        for _ in range(n):
            r = rng.random()
            if r < 0.18:
                out.append(rng.choice(extra))
            elif script == "latin" and r < 0.85:
                out.append(rng.choice(ascii_pool))
            else:
                out.append(pool[rng.randrange(len(pool))])
        return "".join(out)


_ARABIC_DIGITS = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def _case(rng: random.Random, w: str, script: str) -> str:
    if script == "arabic":
        return w
    r = rng.random()
    if r < 0.25:
        return w.upper()
    if r < 0.5:
        return w[:1].upper() + w[1:]
    if r < 0.58:
        return w.lower()
    return w


def _number(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.4:
        return str(rng.randint(0, 10 ** rng.randint(1, 5)))
    if r < 0.7:
        return f"{rng.uniform(0, 1000):.{rng.randint(1, 2)}f}"
    return f"{rng.randint(1000, 999999):,}".replace(",", rng.choice([",", ".", " "]))


def _price(rng: random.Random) -> str:
    v = f"{rng.uniform(0.1, 999):.2f}"
    if rng.random() < 0.3:
        v = v.replace(".", ",")
    cur = rng.choice(["$", "€", "£", "¥"])
    return cur + v if rng.random() < 0.6 else v + cur


def _date(rng: random.Random) -> str:
    d, m, y = rng.randint(1, 28), rng.randint(1, 12), rng.randint(1950, 2035)
    fmt = rng.randrange(4)
    if fmt == 0:
        return f"{d:02d}/{m:02d}/{y}"
    if fmt == 1:
        return f"{y}-{m:02d}-{d:02d}"
    if fmt == 2:
        return f"{d}.{m}.{y % 100:02d}"
    return f"{m}/{d}/{y}"


def _time(rng: random.Random) -> str:
    h, mi = rng.randint(0, 23), rng.randint(0, 59)
    return f"{h}:{mi:02d}" + rng.choice(["", "", "am", "pm", "h"])


def _phone(rng: random.Random) -> str:
    g = [str(rng.randint(10 ** (k - 1), 10 ** k - 1)) for k in (3, 3, 4)]
    sep = rng.choice(["-", " ", ".", ""])
    s = sep.join(g)
    return rng.choice(["", "+1 ", "+44 ", "(0", "+7 "]) + s if rng.random() < 0.5 else s


def _percent(rng: random.Random) -> str:
    return rng.choice(["", "-", "+"]) + str(rng.randint(1, 99)) + "%"


_TLDS = ["com", "org", "net", "de", "fr", "io", "co.uk", "es", "it"]
_SYLL = ["shop", "news", "city", "cafe", "bar", "art", "go", "my", "best", "top", "info", "mail", "home", "web"]


def _url(rng: random.Random) -> str:
    name = "".join(rng.choice(_SYLL) for _ in range(rng.randint(1, 2)))
    s = f"{rng.choice(['www.', '', 'https://'])}{name}.{rng.choice(_TLDS)}"
    return s + (f"/{rng.choice(_SYLL)}" if rng.random() < 0.3 else "")


def _email(rng: random.Random) -> str:
    return f"{rng.choice(_SYLL)}{rng.randint(0, 99)}@{rng.choice(_SYLL)}.{rng.choice(_TLDS)}"


def _hashtag(rng: random.Random) -> str:
    return rng.choice(["#", "@"]) + "".join(rng.choice(_SYLL) for _ in range(rng.randint(1, 3)))


def _code(rng: random.Random) -> str:
    letters = "ABCDEFGHJKLMNPRSTUVWXYZ"
    return "".join(rng.choice(letters) for _ in range(rng.randint(1, 3))) + rng.choice(["-", "", " "]).strip() + str(
        rng.randint(1, 9999))


def _is_mark(c: str) -> bool:
    import unicodedata

    return unicodedata.category(c).startswith("M")


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rosetta"
