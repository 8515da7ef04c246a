"""The answer a turn is expected to run on a model, priced and timed alike, is no longer than it
can run there: the client's limit, the model's output limit, the max_tokens its wire sends when
none is named (Anthropic requires one: 4,096), and the room the context window leaves after the
input (sizing.answer_limit, which the provider call's max_tokens comes from too)."""

from __future__ import annotations

from typing import Any

import pytest

from chatroute.catalog.cost import estimate_cost
from chatroute.routing.health import HealthBoard
from chatroute.routing.policy import Router, RouteRequest
from chatroute.routing.sizing import Fit, expected_output_tokens_for
from tests.routing.conftest import StubQuality, make_model

CODE_ASK = "Write a Python function that merges two sorted lists in O(n), with tests."
LONG_ASK = "Write a short story about a lighthouse keeper in 5000 words."


def _only(request: RouteRequest) -> Any:
    decision = Router(learn=False, quality_model=StubQuality({})).decide(request)
    [cand] = decision.candidates
    return decision, cand


def _latency(model: str, tokens: int) -> float:
    return HealthBoard(path=None).expected_latency(model, tokens)


def test_a_models_output_limit_bounds_the_expected_latency_as_it_bounds_the_price() -> None:
    """Before, the price stopped at the model's max_output_tokens but the latency was the
    predicted answer's: a model limited to 40 tokens was timed as if it wrote 540."""
    m = make_model("openai/short", 0.15, 0.6, 0.5, max_output_tokens=40)
    assert expected_output_tokens_for(CODE_ASK) > 40
    decision, cand = _only(RouteRequest(CODE_ASK, pool=[m]))
    n_in = decision.expected_input_tokens
    assert cand.expected_cost_usd == pytest.approx(estimate_cost(m, n_in, 40, 0))
    assert cand.expected_latency_s == pytest.approx(_latency(m.id, 40))


def test_the_room_the_window_leaves_after_the_input_bounds_the_expected_answer() -> None:
    """A window with 60 tokens of room after the input: the request's max_tokens is cut to that
    room (output_limit), so the answer is priced and timed at it, not at the predicted length."""
    fit = Fit(CODE_ASK, [], None)
    m = make_model("openai/tight", 0.15, 0.6, 0.5, context_window=fit.estimate + 60, max_output_tokens=None)
    room = m.context_window - fit.tokens(m)
    assert 60 <= room < expected_output_tokens_for(CODE_ASK)
    decision, cand = _only(RouteRequest(CODE_ASK, pool=[m], pin=m.id))
    assert cand.expected_cost_usd == pytest.approx(estimate_cost(m, fit.estimate, room, 0))
    assert cand.expected_latency_s == pytest.approx(_latency(m.id, room))


def test_the_max_tokens_a_wire_sends_by_default_bounds_the_expected_answer() -> None:
    """A model with no output limit known, on a wire that requires max_tokens (Anthropic's; the
    app sends 4,096): its answer cannot pass 4,096, so it is not priced or timed past it."""
    m = make_model("anthropic/unlimited", 1.0, 5.0, 0.5, context_window=200_000, max_output_tokens=None)
    predicted = expected_output_tokens_for(LONG_ASK)
    assert predicted > 4096
    decision, cand = _only(RouteRequest(LONG_ASK, pool=[m], required_max_tokens={m.id: 4096}))
    n_in = decision.expected_input_tokens
    assert cand.expected_cost_usd == pytest.approx(estimate_cost(m, n_in, 4096, 0))
    assert cand.expected_latency_s == pytest.approx(_latency(m.id, 4096))
    # Without one (OpenAI's wire sends none), the predicted length stands.
    _, free = _only(RouteRequest(LONG_ASK, pool=[m]))
    assert free.expected_cost_usd == pytest.approx(estimate_cost(m, n_in, predicted, 0))
