"""Conservative priors for models the catalogue does not know, and a bounded,
diminishing, visible adjustment learned from the user's choices."""

from __future__ import annotations

from types import SimpleNamespace as NS
from typing import Any

import pytest

from chatroute.catalog.abilities import (
    MAX_OBSERVED_PENALTY,
    UNKNOWN_ABILITY,
    ability_prior,
    observed_penalty,
    parse_param_size,
)
from chatroute.catalog.models import ModelInfo
from chatroute.routing.observed import observe
from chatroute.routing.policy import PRESETS, Router, RouteRequest
from chatroute.routing.preferences import (
    MAX_BIAS,
    PRIOR_COUNT,
    SETTLED_QUALITY,
    PreferenceModel,
    prompt_weight,
)
from tests.routing.conftest import StubQuality, make_model

HARD = ["Prove that there are infinitely many primes.",
        "Prove that every finite group of order p^2, p prime, is abelian, and justify each step."]
TRIVIAL = "What is the capital of Italy?"
MINI, GPT4O = "openai/gpt-4o-mini", "openai/gpt-4o"
HAIKU, SONNET = "anthropic/claude-haiku-4-5", "anthropic/claude-sonnet-4-5"
PRICES = {MINI: (0.15, 0.6), GPT4O: (2.5, 10.0), HAIKU: (1.0, 5.0), SONNET: (3.0, 15.0)}


def catalogued(mid: str, inp: float, out: float) -> ModelInfo:
    """A model as the catalogue builds it: the ability and its source from the name alone."""
    prior = ability_prior(mid)
    return make_model(mid, inp, out, prior.value, ability_source=prior.source, ability_detail=prior.detail)


def hosted() -> list[ModelInfo]:
    return [catalogued(m, *p) for m, p in PRICES.items()]


# ------------------------------------------------------------------------------ priors


def test_sizes_in_millions_and_billions_and_the_unknown_prior() -> None:
    tiny = ability_prior("SmolLM2-135M-Instruct")
    assert (tiny.source, tiny.detail) == ("name", "135M") and tiny.value <= 0.08
    assert ability_prior("ollama/qwen3:0.6b").value <= 0.08
    assert ability_prior("some-model-7b").value < ability_prior("some-model-70b").value
    assert ability_prior("gpt-4.1-1m").source == "leaderboard"  # "1m" is a context size, not 1M parameters
    for name in ("mystery:latest", "acme-ultra-pro", "acme-large"):
        prior = ability_prior(name)
        assert (prior.value, prior.source) == (UNKNOWN_ABILITY, "unknown")
        assert prior.describe() == "ability unknown: prior 0.30"
    assert ability_prior("acme-mini").value < UNKNOWN_ABILITY
    # Every hosted model the issue names is trusted above an unknown one.
    assert all(ability_prior(m).value > UNKNOWN_ABILITY for m in PRICES)
    # The server's own figure beats the name; the table beats both.
    assert ability_prior("mystery:latest", server_params_b=70.6).source == "server"
    assert ability_prior("tiny-7b", server_params_b=0.135).value <= 0.08
    assert ability_prior("gpt-4o", server_params_b=0.135).source == "leaderboard"
    assert [parse_param_size(s) for s in ("7.6B", "135M", "8x7B", "", "big")] == [7.6, 0.135, 33.6, None, None]


@pytest.mark.parametrize(("name", "size"), [
    ("gemma-2-27b-it", "27B"), ("google/gemma-2-9b-it", "9B"), ("Qwen2.5-32B-Instruct", "32B"),
    ("Yi-1.5-34B-Chat", "34B"), ("phi-3.8b", "3.8B"), ("Qwen2.5-0.5B-Instruct", "500M"),
    ("acme-8x7b-instruct", "33.6B"), ("acme-2-9b-it-Q4_K_M", "9B")])
def test_a_version_number_before_the_size_is_not_part_of_it(name: str, size: str) -> None:
    # These names once read as 2.27B, 2.9B, 5.32B and 5.34B: the version's digits were glued to
    # the size once dots had become hyphens, so a 27B model was rated like a 2B one.
    prior = ability_prior(name)
    assert (prior.source, prior.detail) == ("name", size)


@pytest.mark.parametrize("weak_name", ["llamacpp/SmolLM2-135M-Instruct", "ollama/mystery:latest"])
@pytest.mark.parametrize("preset", list(PRESETS))
@pytest.mark.parametrize("prompt", HARD)
def test_a_tiny_or_unknown_local_model_never_outranks_a_frontier_model_on_a_hard_prompt(
        weak_name: str, preset: str, prompt: str) -> None:
    weak = catalogued(weak_name, 0.0, 0.0)  # local: free
    router = Router(preset=preset)
    for pool in ([weak, catalogued(MINI, *PRICES[MINI]), catalogued(GPT4O, *PRICES[GPT4O])],  # the pool
                 [weak, *hosted()]):
        d = router.decide(RouteRequest(prompt, pool=pool))
        q = {c.model: c.quality for c in d.candidates}
        assert d.model != weak.id, d.reason
        assert all(q[weak.id] < q[f] for f in (GPT4O, SONNET) if f in q)
        [c] = [c for c in d.candidates if c.model == weak.id]
        assert c.ability_note and ("unknown: prior 0.30" in c.ability_note or "135M" in c.ability_note)


def test_the_users_ability_wins() -> None:
    weak = make_model("ollama/mystery:latest", 0.0, 0.0, 0.97, ability_source="config")
    d = Router(preset="balanced").decide(RouteRequest(HARD[0], pool=[weak, catalogued(MINI, *PRICES[MINI])]))
    assert d.model == weak.id and next(c for c in d.candidates if c.model == weak.id).ability_note is None


# -------------------------------------------------------------------- observed evidence


def test_regenerations_and_failures_lower_a_prior_boundedly() -> None:
    steps = [observed_penalty(n) for n in range(0, 60)]
    assert steps[0] == 0 and all(b > a for a, b in zip(steps, steps[1:], strict=False))
    gains = [b - a for a, b in zip(steps, steps[1:], strict=False)]
    assert all(g2 < g1 for g1, g2 in zip(gains, gains[1:], strict=False))  # each counts less than the last
    assert steps[-1] < MAX_OBSERVED_PENALTY and observed_penalty(10_000) <= MAX_OBSERVED_PENALTY
    assert observed_penalty(3, good=200) < observed_penalty(3)  # good answers dilute it

    records = [NS(kind="regenerate", chosen_model=None, rejected_models=["ollama/mystery:latest"])] * 6
    health = {"ollama/mystery:latest": {"requests": 10, "failures": 2}, MINI: {"requests": 50, "failures": 0}}
    seen = observe(records, health)
    assert set(seen) == {"ollama/mystery:latest"}
    obs = seen["ollama/mystery:latest"]
    assert (obs.regenerations, obs.failures) == (6, 2) and 0 < obs.penalty < MAX_OBSERVED_PENALTY
    assert obs.describe().startswith(f"lowered {obs.penalty:.2f} after 6 regenerations and 2 failures")


def test_rate_limits_do_not_lower_an_ability_but_broken_answers_do(tmp_path: Any) -> None:
    from chatroute.routing.health import HealthBoard

    board = HealthBoard(path=tmp_path / "health.json")
    for _ in range(20):
        board.record_failure(MINI, "rate_limited", retry_after=1)
        board.record_failure("ollama/flaky", "malformed_stream")
    board.record_failure(GPT4O, "auth")
    seen = observe([], HealthBoard.load(tmp_path / "health.json").snapshot())
    assert set(seen) == {"ollama/flaky"} and seen["ollama/flaky"].failures == 20


def test_observed_lowering_reaches_quality_but_not_a_configured_ability() -> None:
    guess = catalogued("ollama/mystery:latest", 0.0, 0.0)
    mine = make_model("ollama/mine", 0.0, 0.0, UNKNOWN_ABILITY, ability_source="config")
    router = Router(preset="balanced")
    before = {c.model: c for c in router.decide(RouteRequest(HARD[0], pool=[guess, mine])).candidates}
    bad = [NS(kind="regenerate", chosen_model=None, rejected_models=[guess.id, mine.id])] * 8
    router.learn_observed(observe(bad, {}))
    after = {c.model: c for c in router.decide(RouteRequest(HARD[0], pool=[guess, mine])).candidates}
    assert after[guess.id].quality < before[guess.id].quality
    assert after[guess.id].ability == pytest.approx(UNKNOWN_ABILITY - observe(bad, {})[guess.id].penalty, abs=1e-4)
    assert "lowered" in after[guess.id].ability_note and "8 regenerations" in after[guess.id].ability_note
    assert after[mine.id].quality == before[mine.id].quality and after[mine.id].ability == UNKNOWN_ABILITY


# ------------------------------------------------------------------------- preferences


def test_one_signal_is_a_small_step_and_each_further_one_smaller() -> None:
    prefs = PreferenceModel()
    values = [0.0]
    for _ in range(200):
        prefs.record("override", "a/x", ["b/y"], save=False)
        values.append(prefs.bias("a/x"))
    assert values[1] == pytest.approx(MAX_BIAS / (1 + PRIOR_COUNT), rel=1e-9)  # 0.0089
    assert prefs.bias("b/y") == pytest.approx(-values[-1])
    steps = [b - a for a, b in zip(values, values[1:], strict=False)]
    assert all(s > 0 for s in steps)
    assert all(s2 < s1 for s1, s2 in zip(steps[:60], steps[1:60], strict=False))  # diminishing
    assert values[5] < MAX_BIAS / 2 and max(values) < MAX_BIAS  # bounded
    # A regeneration weighs less than an override; a pick among three spreads the loss.
    regen = PreferenceModel()
    regen.record("regenerate", None, ["b/y"], save=False)
    assert -MAX_BIAS / (1 + PRIOR_COUNT) < regen.bias("b/y") < 0 and regen.bias("a/x") == 0
    pick = PreferenceModel()
    pick.record("compare_pick", "a/x", ["b/y", "c/z", "d/w"], save=False)
    assert pick.bias("a/x") == pytest.approx(values[1]) and -values[1] < pick.bias("b/y") < 0


def test_prompt_weight_ramps_from_settled_to_uncertain() -> None:
    assert prompt_weight(None) == 1.0 and prompt_weight(0.5) == 1.0 and prompt_weight(0.9) == pytest.approx(1.0)
    assert prompt_weight(SETTLED_QUALITY) == 0.0 and prompt_weight(0.99) == 0.0
    assert 0 < prompt_weight(0.93) < 1
    # With the quality model's need: none for the least needy tenth, all from the 30th percentile up.
    assert prompt_weight(0.99, need_quantile=0.05) == 0.0 and prompt_weight(None, need_quantile=0.10) == 0.0
    assert prompt_weight(0.5, need_quantile=0.9) == 1.0 and 0 < prompt_weight(0.5, need_quantile=0.2) < 1


def _five_actions() -> list[Any]:
    """The issue's scenario (one @gpt-4o override, one compare pick, one regenerate) and two
    more, every one of them against the cheap model and for a dearer one."""
    return [
        NS(kind="override", chosen_model=GPT4O, rejected_models=[MINI]),
        NS(kind="compare_pick", chosen_model=SONNET, rejected_models=[MINI, GPT4O]),
        NS(kind="regenerate", chosen_model=None, rejected_models=[MINI]),
        NS(kind="override", chosen_model=SONNET, rejected_models=[MINI]),
        NS(kind="compare_pick", chosen_model=HAIKU, rejected_models=[MINI, SONNET]),
    ]


def test_five_actions_leave_a_trivial_question_on_the_cheapest_capable_model() -> None:
    router = Router(preset="balanced")
    pool = hosted()
    before = router.decide(RouteRequest(TRIVIAL, pool=pool))
    assert before.model == MINI  # the cheapest model, predicted to answer it well
    router.learn_preferences(_five_actions())
    after = router.decide(RouteRequest(TRIVIAL, pool=pool))
    assert after.model == MINI, after.reason
    cands = {c.model: c for c in after.candidates}
    assert cands[MINI].learned_adjustment < 0 < cands[SONNET].learned_adjustment
    assert all(c.adjustment == 0 for c in after.candidates)  # learned, but not applied here
    assert "your choices not applied" in after.reason
    # A reply to the complaint: the learned numbers travel with the decision.
    d = after.to_dict()["candidates"][0]
    assert {"adjustment", "learned_adjustment", "ability", "ability_note"} <= set(d)


def test_where_the_pick_may_fail_the_adjustment_applies_and_is_explained() -> None:
    pool = [make_model("a/cheap", 0.15, 0.6, 0.5), make_model("b/dear", 0.5, 2.0, 0.5)]
    router = Router(preset="balanced", quality_model=StubQuality({"a/cheap": 0.70, "b/dear": 0.701}),
                    latency_weight=0)
    assert router.decide(RouteRequest("anything", pool=pool)).model == "a/cheap"
    router.learn_preferences([NS(kind="override", chosen_model="b/dear", rejected_models=["a/cheap"])])
    d = router.decide(RouteRequest("anything", pool=pool))
    c = {c.model: c for c in d.candidates}
    assert d.model == "b/dear"
    assert c["b/dear"].adjustment == pytest.approx(MAX_BIAS / (1 + PRIOR_COUNT))
    assert c["b/dear"].utility == pytest.approx(
        0.701 + c["b/dear"].adjustment - 25 * c["b/dear"].expected_cost_usd, abs=1e-9)
    assert "your choices moved it over cheap" in d.reason and "+0.009" in d.reason
