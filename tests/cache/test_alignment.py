"""The verifier's contextual half: the encoder's token states, aligned across the two prompts."""

from __future__ import annotations

import numpy as np

from chatroute.cache.alignment import ALIGN_FEATURES, alignment_features
from chatroute.embed.contextual import get_contextual


def _fx(a: str, b: str) -> dict[str, float]:
    sa, sb = get_contextual().states([a, b])
    return dict(zip(ALIGN_FEATURES, alignment_features(sa, sb).tolist(), strict=True))


def test_states_are_per_token_and_memoised():
    enc = get_contextual()
    [s] = enc.states(["How do I boil an egg?"])
    assert s.ndim == 2 and s.shape[1] == 384 and 6 <= s.shape[0] <= 12  # [CLS] … [SEP]
    again = enc.states(["How do I boil an egg?", "How do I boil an egg?"])
    assert all(np.array_equal(s, x) for x in again)


def test_a_texts_states_do_not_depend_on_what_it_is_encoded_with():
    # The int8 model scales activations per batch: batched with a longer text, the same prompt
    # got states up to 0.44 apart, and a borderline pair's verdict flipped with test order.
    enc = get_contextual()
    text = "How do I get rid of a stripped screw?"
    [alone] = enc.encode([text])
    _, beside_long = enc.encode(["Explain in detail the long history of the Roman empire and its emperors", text])
    assert np.array_equal(alone, beside_long)


def test_other_words_for_the_same_thing_align_better_than_another_request():
    same = _fx("How do I remove a virus from my laptop?", "How can I get rid of a virus on my laptop?")
    other = _fx("How do I remove a virus from my laptop?", "How do I install an antivirus on my laptop?")
    assert same["ctx_wworst_min"] > other["ctx_wworst_min"]
    assert same["ctx_wcover_min"] > other["ctx_wcover_min"]


def test_a_role_swap_keeps_every_token_matched_but_out_of_order():
    swap = _fx("Convert Celsius to Fahrenheit", "Convert Fahrenheit to Celsius")
    para = _fx("Convert Celsius to Fahrenheit", "Please convert Celsius to Fahrenheit")
    assert swap["ctx_discordant_n"] > 0 == para["ctx_discordant_n"]


def test_identical_texts_align_perfectly():
    x = _fx("What is the capital of Italy?", "What is the capital of Italy?")
    assert x["ctx_cos"] > 0.999 and x["ctx_worst_min"] > 0.999 and x["ctx_lost_sum"] == 0


def test_a_broken_encoder_makes_a_near_match_a_miss_not_an_error(tmp_path, monkeypatch):
    """If the contextual encoder cannot run (a missing file, a broken runtime), the verifier has
    no verdict: the lookup misses and says why, and the exact tier still serves."""
    from chatroute.cache import AnswerCache, CacheSettings
    from chatroute.embed import contextual, get_embedder

    cache = AnswerCache(tmp_path / "c.db", get_embedder().embed, CacheSettings())
    cached, para = "How can I improve my English speaking?", "How do I get better at speaking English?"
    cache.store(None, [], cached, {}, None, "talk daily", "m", "t1", "stop")

    def broken() -> contextual.ContextualEncoder:
        raise OSError("model.int8.onnx: no such file")

    monkeypatch.setattr(contextual, "get_contextual", broken)
    assert cache.lookup(None, [], para, {}, None) is None
    assert cache.last_reason is not None and cache.last_reason.startswith("verifier unavailable")
    assert cache.lookup(None, [], cached, {}, None) is not None
    cache.close()
