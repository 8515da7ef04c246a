"""Short maths and code requests are never scored among the least needy (quality.demanding).

In MMLU and GSM8K a shorter question is an easier one, and the learned need carries that over to
chat: before the floor, "Solve for x and y: ..." sat at the 4th need percentile and even `best`
answered it with the cheap model. The prompts here are written for this test.
"""

from __future__ import annotations

import pytest

from chatroute.catalog.models import ModelInfo
from chatroute.routing.features import extract, lexical_features
from chatroute.routing.policy import Router, RouteRequest
from chatroute.routing.quality import DEMANDING_FLOOR_QUANTILE, demanding, get_quality_model

MINI = ModelInfo(id="openai/gpt-4o-mini", provider="openai", name="gpt-4o-mini", input_cost_per_mtok=0.15,
                 output_cost_per_mtok=0.6, ability=0.54, context_window=128_000, max_output_tokens=16_000)
GPT4O = ModelInfo(id="openai/gpt-4o", provider="openai", name="gpt-4o", input_cost_per_mtok=2.5,
                  output_cost_per_mtok=10.0, ability=0.61, context_window=128_000, max_output_tokens=16_000)

SHORT_HARD = [
    "Solve for x and y: 3x + 2y = 16 and 5x - y = 5.",
    "Design a sharded rate limiter for a multi-region API gateway",
    "What is the probability of getting at least two sixes in five rolls of a fair die?",
    "Implement an LRU cache in Rust.",
]
TRIVIAL = ["What is the capital of Italy?", "Translate 'good morning' into French."]


@pytest.mark.parametrize("text", SHORT_HARD)
def test_maths_and_code_are_recognised(text: str) -> None:
    assert demanding(lexical_features(text))


@pytest.mark.parametrize("text", TRIVIAL)
def test_plain_questions_are_not(text: str) -> None:
    assert not demanding(lexical_features(text))


@pytest.mark.parametrize("text", SHORT_HARD)
def test_the_need_of_a_short_hard_request_is_at_least_the_floor(text: str) -> None:
    qm = get_quality_model()
    q = qm.need_quantile(qm.need_of(extract(text)))
    assert q >= DEMANDING_FLOOR_QUANTILE - 1e-6


@pytest.mark.parametrize("text", SHORT_HARD)
def test_best_answers_short_hard_requests_with_the_stronger_model(text: str) -> None:
    decision = Router(preset="best", learn=False).decide(RouteRequest(text, pool=[MINI, GPT4O]))
    assert decision.model == GPT4O.id, decision.reason


@pytest.mark.parametrize("text", TRIVIAL)
def test_best_still_keeps_a_trivial_question_on_the_cheaper_model(text: str) -> None:
    decision = Router(preset="best", learn=False).decide(RouteRequest(text, pool=[MINI, GPT4O]))
    assert decision.model == MINI.id, decision.reason


def test_the_floor_only_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    from chatroute.routing import quality

    qm = get_quality_model()
    for text in [*SHORT_HARD, "Compute the eigenvalues of [[2, 1], [1, 2]] and prove the matrix is positive definite."]:
        floored = qm.need_of(extract(text))
        monkeypatch.setattr(quality, "demanding", lambda lex: False)
        raw = qm.need_of(extract(text))
        monkeypatch.undo()
        assert floored == pytest.approx(max(raw, qm.demanding_floor))
