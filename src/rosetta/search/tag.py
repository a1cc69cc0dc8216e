"""Classes for images from the text in them: class lexicons (TOML: class -> words, phrases, patterns) matched
with OCR tolerance, plus the built-in entities of :mod:`rosetta.search.entities`.

>>> lex = Lexicon.from_dict({"petshop": {"words": ["puppy", "kennel"], "phrases": ["pet food"]},
...                          "pharmacy": {"words": ["pharmacy"]}})
>>> [(t.label, t.score, t.words) for t in tag("PET F00D and PUPPIES\\nPuppy kenne1 -20% www.dogs.com", lex)]
[('petshop', 0.82, ('Puppy', 'kenne1')), ('url', 1.0, ('www.dogs.com',))]
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from rosetta.search import entities
from rosetta.search.fuzzy import FuzzySet
from rosetta.search.normalize import normalize
from rosetta.search.normalize import terms as term_list
from rosetta.search.records import ImageDoc
from rosetta.search.store import Tag

EDIT_EVIDENCE = (1.0, 0.7, 0.5)  # a lexicon word's evidence by the edits it is matched with
PHRASE_EVIDENCE = 1.5
PATTERN_EVIDENCE = 1.0


@dataclass(frozen=True)
class ClassRule:
    name: str
    words: tuple[tuple[str, ...], ...]  # each lexicon word as its terms (several terms: matched as a phrase)
    phrases: tuple[tuple[str, ...], ...]
    patterns: tuple[re.Pattern, ...]  # over each line's normalised text


@dataclass(frozen=True)
class Lexicon:
    classes: tuple[ClassRule, ...]

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "lexicon") -> "Lexicon":
        rules = []
        for name, spec in data.items():
            if not isinstance(spec, dict):
                raise ValueError(f"{source}: class {name!r} must be a table with words, phrases or patterns")
            unknown = set(spec) - {"words", "phrases", "patterns"}
            if unknown:
                raise ValueError(f"{source}: class {name!r} has unknown keys {sorted(unknown)} "
                                 "(words, phrases, patterns)")
            try:
                patterns = tuple(re.compile(p) for p in spec.get("patterns", ()))
            except re.error as exc:
                raise ValueError(f"{source}: class {name!r}: bad pattern {exc.pattern!r}: {exc}") from exc
            words = tuple(ts for ts in (tuple(term_list(w)) for w in spec.get("words", ())) if ts)
            phrases = tuple(ts for ts in (tuple(term_list(p)) for p in spec.get("phrases", ())) if ts)
            rules.append(ClassRule(str(name), words, phrases, patterns))
        return cls(tuple(rules))

    @classmethod
    def load(cls, path: str | Path) -> "Lexicon":
        """A lexicon from a TOML file (errors name the file)."""
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ValueError(f"{p}: cannot read the lexicon ({exc.strerror})") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{p}: not valid TOML ({exc})") from exc
        return cls.from_dict(data, str(p))

    @classmethod
    def example(cls) -> "Lexicon":
        """The example lexicon shipped in the package (shop, pharmacy, restaurant, menu, receipt, poster, petshop)."""
        text = resources.files("rosetta.search").joinpath("lexicon.toml").read_text(encoding="utf-8")
        return cls.from_dict(tomllib.loads(text), "rosetta/search/lexicon.toml")

    def matcher(self) -> FuzzySet:
        return FuzzySet({t for r in self.classes for seq in r.words + r.phrases for t in seq})


def _lines(item: Any) -> list[list[str]]:
    """The words of ``item`` (Result, ImageDoc, batch row or text) as lines of word texts, reading order."""
    if isinstance(item, str):
        return [ln.split() for ln in item.splitlines()]
    if isinstance(item, dict):
        item = ImageDoc.from_row(item)
    if isinstance(item, ImageDoc):
        item = item.to_result()
    return [[w.text for w in ln.words] for ln in item.lines]


def tag(item: Any, lexicon: Lexicon | None = None, min_score: float = 0.5, with_entities: bool = True,
        _matcher: FuzzySet | None = None) -> list[Tag]:
    """Classes (score >= ``min_score``, best first) and entities of an image's text. ``item``: a Result,
    an ImageDoc, a batch row or plain text (lines of words). ``lexicon``: the example one when None."""
    lexicon = lexicon or Lexicon.example()
    matcher = _matcher or lexicon.matcher()
    lines = _lines(item)
    seq: list[tuple[str, str]] = [(t, w) for ln in lines for w in ln for t in term_list(w)]  # (term, word)
    cache: dict[str, dict[str, int]] = {}
    for t, _ in seq:
        if t not in cache:
            cache[t] = dict(matcher.matches(t)) if len(t) > 1 else ({t: 0} if t in matcher.exact else {})
    norm_lines = [normalize(" ".join(ln)) for ln in lines]
    out = []
    for rule in lexicon.classes:
        found = []  # (evidence, positions, words) of each lexicon entry seen
        for seq_terms, is_phrase in [(w, False) for w in rule.words] + [(p, True) for p in rule.phrases]:
            best = _best_run(seq, cache, seq_terms)
            if best is not None:
                d, start = best
                e = (PHRASE_EVIDENCE if is_phrase or len(seq_terms) > 1 else 1.0) * EDIT_EVIDENCE[min(d, 2)]
                found.append((e, range(start, start + len(seq_terms))))
        evidence, used, taken = 0.0, [], set()
        for e, span in sorted(found, key=lambda f: (-f[0], f[1].start)):  # a word counts once per class
            if taken.isdisjoint(span):
                taken.update(span)
                evidence += e
                used += [seq[i][1] for i in span]
        for pat in rule.patterns:
            for ln in norm_lines:
                m = pat.search(ln)
                if m:
                    evidence += PATTERN_EVIDENCE
                    used.append(m.group())
                    break
        score = round(1.0 - math.exp(-evidence), 2)
        if score >= min_score:
            out.append(Tag(rule.name, "class", score, tuple(dict.fromkeys(used))))
    out.sort(key=lambda t: (-t.score, t.label))
    if with_entities:
        found: dict[str, list[str]] = {}
        for ln in lines:
            for kind, value in entities.find(" ".join(ln)):
                found.setdefault(kind, []).append(value)
        out += [Tag(k, "entity", 1.0, tuple(dict.fromkeys(found[k]))) for k in entities.KINDS if k in found]
    return out


def _best_run(seq: list[tuple[str, str]], cache: dict[str, dict[str, int]],
              want: tuple[str, ...]) -> tuple[int, int] | None:
    """(edits, start) of the closest run of ``seq`` terms matching ``want`` in order; None if none does."""
    best = None
    for i in range(len(seq) - len(want) + 1):
        d = 0
        for j, t in enumerate(want):
            got = cache[seq[i + j][0]].get(t)
            if got is None:
                break
            d += got
        else:
            if best is None or d < best[0]:
                best = (d, i)
                if d == 0:
                    break
    return best


__all__ = ["Lexicon", "ClassRule", "tag", "Tag"]
