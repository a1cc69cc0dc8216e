"""Find images by the text in them, and classes for images: an index over `rosetta batch` output or Results
(SQLite FTS5 file, or PostgreSQL with pg_trgm), OCR-tolerant search, and tagging with class lexicons and
built-in entities. ``rosetta index | search | tag`` on the command line; ``GET /v1/search``, ``POST /v1/tag``
over HTTP.

>>> from rosetta.search import Index, Lexicon, tag
>>> [t.label for t in tag("PHARMACY  open 24h  +1 555 123 4567", Lexicon.example())]
['pharmacy', 'phone']
"""

from rosetta.search.index import Hit, HitWord, Index, SearchConfig
from rosetta.search.store import SearchIndexError, Tag
from rosetta.search.tag import Lexicon, tag

__all__ = ["Index", "SearchConfig", "Hit", "HitWord", "SearchIndexError", "Tag", "Lexicon", "tag"]
