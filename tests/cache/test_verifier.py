"""The learned verifier with the shipped embedder: the eval script on a fixture written for
each cause named in issue 15, the exact-fact guards, and per-entry confidence."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from chatroute.cache import AnswerCache, CacheSettings
from chatroute.cache.answer_cache import MAX_BAR
from chatroute.cache.guards import hard_refuse_reason
from chatroute.cache.text import features
from chatroute.cache.verifier import DATA, FEATURES, WORD_FEATURES, get_verifier, pair_features
from chatroute.embed import get_embedder
from scripts import eval_cache

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "data" / "cache_cause_fixture.jsonl"


@pytest.fixture(scope="module")
def outcomes() -> list:
    pairs = eval_cache.load_pairs(FIXTURE)
    assert len(pairs) >= 15
    return eval_cache.run(pairs, eval_cache.DEFAULT_THRESHOLD)


def _ids(pairs: list) -> list[str]:
    return [f"{p['category']}:{p['new']['prompt'][:40]}" for p in pairs]


MUST_MISS = [p for p in eval_cache.load_pairs(FIXTURE) if p["label"] == "miss"]
SHOULD_HIT = [p for p in eval_cache.load_pairs(FIXTURE) if p["label"] == "hit"]


@pytest.mark.parametrize("pair", MUST_MISS, ids=_ids(MUST_MISS))
def test_cause_fixture_must_miss(outcomes, pair):
    [o] = [o for o in outcomes if o.pair is pair or o.pair == pair]
    assert not o.hit, (pair["cached"]["prompt"], pair["new"]["prompt"])


# Rephrasings the verifier does not yet take (README, "The answer cache"): a multi-word synonym
# for a single word ("at a higher speed") and a harmless swap outside "difference between".
# Listed, not hidden: the test fails when one starts to hit, so the list stays true.
# ("Java versus Python": a miss of the word-only verifier, now a hit; "some" / "certain plants"
# and "remove" / "get rid of a stripped screw": below the main bar, now hits on the rephrasing path)
KNOWN_MISSES = {"How can I make my laptop run at a higher speed?", "Should I pay the agent or the landlord first?"}


@pytest.mark.parametrize("pair", SHOULD_HIT, ids=_ids(SHOULD_HIT))
def test_cause_fixture_should_hit(outcomes, pair):
    [o] = [o for o in outcomes if o.pair == pair]
    assert o.hit == (pair["new"]["prompt"] not in KNOWN_MISSES), (pair["new"]["prompt"], o.reason)


def test_eval_script_summarises_the_fixture(outcomes):
    s = eval_cache.summarise(outcomes)
    assert s["false_hits"] == 0 and s["must_miss"] == len(MUST_MISS)
    assert s["should_hit_rate"] == sum(o.hit for o in outcomes if o.pair["label"] == "hit") / len(SHOULD_HIT)
    # 8 of 10: the rest are KNOWN_MISSES
    assert s["should_hit_rate"] == pytest.approx(1 - len(KNOWN_MISSES) / len(SHOULD_HIT))


def test_role_swap_scores_far_below_a_rephrasing():
    emb, v = get_embedder(), get_verifier()

    def p(a: str, b: str) -> float:
        return v.probability(features(a), features(b), emb.embed, emb.word_weights)

    para = p("How do I convert Celsius to Fahrenheit?", "How can I convert Celsius into Fahrenheit?")
    swap = p("How do I convert Celsius to Fahrenheit?", "How do I convert Fahrenheit to Celsius?")
    assert swap < 0.5 < para


@pytest.mark.parametrize("a,b,why", [
    ("Can you tell us about the US constitution?", "Can you tell us about the constitution?", "entity differs"),
    ("What does git rebase --onto do?", "What does git rebase --interactive do?", "quoted text or code differs"),
    ("Is Queen Elizabeth still alive?", "Is Queen Elizabeth still alive?", "time-sensitive"),
    ("Give me 3 ideas for a party", "Give me 7 ideas for a party", "numbers differ"),
    ("Why did the U.S. leave the treaty?", "Why did the UK leave the treaty?", "entity differs"),
])
def test_exact_fact_guards(a, b, why):
    assert hard_refuse_reason(features(a), features(b)) == why


@pytest.mark.parametrize("a,b", [
    ("What is DNS?", "what is dns"),  # an acronym typed in lower case is the same name
    ("How do stocks work?", "Can you explain how stocks work?"),  # "stocks" alone is not a time reference
    ("Why did the U.S. leave the treaty?", "Why did the US leave the treaty?"),  # "U.S." is the acronym US
    ("Name a fruit, e.g. an apple", "Name a fruit, for example an apple"),  # "e.g." is not a name
])
def test_exact_fact_guards_pass(a, b):
    assert hard_refuse_reason(features(a), features(b)) is None


def test_weights_match_the_feature_list_and_carry_provenance():
    spec = json.loads(DATA.read_text(encoding="utf-8"))
    assert spec["features"] == list(FEATURES)
    assert 0.5 <= spec["threshold"] < 1.0
    assert (DATA.parent / "VERIFIER.md").read_text(encoding="utf-8").count("CC BY") >= 2
    x = pair_features(features("How do I boil an egg?"), features("How should I boil eggs?"), get_embedder().embed)
    assert x is not None and x.shape == (len(WORD_FEATURES),)


def test_regenerate_after_a_hit_raises_that_entrys_verifier_bar(tmp_path: Path):
    cache = AnswerCache(tmp_path / "c.db", get_embedder().embed, CacheSettings())
    cached, para = "How can I improve my English speaking?", "How do I get better at speaking English?"
    entry = cache.store(None, [], cached, {}, None, "talk daily", "m", "t1", "stop")
    hit = cache.lookup(None, [], para, {}, None)
    assert hit is not None and hit.tier == "semantic" and hit.entry_id == entry
    prob = cache.last_verifier
    assert prob is not None and prob < MAX_BAR
    cache.penalise(entry)  # the user regenerated that answer
    assert cache.lookup(None, [], para, {}, None) is None
    assert cache.last_reason is not None and cache.last_reason.startswith("verifier")
    assert cache.lookup(None, [], cached, {}, None) is not None  # the exact repeat still hits
    cache.close()


def _named(x, name: str) -> float:
    return float(x[FEATURES.index(name)])


def test_contrast_and_elaboration_read_differently():
    emb = get_embedder()

    def fx(a: str, b: str):
        x = pair_features(features(a), features(b), emb.embed, emb.word_weights)
        assert x is not None
        return x

    other = fx("How do I clean a cast iron pan?", "How do I season a cast iron pan?")
    longer = fx("How do I clean a cast iron pan?", "How do I clean a rusty old cast iron pan?")
    # "clean" / "season": each side has a word the other lacks; the longer question only adds.
    assert _named(other, "wunmatched_min") > 0 == _named(longer, "wunmatched_min")
    assert _named(other, "focus_sim") < 0.75 < _named(longer, "focus_sim")


def _mlp(bias: float) -> dict:
    n = len(FEATURES)
    return {"mean": [0.0] * n, "std": [1.0] * n, "weights": [[[0.0]] * n], "biases": [[bias]]}


def test_a_bag_of_mlps_averages_and_a_single_mlp_still_loads(tmp_path: Path):
    from chatroute.cache.verifier import Verifier

    head = {"features": list(FEATURES), "threshold": 0.9}
    bag, single = tmp_path / "bag.json", tmp_path / "single.json"
    bag.write_text(json.dumps(head | {"members": [_mlp(0.0), _mlp(50.0)]}), encoding="utf-8")
    single.write_text(json.dumps(head | _mlp(0.0)), encoding="utf-8")
    x = np.zeros((1, len(FEATURES)))
    assert Verifier(bag).predict(x)[0] == pytest.approx(0.75)
    assert Verifier(single).predict(x)[0] == pytest.approx(0.5)


def test_rephrasing_path_needs_both_bars_and_never_serves_a_regenerated_entry():
    import copy

    v = copy.copy(get_verifier())
    v.rephrasing = (0.90, 0.80)
    bar = v.threshold
    assert v.accepts(bar, 0.60, bar)  # the main bar alone (the pooled cosine only above its floor)
    assert v.accepts(0.85, 0.93, bar)  # pooled vectors agree and the MLPs do not object
    assert not v.accepts(0.85, 0.93, bar, regenerated=True)  # after a regenerate: the full bar only
    assert not v.accepts(0.85, 0.89, bar)  # pooled cosine short of its bar
    assert not v.accepts(0.75, 0.99, bar)  # the MLPs object
    v.rephrasing = None
    assert not v.accepts(0.85, 0.93, bar)


def test_nothing_passes_below_the_pooled_floor_whatever_the_probability():
    import copy

    v = copy.copy(get_verifier())
    v.pooled_floor, v.rephrasing = 0.55, (0.90, 0.80)
    bar = v.threshold
    assert v.accepts(1.0, 0.56, bar)
    assert not v.accepts(1.0, 0.54, bar)  # the MLPs are sure; the encoder reads two unrelated prompts
    v.pooled_floor = 0.0
    assert v.accepts(1.0, 0.54, bar)


def test_the_shipped_verifier_has_a_pooled_floor_chosen_by_the_trainer():
    spec = json.loads(DATA.read_text(encoding="utf-8"))
    assert 0.3 <= spec["pooled_floor"] < 0.9
    assert get_verifier().pooled_floor == spec["pooled_floor"]


def test_a_refusal_says_which_test_refused(tmp_path: Path) -> None:
    """Under the pooled floor the reason names the encoder, not a probability that reads as 1.00;
    below the bar it shows the probability against the bar to three places."""
    cache = AnswerCache(tmp_path / "c.db", get_embedder().embed, CacheSettings())
    cache.store(None, [], "who sang out of my head over you", {}, None, "an answer", "m", "t1", "stop")
    assert cache.lookup(None, [], "who sang your the one that i want", {}, None) is None
    assert cache.last_reason is not None and cache.last_reason.startswith(
        "verifier: the encoder reads them as unrelated (pooled 0."), cache.last_reason
    cache.clear()
    cache.store(None, [], "Who built the Eiffel Tower?", {}, None, "an answer", "m", "t2", "stop")
    assert cache.lookup(None, [], "Who paid for the Eiffel Tower?", {}, None) is None
    assert cache.last_reason is not None
    reason = cache.last_reason
    assert re.fullmatch(r"verifier: not the same question \(0\.\d{3} < 0\.\d{3}\)", reason), reason
    cache.close()
