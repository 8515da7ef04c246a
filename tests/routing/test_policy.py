from __future__ import annotations

import json

import pytest

from chatroute.providers.base import Message
from chatroute.routing.health import HealthBoard
from chatroute.routing.policy import (
    BudgetState,
    NoRouteError,
    PromptTooLargeError,
    Router,
    RouteRequest,
    parse_override,
)
from chatroute.routing.preferences import PreferenceModel, UserPreferences

from .conftest import StubQuality, make_model

Q = {"openai/gpt-4o-mini": 0.80, "openai/gpt-4o": 0.84, "anthropic/claude-sonnet-4-5": 0.90}


def router(q: dict[str, float] | None = None, **kw) -> Router:  # type: ignore[no-untyped-def]
    return Router(quality_model=StubQuality(q or Q), **kw)


def test_parse_override() -> None:
    assert parse_override("@gpt-4o explain this") == ("gpt-4o", "explain this")
    assert parse_override("  @openai/gpt-4o-mini\nmulti\nline") == ("openai/gpt-4o-mini", "multi\nline")
    assert parse_override("@claude-sonnet-4.5") == ("claude-sonnet-4.5", "")
    assert parse_override("@通义千问-7b 你好") == ("通义千问-7b", "你好")
    assert parse_override("@qwen2.5:7b, hi") == ("qwen2.5:7b", "hi")
    assert parse_override("@gpt-4o. hi") == (None, "@gpt-4o. hi")  # a sentence, not a name
    assert parse_override("@_private hi") == (None, "@_private hi")
    # Addressed like a person: the comma or colon is not part of the name (it was sent to the
    # router's pick, the whole text as the prompt).
    assert parse_override("@gpt-4o, what is this?") == ("gpt-4o", "what is this?")
    assert parse_override("@ollama/llama3:8b: hi") == ("ollama/llama3:8b", "hi")
    assert parse_override("@gpt-4o,what") == (None, "@gpt-4o,what")
    assert parse_override("mail me at a@b.com") == (None, "mail me at a@b.com")
    assert parse_override("@ nothing") == (None, "@ nothing")


def test_pin_and_override_win(pool) -> None:  # type: ignore[no-untyped-def]
    r = router()
    d = r.decide(RouteRequest("hi", pool=pool, pin="openai/gpt-4o"))
    assert d.model == "openai/gpt-4o" and d.kind == "pinned"
    d = r.decide(RouteRequest("hi", pool=pool, pin="openai/gpt-4o", override="anthropic/claude-sonnet-4-5"))
    assert d.model == "anthropic/claude-sonnet-4-5" and d.kind == "override"
    assert "override" in d.reason


def test_balanced_prefers_cheap_when_gain_small_best_prefers_quality(pool) -> None:  # type: ignore[no-untyped-def]
    d = router(preset="frugal").decide(RouteRequest("What is the capital of France?", pool=pool))
    assert d.model == "openai/gpt-4o-mini"
    assert "predicted quality 0.80 vs 0.90" in d.reason and "of the cost" in d.reason
    d = router(preset="best").decide(RouteRequest("What is the capital of France?", pool=pool))
    assert d.model == "anthropic/claude-sonnet-4-5"
    json.dumps(d.to_dict())


def test_explicit_cost_weight_overrides_preset(pool) -> None:  # type: ignore[no-untyped-def]
    r = router(preset="best", cost_weight=1e6)
    assert r.decide(RouteRequest("hi", pool=pool)).model == "openai/gpt-4o-mini"
    r.set_preset("best")
    assert r.weights[0] == 2.0


def test_context_filter(pool) -> None:  # type: ignore[no-untyped-def]
    small = make_model("local/tiny", 0.0, 0.0, 0.3, context_window=4096)
    history = [Message("user", "x " * 20_000), Message("assistant", "ok")]
    d = router({**Q, "local/tiny": 0.99}).decide(RouteRequest("and?", history=history, pool=[*pool, small]))
    c = {c.model: c for c in d.candidates}
    assert c["local/tiny"].excluded and "context" in c["local/tiny"].excluded
    assert d.model != "local/tiny"


# 10 o200k tokens per sentence (12 by the Anthropic estimate); the routing estimate says 12.5.
SENTENCE = "The quick brown fox jumps over the lazy dog. "


def test_a_prompt_no_window_can_take_is_refused_up_front(pool) -> None:  # type: ignore[no-untyped-def]
    huge = SENTENCE * 20_000  # 200k tokens for OpenAI, 240k for Claude: past every window
    with pytest.raises(PromptTooLargeError) as refused:
        router().decide(RouteRequest(huge, pool=pool, default="openai/gpt-4o-mini"))
    # Alone, it is the prompt to shorten: a new conversation would not help.
    assert str(refused.value) == ("this prompt is about 240,009 tokens; the largest context window is 200,000 "
                                  "(claude-sonnet-4-5); shorten it")
    assert isinstance(refused.value, NoRouteError) and refused.value.exit_code == 2
    # The history counts too, and the message says so.
    history = [Message("user", huge), Message("assistant", "ok")]
    with pytest.raises(PromptTooLargeError, match="^this prompt with the conversation so far is about.*"
                                                  "; shorten it or start a new conversation$"):
        router().decide(RouteRequest("and?", history=history, pool=pool))
    # A default outside the pool that is too small is no way out either...
    tiny = make_model("local/tiny", 0.0, 0.0, 0.3, context_window=4096)
    with pytest.raises(PromptTooLargeError, match="largest context window is 200,000"):
        router().decide(RouteRequest(huge, pool=pool, default="local/tiny", known=[tiny]))
    # ...but one of unknown size might be: the old fallback stands.
    assert router().decide(RouteRequest(huge, pool=pool, default="local/unknown")).model == "local/unknown"


def test_pinned_or_overridden_model_too_small_is_refused_naming_a_larger_one(pool) -> None:  # type: ignore[no-untyped-def]
    long = SENTENCE * 14_000  # 140k tokens: past gpt-4o's 128k, inside Claude's 200k
    with pytest.raises(PromptTooLargeError) as refused:
        router().decide(RouteRequest(long, pool=pool, pin="openai/gpt-4o"))
    assert str(refused.value) == (
        "this prompt is about 140,008 tokens; the context window of gpt-4o (pinned for this conversation) is "
        "128,000; choose a model with a larger one (such as claude-sonnet-4-5, 200,000) or shorten it")
    with pytest.raises(PromptTooLargeError, match=r"gpt-4o-mini \(chosen for this turn\)"):
        router().decide(RouteRequest(long, pool=pool, override="openai/gpt-4o-mini"))
    d = router().decide(RouteRequest(long, pool=pool, override="anthropic/claude-sonnet-4-5"))
    assert d.kind == "override" and d.model == "anthropic/claude-sonnet-4-5"


def test_estimate_too_large_but_the_tokenizer_fits_routes_to_the_roomiest(pool) -> None:  # type: ignore[no-untyped-def]
    # The estimate (200k) excludes every model; Claude's count (192k) fits its 200k window.
    d = router().decide(RouteRequest(SENTENCE * 16_000, pool=pool, default="openai/gpt-4o-mini"))
    assert d.model == "anthropic/claude-sonnet-4-5" and d.kind == "routed"
    assert any("little room" in n for n in d.notes)


def test_other_exclusions_keep_the_default_fallback(pool, tmp_path) -> None:  # type: ignore[no-untyped-def]
    board = HealthBoard(path=tmp_path / "h.json", clock=lambda: 1000.0)
    for m in pool:
        board.record_failure(m.id, "rate_limited", retry_after=30)
    d = router().decide(RouteRequest("hi", pool=pool, health=board, default="openai/gpt-4o-mini"))
    assert d.kind == "default" and d.model == "openai/gpt-4o-mini"
    # Claude could take it but is cooling down; the default cannot: not a size refusal, and
    # no request bound to fail either.
    board = HealthBoard(path=tmp_path / "h2.json", clock=lambda: 1000.0)
    board.record_failure("anthropic/claude-sonnet-4-5", "rate_limited", retry_after=30)
    with pytest.raises(NoRouteError) as refused:
        router().decide(RouteRequest(SENTENCE * 14_000, pool=pool, health=board, default="openai/gpt-4o-mini"))
    assert not isinstance(refused.value, PromptTooLargeError)
    assert "claude-sonnet-4-5: cooling down" in str(refused.value)


def test_check_fits_refuses_without_routing(pool) -> None:  # type: ignore[no-untyped-def]
    class NoQuality:
        def predict(self, *_: object) -> dict[str, float]:
            raise AssertionError("check_fits must not route")

    r = Router(quality_model=NoQuality())
    r.check_fits(RouteRequest("hi", pool=pool))
    with pytest.raises(PromptTooLargeError):
        r.check_fits(RouteRequest(SENTENCE * 20_000, pool=pool))


def test_capability_filter(pool) -> None:  # type: ignore[no-untyped-def]
    d = router().decide(RouteRequest("describe the image", pool=pool, capabilities={"vision"}))
    assert d.model == "openai/gpt-4o"


def test_budget_filters_and_steps_down(pool) -> None:  # type: ignore[no-untyped-def]
    free = make_model("local/llama", 0.0, 0.0, 0.3)
    r = router({**Q, "local/llama": 0.5}, preset="best")
    assert r.decide(RouteRequest("hi", pool=[*pool, free])).model == "anthropic/claude-sonnet-4-5"
    # Cap reached: only the free model is left.
    d = r.decide(RouteRequest("hi", pool=[*pool, free],
                              budget_state=BudgetState(daily_spent_usd=1.0, daily_cap_usd=1.0)))
    assert d.model == "local/llama"
    assert all(c.excluded for c in d.candidates if c.model != "local/llama")
    # Almost nothing left: the expensive ones would exceed it.
    d = r.decide(RouteRequest("hi", pool=pool,
                              budget_state=BudgetState(monthly_spent_usd=9.9995, monthly_cap_usd=10.0)))
    excl = {c.model: c.excluded for c in d.candidates}
    assert excl["anthropic/claude-sonnet-4-5"] and "budget" in excl["anthropic/claude-sonnet-4-5"]
    assert d.model == "openai/gpt-4o-mini"
    # Near the cap the cost weight grows.
    d = r.decide(RouteRequest("hi", pool=pool, budget_state=BudgetState(daily_spent_usd=0.95, daily_cap_usd=1.0)))
    assert d.cost_weight > 2.0 and d.notes


def test_stickiness_holds_unless_gain_is_large(pool) -> None:  # type: ignore[no-untyped-def]
    # Equal prices, so only quality and stickiness matter. A move up, to a model predicted better
    # for this turn, needs a clear win only (UPGRADE_MARGIN): 0.004 better is kept out, 0.02
    # better is taken (the whole stickiness kept it out before).
    same = [make_model("a/x", 1, 1, 0.5), make_model("b/y", 1, 1, 0.5)]
    r = router({"a/x": 0.80, "b/y": 0.804}, stickiness=0.03, latency_weight=0)
    d = r.decide(RouteRequest("hi", pool=same, current_model="a/x"))
    assert d.model == "a/x" and "kept" in d.reason
    r = router({"a/x": 0.80, "b/y": 0.82}, stickiness=0.03, latency_weight=0)
    d = r.decide(RouteRequest("hi", pool=same, current_model="a/x"))
    assert d.model == "b/y" and "switched up from x (predicted better for this turn" in d.reason
    # A move down or sideways (a cheaper model predicted as good) needs the whole stickiness: about
    # 0.015 of utility saved is not enough, 0.06 is.
    priced = [make_model("a/x", 1, 1, 0.5), make_model("b/y", 0.2, 0.2, 0.5)]
    r = router({"a/x": 0.80, "b/y": 0.80}, stickiness=0.03, latency_weight=0, cost_weight=100)
    d = r.decide(RouteRequest("hi", pool=priced, current_model="a/x"))
    assert d.model == "a/x" and "kept as the conversation's model" in d.reason, d.reason
    r = router({"a/x": 0.80, "b/y": 0.80}, stickiness=0.03, latency_weight=0, cost_weight=400)
    d = r.decide(RouteRequest("hi", pool=priced, current_model="a/x"))
    assert d.model == "b/y" and "better by more than the 0.03 stickiness" in d.reason
    assert pool


def test_health_cooldown_excludes_and_no_route(pool, tmp_path) -> None:  # type: ignore[no-untyped-def]
    clock = [1000.0]
    board = HealthBoard(path=tmp_path / "h.json", clock=lambda: clock[0])
    board.record_failure("openai/gpt-4o-mini", "rate_limited", retry_after=30)
    d = router(preset="frugal").decide(RouteRequest("hi", pool=pool, health=board))
    assert d.model != "openai/gpt-4o-mini"
    ex = {c.model: c.excluded for c in d.candidates}
    assert "cooling down" in ex["openai/gpt-4o-mini"]
    d = router(preset="frugal").decide(RouteRequest("hi", pool=pool, health=board, exclude={"openai/gpt-4o"}))
    assert d.model == "anthropic/claude-sonnet-4-5"
    with pytest.raises(NoRouteError):
        router().decide(RouteRequest("hi", pool=pool, health=board,
                                     exclude={"openai/gpt-4o", "anthropic/claude-sonnet-4-5"}))
    clock[0] += 31
    assert router(preset="frugal").decide(RouteRequest("hi", pool=pool, health=board)).model == "openai/gpt-4o-mini"


def test_preferences_shift_bounded_and_reset(pool, tmp_path) -> None:  # type: ignore[no-untyped-def]
    prefs = UserPreferences(path=tmp_path / "p.json")
    same = [make_model("a/x", 1, 1, 0.5), make_model("b/y", 1, 1, 0.5)]
    r = router({"a/x": 0.80, "b/y": 0.82}, preferences=prefs, latency_weight=0)
    assert r.decide(RouteRequest("hi", pool=same)).model == "b/y"
    for _ in range(50):
        r.record_preference("override", "a/x", ["b/y"])
    assert 0 < prefs.bias("a/x") <= 0.08 and prefs.bias("b/y") < 0
    assert r.decide(RouteRequest("hi", pool=same)).model == "a/x"
    assert UserPreferences.open(tmp_path).path is not None
    reopened = UserPreferences(path=tmp_path / "p.json")
    prefs.reset()
    assert prefs.bias("a/x") == 0 and prefs.to_dict()["events"] == 0
    assert reopened is not None


def test_unknown_price_is_not_free(pool) -> None:  # type: ignore[no-untyped-def]
    mystery = make_model("x/mystery", None, None, 0.5)
    d = router({**Q, "x/mystery": 0.81}, preset="frugal").decide(RouteRequest("hi", pool=[*pool, mystery]))
    c = {c.model: c for c in d.candidates}
    assert c["x/mystery"].expected_cost_usd is None and not c["x/mystery"].price_known
    assert d.model == "openai/gpt-4o-mini"


def test_real_quality_model_routes_hard_prompts_up(pool) -> None:  # type: ignore[no-untyped-def]
    r = Router(preset="balanced")
    easy = r.decide(RouteRequest("hi there, how are you?", pool=pool))
    hard = r.decide(RouteRequest(
        "Prove that every finite group of order p^2, p prime, is abelian, then compute the number of "
        "non-isomorphic groups of order 36 and justify each step.",
        pool=pool,
    ))
    qe = {c.model: c.quality for c in easy.candidates}
    qh = {c.model: c.quality for c in hard.candidates}
    assert qh["openai/gpt-4o-mini"] < qe["openai/gpt-4o-mini"]
    assert qh["anthropic/claude-sonnet-4-5"] > qh["openai/gpt-4o"] > qh["openai/gpt-4o-mini"]
    assert hard.route_ms < 50


def test_preferences_from_store_records_and_default(pool) -> None:  # type: ignore[no-untyped-def]
    from types import SimpleNamespace as NS

    recs = [NS(kind="override", chosen_model="a/x", rejected_models=["b/y"]) for _ in range(30)]
    recs.append(NS(kind="cache_false_hit", chosen_model=None, rejected_models=[]))
    pm = PreferenceModel.from_preferences(recs)
    assert pm.biases["a/x"] > 0 > pm.biases["b/y"]
    same = [make_model("a/x", 1, 1, 0.5), make_model("b/y", 1, 1, 0.5)]
    r = router({"a/x": 0.80, "b/y": 0.82}, latency_weight=0)
    r.learn_preferences(recs)
    assert r.decide(RouteRequest("hi", pool=same)).model == "a/x"
    r.reset_preferences()
    assert r.decide(RouteRequest("hi", pool=same, preset="best")).model == "b/y"
    d = r.decide(RouteRequest("hi", pool=same, exclude={"a/x", "b/y"}, default="c/z"))
    assert d.kind == "default" and d.model == "c/z"


def test_from_config() -> None:
    from types import SimpleNamespace as NS

    cfg = NS(preset="frugal", cost_weight=None, latency_weight=None, stickiness=0.05, learn=True, default=None)
    r = Router.from_config(cfg)
    assert r.preset == "frugal" and r.stickiness == 0.05 and r.preferences is not None


def test_the_default_obeys_the_budget(pool) -> None:  # type: ignore[no-untyped-def]
    mini, gpt4o, sonnet = pool
    r = router()
    at_cap = BudgetState(daily_spent_usd=1.0, daily_cap_usd=1.0)
    # A default outside the pool: past the cap it is refused like the pool, and listed with why.
    with pytest.raises(NoRouteError) as info:
        r.decide(RouteRequest("hi", pool=[mini, gpt4o], default=sonnet.id, known=[sonnet], budget_state=at_cap))
    assert "budget cap is reached" in str(info.value)
    assert {c.model: c.excluded for c in info.value.candidates}[sonnet.id] == "budget cap reached"
    # A free one still answers.
    free = make_model("local/llama", 0.0, 0.0, 0.3)
    d = r.decide(RouteRequest("hi", pool=[mini, gpt4o], default=free.id, known=[free], budget_state=at_cap))
    assert d.model == "local/llama" and d.kind == "default"
    # Under the cap, a default in the pool that the turn would cost more than is left on.
    tight = BudgetState(daily_spent_usd=1.0, daily_cap_usd=1.0 + 1e-9)
    with pytest.raises(NoRouteError) as info:
        r.decide(RouteRequest("hi", pool=[mini, gpt4o], default=gpt4o.id, budget_state=tight))
    assert "would cost more than" in str(info.value)
    assert all(c.excluded and c.excluded.startswith("would exceed the budget") for c in info.value.candidates)
    # When what is left pays for it, the default still stands in for a pool that failed.
    roomy = BudgetState(daily_spent_usd=0.0, daily_cap_usd=1.0)
    d = r.decide(RouteRequest("hi", pool=[mini, gpt4o], default=sonnet.id, known=[sonnet], budget_state=roomy,
                              exclude={mini.id, gpt4o.id}))
    assert d.model == sonnet.id and d.kind == "default"
