"""Turning what a user types into a safe FTS5 query.

User text never reaches FTS5's query language: it is split into word tokens and each token
is quoted as a phrase, so quotes, AND/OR/NOT/NEAR, '*', '^', ':' and parentheses are all
searched as plain words (or dropped as punctuation) and can never raise a syntax error.
The last token gets a prefix '*' so search-as-you-type finds partial words.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"\w+", re.UNICODE)


def fts_query(text: str, *, prefix_last: bool = True) -> str | None:
    """An FTS5 MATCH expression (all words must match), or None when there is nothing to find."""
    tokens = _WORD.findall(text or "")
    if not tokens:
        return None
    # \w+ never contains a double quote, so wrapping in quotes is a complete escape.
    parts = [f'"{t}"' for t in tokens]
    if prefix_last:
        parts[-1] += "*"
    return " ".join(parts)
