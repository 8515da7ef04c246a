"""A misspelled word read as the other prompt's word (chatroute/cache/spelling.py)."""

from __future__ import annotations

import pytest

from chatroute.cache.spelling import Respeller, same_word_misspelled, spell_alike, verifier_view
from chatroute.cache.text import features
from chatroute.embed import get_embedder
from scripts import eval_cache

KNOWS = get_embedder().knows


@pytest.mark.parametrize("x,y", [
    ("einstien", "einstein"),  # two letters swapped
    ("diference", "difference"),  # "difference" is known, "diference" not
    ("pasport", "passport"),  # a letter dropped
    ("lousiana", "louisiana"),
    ("photosynthisis", "photosynthesis"),  # two edits in a long word
    ("stewar", "stewart"),  # a known word's last letter dropped
    ("untill", "until"),  # its last letter doubled
])
def test_a_typo_is_the_same_word(x: str, y: str) -> None:
    assert same_word_misspelled(x, y, KNOWS)
    assert same_word_misspelled(y, x, KNOWS)


@pytest.mark.parametrize("x,y", [
    ("iran", "iraq"),  # both known: two words
    ("austin", "austen"),
    ("install", "installer"),  # another form
    ("procrastinating", "procrastination"),  # one base, two endings
    ("windows7", "windows"),  # not letters only
    ("truemns", "truman"),  # three edits
    ("keyna", "kenny"),  # one edit apart only if short words could take two
    ("ebay", "abay"),  # another first letter
    ("cat", "cart"),  # too short to tell
    ("lyft", "lift"),
    ("ronaldo", "ronald"),  # a name made of another and an ending: two people
    ("mariah", "maria"),
])
def test_other_words_stay_apart(x: str, y: str) -> None:
    assert not same_word_misspelled(x, y, KNOWS)


def test_the_side_with_the_unknown_spelling_is_rewritten() -> None:
    cached = features("What is the diference between a virus and bacteria?")
    asked = features("What is the difference between a virus and bacteria?")
    said_cached, said_asked = spell_alike(cached, asked, KNOWS)
    assert said_cached.text == "What is the difference between a virus and bacteria?"
    assert said_asked is asked
    # Either order: the known spelling wins.
    said_asked, said_cached = spell_alike(asked, cached, KNOWS)
    assert said_cached.text == "What is the difference between a virus and bacteria?" and said_asked is asked


def test_nothing_changes_without_the_shipped_embedder_or_a_typo() -> None:
    a, b = features("how does photosynthisis work?"), features("how does photosynthesis work?")
    assert spell_alike(a, b, None) == (a, b)
    c, d = features("Is Iran bigger than Iraq?"), features("Is Iraq bigger than Iran?")
    said = verifier_view(c, d, KNOWS)
    assert said[0] is c and said[1] is d


@pytest.fixture(scope="module")
def respeller() -> Respeller:
    return Respeller(get_embedder().whole_words(), KNOWS)


@pytest.mark.parametrize("typed,meant", [
    ("pasport", "passport"),  # a letter dropped
    ("imune", "immune"),
    ("einstien", "einstein"),  # two letters swapped
    ("goverment", "government"),
    ("untill", "until"),  # a letter doubled
])
def test_a_topic_word_is_respelled_for_the_neighbour_search(respeller: Respeller, typed: str, meant: str) -> None:
    assert respeller.word(typed) == meant
    assert respeller.words(["renew", typed, "online"]) == ["renew", meant, "online"]


@pytest.mark.parametrize("word", [
    "passport",  # known whole
    "roney",  # one edit from rodney, romney and rooney: which one is not for this to guess
    "trumans",  # the stems meet already
    "ticks",  # "tick" with an ending, not "tricks" misspelled
    "ronaldo",  # another name than "ronald", not a typo of it
    "covid",  # no known word one edit away
    "windows7",  # not letters only
    "lyft",  # too short to tell
    "qasport",  # another first letter than its fix
])
def test_a_word_without_one_sure_fix_stays_as_typed(respeller: Respeller, word: str) -> None:
    assert respeller.word(word) == word


def test_a_long_paste_is_respelled_only_at_its_start(respeller: Respeller) -> None:
    words = ["pasport"] * 40
    assert respeller.words(words) == ["passport"] * 24 + ["pasport"] * 16


def test_the_respeller_uses_only_words_it_was_given() -> None:
    # A stand-in vocabulary: the fix must be one of its words, never the shipped embedder's.
    small = Respeller(["passage", "passport"], KNOWS)
    assert small.word("pasport") == "passport"
    assert Respeller(["passage"], KNOWS).word("pasport") == "pasport"


def _pair(cached: str, new: str, label: str) -> dict:
    side = {"system": None, "history": []}
    return {"category": "typo", "label": label, "split": "heldout", "source": "test",
            "cached": {**side, "prompt": cached}, "new": {**side, "prompt": new}}


def test_a_rephrasing_with_a_typo_is_served_by_the_real_cache() -> None:
    # Written here in users' style; each was refused before the verifier read one spelling
    # (verifier 0.539, 0.993 and 0.001).
    pairs = [
        _pair("how long should i boil an egg for a sofft yolk?", "how long do i boil an egg for a soft yolk?", "hit"),
        _pair("what is the diference between a virus and bacteria?",
              "what is the difference between a virus and bacteria?", "hit"),
        _pair("which vitamins are good for imune health?", "which vitamins help immune health?", "hit"),
        # Below the neighbour floor until the topic words were respelled (no neighbour found).
        _pair("how can i renew my passport online?", "how do i renew my pasport online?", "hit"),
        # Refused as before: one spelling does not make two questions one.
        _pair("is iran bigger than iraq?", "is iraq bigger than iran?", "miss"),
        _pair("how do i cook brown rcie?", "how do i cook white rice?", "miss"),
        # A name and the same name with an ending are two people (served, verifier 1.000, before).
        _pair("what team does ronaldo play for?", "what team does ronald play for?", "miss"),
        # A known word with its last letter dropped is still a typo.
        _pair("what movies has kristen stewar been in?", "what movies has kristen stewart been in?", "hit"),
    ]
    outcomes = eval_cache.run(pairs, eval_cache.DEFAULT_THRESHOLD)
    assert [o.hit for o in outcomes] == [True, True, True, True, False, False, False, True]


