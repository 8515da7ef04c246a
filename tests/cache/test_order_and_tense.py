"""Two questions that share every word can still ask different things: "a job after college" is
not "college after a job", "Will AI replace programmers?" asks for a prediction where "Did AI
replace programmers?" asks for a record, "the former CEO" is another person than "the CEO", and
"Can I eat raw eggs?" asks whether one may where "Should I …?" asks whether one ought to.
The verifier served each (0.995 to 1.000) before these exact rules; what they cost on the
labelled sets is in the README."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatroute.cache import AnswerCache, CacheSettings
from chatroute.embed import get_embedder
from tests.cache.exact import hard


@pytest.mark.parametrize("a,b,word", [
    ("How do I get a job at Google after college?", "How do I get into college after a job at Google?", "after"),
    ("Should I learn Python before Java?", "Should I learn Java before Python?", "before"),
    ("Is Iran bigger than Iraq?", "Is Iraq bigger than Iran?", "than"),
    ("Why do cats sleep more than dogs?", "Why do dogs sleep more than cats?", "than"),
])
def test_two_things_that_trade_places_around_an_ordering_word_are_refused(a: str, b: str, word: str) -> None:
    assert hard(a, b) == f"order reversed around {word!r}"
    assert hard(b, a) == f"order reversed around {word!r}"


@pytest.mark.parametrize("a,b", [
    ("Should I learn Python before Java?", "Is it better to learn Python before Java?"),
    ("What should I do after college?", "What should I do after I finish college?"),
    ("Is a cat faster than a dog?", "Is a cat quicker than a dog?"),
    ("India versus South Africa: who won?", "South Africa versus India: who won?"),  # symmetric
])
def test_the_same_order_or_a_symmetric_word_is_not_a_reversal(a: str, b: str) -> None:
    assert hard(a, b) is None
    assert hard(b, a) is None


@pytest.mark.parametrize("a,b,refused", [
    ("Will AI replace programmers?", "Did AI replace programmers?", True),
    ("What will happen to the economy?", "What did happen to the economy?", True),
    # The present can ask about the future: not a fact.
    ("When will the film come out?", "When is the film coming out?", False),
    # Past against present is the opening-verb rule's, and only for yes/no questions (below).
    ("When did the shop open?", "When does the shop open?", False),
    ("Which movies did Will Smith star in?", "Which movies was Will Smith in?", False),  # a name
])
def test_future_against_past_is_refused(a: str, b: str, refused: bool) -> None:
    expected = "tense differs (future / past)" if refused else None
    assert hard(a, b) == expected
    assert hard(b, a) == expected


@pytest.mark.parametrize("a,b,refused", [
    ("Who is the former CEO of Apple?", "Who is the CEO of Apple?", True),
    ("Who is Brad Pitt's former wife?", "Who is Brad Pitt's wife?", True),
    ("Who will be the next outgoing mayor?", "Who will be the next mayor?", True),
    ("Who is Michael Jackson's older son?", "Who is Michael Jackson's son?", True),
    ("Who is the youngest Chief Minister of Kerala?", "Who is the Chief Minister of Kerala?", True),
    ("Who are the past presidents of Kenya?", "Who are the presidents of Kenya?", True),
    ("Who is the former CEO of Apple?", "Who was the former CEO of Apple?", False),  # both qualified
    ("Who is the oldest person alive?", "Who is the oldest living person?", False),
    # A description, not a question: "Former England great" says who he was, not which one.
    ("Former England great Tom Finney dies at 91", "Preston and England legend Tom Finney dies at 91", False),
])
def test_a_role_qualifier_on_one_side_of_two_questions_is_refused(a: str, b: str, refused: bool) -> None:
    qualifier = next((w for w in ("former", "outgoing", "older", "youngest", "past") if w in a.lower().split()), "")
    expected = f"qualifier on one side only ({qualifier!r})" if refused else None
    assert hard(a, b) == expected
    assert hard(b, a) == expected


@pytest.mark.parametrize("a,b,verbs", [
    ("Can I eat raw eggs?", "Should I eat raw eggs?", ("can", "should")),
    ("May I park here overnight?", "Must I park here overnight?", ("may", "must")),
    ("Is coffee bad for you?", "Was coffee bad for you?", ("is", "was")),
    ("Do the Beatles still tour?", "Did the Beatles still tour?", ("do", "did")),
    # The same sense, or a contrast that often asks one thing: the verifier's call.
    ("Could I run Linux on a Mac?", "Can I run Linux on a Mac?", None),
    ("Do I need a visa for Japan?", "Should I get a visa for Japan?", None),
    ("Will Rust replace C++?", "Is Rust going to replace C++?", None),
    ("Are cats smarter than dogs?", "Is a cat smarter than a dog?", None),
    ("How can I learn Python?", "How should I learn Python?", None),  # not a yes/no question
])
def test_a_yes_no_questions_opening_verb_is_an_exact_fact(a: str, b: str, verbs: tuple[str, str] | None) -> None:
    if verbs is None:
        assert hard(a, b) is None
        assert hard(b, a) is None
    else:
        assert hard(a, b) == f"opening verb differs ({verbs[0]!r} / {verbs[1]!r})"
        assert hard(b, a) == f"opening verb differs ({verbs[1]!r} / {verbs[0]!r})"


@pytest.mark.parametrize("cached,asked,hits", [
    ("Can I eat raw eggs?", "Should I eat raw eggs?", False),
    ("Is coffee bad for you?", "Was coffee bad for you?", False),
    ("How do I get a job at Google after college?", "How do I get into college after a job at Google?", False),
    ("Will AI replace programmers?", "Did AI replace programmers?", False),
    ("Should I learn Python before Java?", "Should I learn Java before Python?", False),
    ("When will the film come out?", "When is the film coming out?", True),
    ("Who is the CEO of Apple?", "Who is the former CEO of Apple?", False),
])
def test_the_real_cache_keeps_the_roles_and_the_tense(tmp_path: Path, cached: str, asked: str, hits: bool) -> None:
    cache = AnswerCache(tmp_path / "c.db", get_embedder().embed, CacheSettings())
    cache.store(None, [], cached, {}, None, "the answer", "m", "t1", "stop")
    hit = cache.lookup(None, [], asked, {}, None)
    assert (hit is not None and hit.tier == "semantic") is hits, cache.last_reason
    cache.close()
