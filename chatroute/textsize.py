"""How much of a routing-time token estimate a text weighs, from lengths alone.

The estimate is characters / 3.6 (routing/sizing.py), which errs large for English but small
for scripts whose characters are about a token each or more (CJK, emoji; README, The history
window). So a character outside ASCII weighs more, by its UTF-8 length: 1 + 1.5 per byte past the first.
A CJK character (3 bytes) weighs 4, about a token; an emoji (4 bytes) 5.5; Cyrillic or Greek
(2 bytes) 2.5, which errs large as English does. Both lengths are what SQLite gives without
the text leaving the database (length(content), length(CAST(content AS BLOB))).
"""

from __future__ import annotations

NON_ASCII_EXTRA = 1.5  # weight added per UTF-8 byte past a character's first


def weighted_length(chars: int, utf8_bytes: int) -> float:
    """A text of `chars` characters and `utf8_bytes` bytes, in ASCII characters' worth."""
    return chars + NON_ASCII_EXTRA * max(0, utf8_bytes - chars)


def text_weight(text: str) -> float:
    return weighted_length(len(text), len(text.encode("utf-8", "surrogatepass")))
