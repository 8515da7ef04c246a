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
