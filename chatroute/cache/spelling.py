"""One word spelled two ways: "Who were Albert Einstien's siblings?" / "Siblings of Albert Einstein?".

People misspell as they type. The static embedder splits a word it does not know into pieces
("truemns" → "true", "##m", "##ns"), so a misspelled word on one side and its right spelling on
the other look like two words, and the verifier reads a missing word where there is a typo. Before
the verifier reads a pair, a misspelled word on one side is written as the other side writes it.

A pair of words is taken for one word only where that is safe to assume:
- at least one of the two is a word the embedder does not know whole (two known words, "Iran" /
  "Iraq" or "Austin" / "Austen", are two words);
- both are letters only, at least 4 long and one of them 5 ("lyft" / "lift" are two; "sofft" /
  "soft" one), with the same first letter ("windows7" / "windows" and "grub2" / "grub" are other
  things);
- neither is another form of the other, one base with two endings ("install" / "installer",
  "procrastinating" / "procrastination"); whether another form asks the same is left to the
  embedder;
- the stems differ (the stems already meet: "Nixon" / "Nixons");
- they are one edit apart, or two where the longer has 7 letters or more (an edit is an inserted,
  deleted or changed letter, or two neighbouring letters swapped: "einstien" / "einstein");
- the longer is not an unknown word made of the other and letters added at its end (unless they
  double its last letter): in lower case "ronald" / "ronaldo" and "maria" / "mariah" are two
  people, while "stewar" / "stewart" and "until" / "untill" are one word.

The exact facts are read before this, from the prompts as written: a name spelled two ways in
capitals is still refused as another name.

A typo can also keep a pair from meeting at all: the neighbour search compares the two prompts'
topic words, and a misspelled word there is pieces of other words ("pasport" → "pas", "##port").
So the topic words are read respelled (Respeller): a word the embedder does not know becomes the
one word it knows that is a typo of it by the same rules, one edit away. Where two or more known
words are one edit away ("roney": "rodney", "romney", "rooney") the word stays as typed. This only
finds candidates; the exact facts and the verifier still read each prompt as written.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from rapidfuzz.distance import OSA

from chatroute.cache.guards import spell_acronyms
from chatroute.cache.text import Features, features, stem

Knows = Callable[[str], bool]

_MIN_LEN = 4
_LONG = 7  # from this length two edits are allowed
_ENDINGS = ("", "s", "es", "d", "ed", "ing", "ings", "ion", "ions", "ation", "ations", "er", "ers", "or", "ors",
            "e", "y", "ies", "ied", "ly", "al", "ally", "ment", "ments", "ness", "ity", "ive", "ic", "ical",
            "ism", "ist", "ists", "ian", "ians", "an", "ans", "ese", "i", "is")
_MIN_BASE = 3
_RESPELL_MEMO = 4096  # words remembered by a Respeller: a long-lived cache sees the same typos again
# A pasted log or file is hundreds of unknown words, each a few hundred strings to try: only the
# first topic words are respelled (a question says what it asks first), and no word longer than this.
_RESPELL_WORDS = 24
_RESPELL_MAX_LEN = 18


def same_word_misspelled(x: str, y: str, knows: Knows) -> bool:
    """x and y (lower case) are one word, one of them misspelled (see the module docstring)."""
    if x == y or min(len(x), len(y)) < _MIN_LEN or max(len(x), len(y)) <= _MIN_LEN or x[0] != y[0]:
        return False
    if not (x.isalpha() and y.isalpha()):
        return False
    limit = 2 if max(len(x), len(y)) >= _LONG else 1
    if OSA.distance(x, y, score_cutoff=limit) > limit or _name_ending(x, y, knows):
        return False
    return stem(x) != stem(y) and not (knows(x) and knows(y)) and not _other_form(x, y)


def _name_ending(x: str, y: str, knows: Knows) -> bool:
    """The longer word, one the embedder does not know, is the shorter with letters added at its
    end that do not double its last letter: "ronald" / "ronaldo" and "maria" / "mariah" are two
    people. A known word with its end dropped is a typo ("stewar" / "stewart"), and so is a doubled
    last letter ("until" / "untill")."""
    short, long_ = sorted((x, y), key=len)
    if not long_.startswith(short) or len(long_) == len(short) or knows(long_):
        return False
    return set(long_[len(short):]) != {short[-1]}


def _other_form(x: str, y: str) -> bool:
    """x and y are one base with two endings ("procrastinat" + "ing" / "ion")."""
    for ex in _ENDINGS:
        if not x.endswith(ex) or len(x) - len(ex) < _MIN_BASE:
            continue
        base = x[: len(x) - len(ex)]
        if y.startswith(base) and y[len(base) :] in _ENDINGS:
            return True
    return False


def verifier_view(a: Features, b: Features, knows: Knows | None) -> tuple[Features, Features]:
    """The pair as the verifier reads it: acronyms said where the other side uses them
    (guards.spell_acronyms), then one spelling for a misspelled word (spell_alike)."""
    return spell_alike(*spell_acronyms(a, b), knows)


def spell_alike(a: Features, b: Features, knows: Knows | None) -> tuple[Features, Features]:
    """The pair as the verifier should read it: where a word of one side is the other side's word
    misspelled, the side with the word the embedder does not know (b's, when it knows neither)
    writes it as the other does. Unchanged sides are returned as they are; without `knows` (a
    stand-in embedder) nothing changes."""
    if knows is None:
        return a, b
    # All words, not only topic words: "diference" is a topic word to the cache (it does not know
    # it), "difference" a filler word.
    in_a, in_b = set(a.tokens), set(b.tokens)
    only_a = dict.fromkeys(w for w in a.tokens if w not in in_b and len(w) >= _MIN_LEN and w.isalpha())
    only_b: dict[str, list[str]] = {}  # by first letter: a long prompt pairs few words, not all
    for w in dict.fromkeys(b.tokens):
        if w not in in_a and len(w) >= _MIN_LEN and w.isalpha():
            only_b.setdefault(w[0], []).append(w)
    fix_a: dict[str, str] = {}
    fix_b: dict[str, str] = {}
    for x in only_a:
        for y in only_b.get(x[0], ()):
            if abs(len(x) - len(y)) <= 2 and y not in fix_b and same_word_misspelled(x, y, knows):
                if knows(x) or not knows(y):
                    fix_b[y] = x
                else:
                    fix_a[x] = y
                break
    return _rewrite(a, fix_a), _rewrite(b, fix_b)


def _rewrite(f: Features, fixes: dict[str, str]) -> Features:
    if not fixes:
        return f
    pattern = re.compile(r"\b(" + "|".join(re.escape(w) for w in fixes) + r")\b", re.IGNORECASE)
    return features(pattern.sub(lambda m: fixes[m.group(0).lower()], f.text))


def _one_edit(word: str) -> set[str]:
    """Every string one edit from `word` that keeps its first letter: a letter dropped, inserted
    or changed, or two neighbours swapped, anywhere after the first."""
    out: set[str] = set()
    for i in range(1, len(word) + 1):
        head, tail = word[:i], word[i:]
        if tail:
            out.add(head + tail[1:])
            if len(tail) > 1:
                out.add(head + tail[1] + tail[0] + tail[2:])
            out.update(head + c + tail[1:] for c in string.ascii_lowercase)
        out.update(head + c + tail for c in string.ascii_lowercase)
    out.discard(word)
    return out


class Respeller:
    """Reads a misspelled topic word as the word it misspells, for the neighbour search (see the
    module docstring). `words`: the lower-case words the embedder knows whole."""

    def __init__(self, words: Iterable[str], knows: Knows) -> None:
        self._words = frozenset(w for w in words if w.isascii() and w.isalpha() and len(w) >= _MIN_LEN)
        self._knows = knows
        self._memo: dict[str, str] = {}

    def word(self, w: str) -> str:
        """`w` respelled, or `w` itself when it is known, not a plain word, or its fix is not unique."""
        if not _MIN_LEN < len(w) <= _RESPELL_MAX_LEN or w in self._words or not (w.isascii() and w.isalpha()):
            return w
        fixed = self._memo.get(w)
        if fixed is None:
            found = [] if self._inflected(w) else [
                c for c in _one_edit(w) if c in self._words and same_word_misspelled(w, c, self._knows)]
            fixed = found[0] if len(found) == 1 else w
            if len(self._memo) >= _RESPELL_MEMO:
                self._memo.clear()
            self._memo[w] = fixed
        return fixed

    def words(self, words: Sequence[str]) -> list[str]:
        """The first _RESPELL_WORDS of `words` respelled, the rest as they are."""
        return [self.word(w) for w in words[:_RESPELL_WORDS]] + list(words[_RESPELL_WORDS:])

    def topic_text(self, f: Features) -> str:
        """What the neighbour search embeds for a prompt: its topic words, respelled."""
        return " ".join(self.words(f.content_words))

    def _inflected(self, w: str) -> bool:
        """`w` is a known word with an ending ("ticks": "tick" + "s"), not a typo ("tricks")."""
        if stem(w) in self._words:
            return True
        return any(w.endswith(ex) and len(w) - len(ex) >= _MIN_BASE and w[: len(w) - len(ex)] in self._words
                   for ex in _ENDINGS if ex)


@functools.lru_cache(maxsize=4)
def _respeller_of(embedder: Any) -> Respeller:
    return Respeller(embedder.whole_words(), embedder.knows)


def respeller_for(embedder: Any) -> Respeller | None:
    """The Respeller of an embedder with a vocabulary (`whole_words` and `knows`, as the shipped
    one has), built once a process for each; None for a stand-in without one."""
    if not (callable(getattr(embedder, "whole_words", None)) and callable(getattr(embedder, "knows", None))):
        return None
    return _respeller_of(embedder)
