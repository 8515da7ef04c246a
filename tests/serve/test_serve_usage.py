"""The usage a client is told agrees with the ledger, prompt-cache tokens included: chatroute's
records count every prompt token once (cache reads and writes inside input_tokens, as OpenAI's
prompt_tokens does), whichever wire the provider speaks."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakeserver import Reply
from tests.serve.conftest import Served

# A repro of the bug: 20 fresh tokens and 1,500 read from Anthropic's prompt cache were 1,520 in
# the ledger but 3,020 in the client's usage.
CASES = [
    pytest.param("anthropic/claude-haiku-4-5", "claude-haiku-4-5", Reply(input_tokens=20, cached_tokens=1500), 1500,
                 id="anthropic-cache-read"),
    pytest.param("anthropic/claude-haiku-4-5", "claude-haiku-4-5",
                 Reply(input_tokens=20, cached_tokens=1000, cache_write_tokens=500), 1000, id="anthropic-read-write"),
    # OpenAI's prompt_tokens already holds its cached tokens: this side was right and stays so.
    pytest.param("openai/gpt-4o", "gpt-4o", Reply(input_tokens=1520, cached_tokens=1500), 1500, id="openai"),
]


def _check(fresh: Served, usage: Any, decision: dict[str, Any], cached: int) -> None:
    turn = fresh.turn(decision["turn_id"])
    assert turn.input_tokens == 1520 and turn.cached_tokens == cached and not turn.usage_estimated
    assert usage.prompt_tokens == turn.input_tokens == 1520
    assert usage.prompt_tokens_details.cached_tokens == cached
    assert usage.completion_tokens == turn.output_tokens
    assert usage.total_tokens == turn.input_tokens + turn.output_tokens


@pytest.mark.parametrize(("model", "upstream", "reply", "cached"), CASES)
def test_completion_usage_counts_cache_tokens_once(fresh: Served, model: str, upstream: str, reply: Reply,
                                                   cached: int) -> None:
    fresh.fake.script(upstream, reply)
    done = fresh.client().chat.completions.create(
        model=model, messages=[{"role": "user", "content": f"usage with a warm prompt cache ({model}, {cached})"}])
    assert done.usage is not None
    _check(fresh, done.usage, done.model_extra["chatroute"], cached)


@pytest.mark.parametrize(("model", "upstream", "reply", "cached"), CASES)
def test_streamed_usage_counts_cache_tokens_once(fresh: Served, model: str, upstream: str, reply: Reply,
                                                 cached: int) -> None:
    fresh.fake.script(upstream, reply)
    chunks = list(fresh.client().chat.completions.create(
        model=model, messages=[{"role": "user", "content": f"streamed usage, warm cache ({model}, {cached})"}],
        stream=True, stream_options={"include_usage": True}))
    last = chunks[-1]
    assert last.usage is not None and not last.choices
    _check(fresh, last.usage, last.model_extra["chatroute"], cached)


@pytest.mark.parametrize(("model", "upstream", "reply", "cached"), CASES)
def test_responses_usage_has_every_field_the_sdk_types_as_a_count(fresh: Served, model: str, upstream: str,
                                                                  reply: Reply, cached: int) -> None:
    # The openai SDK's ResponseUsage requires input_tokens_details.cache_write_tokens and
    # output_tokens_details.reasoning_tokens as ints: a client adding them up must find numbers.
    client = fresh.client()
    ask = f"responses usage, warm cache ({model}, {cached})"
    # Each asks as an end user of its own, so no answer cached by another test is served (a hit bills nothing).
    fresh.fake.script(upstream, reply)
    whole = client.responses.create(model=model, input=ask, user=f"whole {ask}")
    fresh.fake.script(upstream, reply)
    with client.responses.stream(model=model, input=ask, user=f"streamed {ask}") as stream:
        streamed = stream.get_final_response()
    for response in (whole, streamed):
        usage = response.usage
        assert usage is not None
        turn = fresh.turn(response.model_extra["chatroute"]["turn_id"])  # type: ignore[index]
        assert usage.input_tokens == turn.input_tokens == 1520
        assert usage.input_tokens_details.cached_tokens == turn.cached_tokens == cached
        assert usage.input_tokens_details.cache_write_tokens == turn.cache_write_tokens == reply.cache_write_tokens
        # No provider here counts the thinking apart: 0, not a missing field (see README).
        assert usage.output_tokens_details.reasoning_tokens == 0
        assert usage.total_tokens == usage.input_tokens + usage.output_tokens
