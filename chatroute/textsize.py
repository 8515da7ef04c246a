"""How much of a routing-time token estimate a text weighs, in ASCII characters' worth.

The estimate is characters / 3.6 (routing/sizing.py), which errs large for English but small
for scripts whose characters are about a token each or more (CJK, emoji; README, The history
window). So a character outside ASCII weighs more, by its UTF-8 length: 1 + 1.5 per byte past the first.
A CJK character (3 bytes) weighs 4, about a token; an emoji (4 bytes) 5.5; Cyrillic or Greek
(2 bytes) 2.5, which errs large as English does. Both lengths are what SQLite gives without
the text leaving the database (length(content), length(CAST(content AS BLOB))): weighted_length.

Lengths miss the other text tokenizers cut small: high-entropy ASCII (a pasted data URL or
base64 blob, a hex string or hex dump, a UUID, a JWT), whose tokens are a few characters each,
not a word. Weighed as prose, such a prompt past a model's window was sent, and the history
window resent more than fit (README, The history window). text_weight finds such runs and
weighs their characters as DENSE_WEIGHT or HEX_WEIGHT ordinary ones.

Numbers are cut small too: o200k makes a token of at most three digits, and the punctuation or
space beside a number is a token of its own (`12.5,13.75` is five tokens, not a word), so a CSV,
JSON records or a log weighed as prose came out at half to two thirds of its size. So a digit
weighs DIGIT_EXTRA more, and each edge between a digit and punctuation or space EDGE_EXTRA more:
prose and code, with few numbers, weigh about what they did. Inside a dense run or hex dump
the run's own weight stands instead (its digits are in it already).

All of it only ever adds to weighted_length, which Store.history_tail relies on (it walks a
branch by lengths, then weighs the bodies it reads). The search runs on the UTF-8 bytes mapped
to a class a byte (bytes.translate), bytes.count and find, so ordinary text is not scanned by a
regex at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

NON_ASCII_EXTRA = 1.5  # weight added per UTF-8 byte past a character's first
# A character of a dense run, in ordinary ones: set from the shipped o200k tokenizer's counts of
# base64, UUIDs and hex dumps (DENSE) and of unbroken hex strings (HEX), to err a little large.
DENSE_WEIGHT = 2.5
HEX_WEIGHT = 2.1
# Set from the same tokenizer's counts of CSVs, JSON records, access logs and URLs, to err a little
# large on them while English and code move little (they have a digit in fifty characters or fewer).
DIGIT_EXTRA = 0.8
EDGE_EXTRA = 1.5

# A base64-like run: at least MIN_RUN characters of the base64 alphabets (standard and URL-safe)
# with no space. It is dense unless it reads as words: `test_case_2_handles_long_names` and
# `qqqq…` are runs too, but their letters come in long pieces (o200k's are words), while in random
# text the kind of character changes every 1–2 characters. SAMPLE characters are looked at.
MIN_RUN = 32
SAMPLE = 64
MAX_PIECE = 4.0  # the average piece of a dense sample is shorter
_RUN_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-"
_PIECE = re.compile(rb"[A-Z]*[a-z]+|[A-Z]+|[0-9]+")  # o200k's letter and digit pieces, roughly
_HEX_RUN = re.compile(rb"[0-9A-Fa-f]+")  # a UUID's hyphens are tokens of their own

# A hex dump (xxd, hexdump -C, od): at least 8 groups of 2–8 hex digits split by one or two spaces
# (or a line end); o200k cuts each group apart from its space, and digits from letters. Looked
# for only in spans of at least MIN_DUMP characters of hex digits and separators.
_DUMP_CHARS = b"0123456789ABCDEFabcdef \t\r\n:"
MIN_DUMP = 23  # 8 groups of 2 and their 7 spaces
_DUMP = re.compile(rb"(?<![0-9A-Za-z])(?:[0-9A-Fa-f]{2,8}(?::?[ \t]{1,2}|\r?\n)){7,}[0-9A-Fa-f]{2,8}(?![0-9A-Za-z])")


def _table(members: bytes) -> bytes:
    """A bytes.translate table: the members to b"x", every other byte to b"."."""
    table = bytearray(b"." * 256)
    for b in members:
        table[b] = ord("x")
    return bytes(table)


_RUN_TABLE, _DUMP_TABLE = _table(_RUN_CHARS), _table(_DUMP_CHARS)
# b"d" for a digit, b"p" for ASCII punctuation or whitespace, b"a" for any other byte: a number's
# edges are then the two-byte b"dp" and b"pd", which bytes.count counts exactly (they cannot overlap).
_NUMBER_TABLE = bytes(ord("d") if chr(b).isdigit() and b < 128 else
                      ord("p") if b < 128 and not chr(b).isalnum() and b not in b"_" else
                      ord("a") for b in range(256))


def weighted_length(chars: int, utf8_bytes: int) -> float:
    """A text of `chars` characters and `utf8_bytes` bytes, in ASCII characters' worth, from its
    lengths alone: what text_weight gives for a text with no dense run, and never more."""
    return chars + NON_ASCII_EXTRA * max(0, utf8_bytes - chars)


def text_weight(text: str) -> float:
    data = text.encode("utf-8", "surrogatepass")
    weight = weighted_length(len(text), len(data))
    marks = data.translate(_NUMBER_TABLE)
    weight += _number_extra(marks)
    if len(data) >= MIN_DUMP:
        weight += _dense_extra(data, marks)
    return weight


def _number_extra(marks: bytes, start: int = 0, end: int | None = None) -> float:
    """What the digits of marks[start:end] (a translation by _NUMBER_TABLE) and their edges add."""
    edges = marks.count(b"dp", start, end) + marks.count(b"pd", start, end)
    return DIGIT_EXTRA * marks.count(b"d", start, end) + EDGE_EXTRA * edges


def _dense_extra(data: bytes, marks: bytes) -> float:
    """What the dense runs and hex dumps of `data` (UTF-8) add to its weight beyond what their
    digits did (`marks`: the number classes of its bytes). Both are ASCII, so their bytes are their
    characters."""
    extra = sum(_run_extra(data, marks, at, end) for at, end in _spans(data.translate(_RUN_TABLE), MIN_RUN))
    for at, end in _spans(data.translate(_DUMP_TABLE), MIN_DUMP):
        for m in _DUMP.finditer(data, at, end):
            extra += max(0.0, (DENSE_WEIGHT - 1) * (m.end() - m.start()) - _number_extra(marks, m.start(), m.end()))
    return extra


def _spans(marks: bytes, least: int) -> Iterator[tuple[int, int]]:
    """The runs of at least `least` b"x" in `marks` (a translation of the text: b"x" where a
    character may belong to the run, b"." where it may not), as (start, end)."""
    needle = b"x" * least
    at = marks.find(needle)
    while at >= 0:
        end = marks.find(b".", at + least)
        end = len(marks) if end < 0 else end
        yield at, end
        at = marks.find(needle, end)


def _run_extra(data: bytes, marks: bytes, start: int, end: int) -> float:
    """What the run data[start:end] adds beyond its digits: nothing when it reads as words."""
    sample = data[start:min(end, start + SAMPLE)]
    if len(sample) > MAX_PIECE * len(_PIECE.findall(sample)):
        return 0.0
    weight = HEX_WEIGHT if _HEX_RUN.fullmatch(sample) else DENSE_WEIGHT
    return max(0.0, (weight - 1) * (end - start) - _number_extra(marks, start, end))
