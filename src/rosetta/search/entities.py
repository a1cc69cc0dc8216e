"""Entities found without a lexicon: URLs, e-mail addresses, phone numbers, prices with a currency, dates,
hashtags. Each pattern runs over a line of text as read; a span taken by one kind is not reused by a later
one (a date is not also a phone number).

>>> [(k, v) for k, v in find("Call +1 555-123-4567 or see www.pets.com, 12.03.2024: £4.99 #puppy")]
[('url', 'www.pets.com'), ('date', '12.03.2024'), ('price', '£4.99'), ('phone', '+1 555-123-4567'), ('hashtag', '#puppy')]
>>> find("mail info@shop.de"), find("Итого 1 250,00 руб."), find("no entities here")
([('email', 'info@shop.de')], [('price', '1 250,00 руб.')], [])
"""

from __future__ import annotations

import re

_MONTHS = ("jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec|january|february|march|april|june|july|august|"
           "september|october|november|december|янв|фев|мар|апр|мая|июн|июл|авг|сен|окт|ноя|дек")
_CUR_BEFORE = r"(?:US\$|C\$|A\$|[$€£¥₽₴₺₹₩₪])"
_CUR_AFTER = (r"(?:[$€£¥₽₴₺₹₩₪]|\b(?:usd|eur|gbp|rub|uah|chf|jpy|aed|sar|egp|mad|tl|zł|lei|kr|руб|грн|тг|сом)\b\.?"
              r"|р\.|руб\.|грн\.|(?:ريال|درهم|جنيه|دينار|ر\.س|د\.إ))")
_AMOUNT = r"\d{1,3}(?:[ ,.\u00a0]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
PATTERNS: tuple[tuple[str, re.Pattern], ...] = (
    ("email", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.I)),
    ("url", re.compile(r"(?:https?://|www\.)[^\s,;]+[^\s,;.!?)]|\b[\w-]+(?:\.[\w-]+)*\."
                       r"(?:com|org|net|io|co|uk|de|fr|es|it|ru|ua|рф|info|biz|shop|eu|edu|gov)\b(?:/[^\s,;]*)?", re.I)),
    ("date", re.compile(r"(?<![\d.])(?:\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[./-]\d{1,2}[./-](?:\d{4}|\d{2}))(?![\d.]*\d)"
                        rf"|\b\d{{1,2}}\s+(?:{_MONTHS})\.?,?\s+\d{{4}}\b|\b(?:{_MONTHS})\.?\s+\d{{1,2}},?\s+\d{{4}}\b",
                        re.I)),
    ("price", re.compile(rf"{_CUR_BEFORE}\s?(?:{_AMOUNT})|(?<![\d.,])(?:{_AMOUNT})\s?{_CUR_AFTER}", re.I)),
    ("phone", re.compile(r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d{1,4}(?:[\s.-]?\d{2,4}){1,4}(?!\w)")),
    ("hashtag", re.compile(r"(?<![\w#])#\w*[^\W\d_]\w*")),
)
KINDS = tuple(k for k, _ in PATTERNS)


def find(text: str) -> list[tuple[str, str]]:
    """(kind, value) for every entity in ``text``, in the order of :data:`KINDS`, then of position."""
    taken: list[tuple[int, int]] = []
    out = []
    for kind, pat in PATTERNS:
        for m in pat.finditer(text):
            a, b = m.span()
            if any(a < y and x < b for x, y in taken):
                continue
            value = m.group().strip()
            if kind == "phone" and not 7 <= sum(c.isdigit() for c in value) <= 15:
                continue
            taken.append((a, b))
            out.append((kind, value))
    return out


__all__ = ["find", "KINDS", "PATTERNS"]
