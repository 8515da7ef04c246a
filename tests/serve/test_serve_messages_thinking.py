"""`chatroute serve`'s /v1/messages, through the anthropic SDK, relaying a model whose thinking
Anthropic's wire sends apart (a `thinking` block of `thinking_delta` events before the text):
the client gets the answer alone, and the output tokens the thinking cost."""

from __future__ import annotations

import anthropic
import pytest

from tests.fakeserver import Reply
from tests.serve.conftest import Served

MODEL = "anthropic/claude-haiku-4-5"
THOUGHT = "The user asks for the capital. It is Paris, I am sure."


def _client(served: Served) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=served.url.removesuffix("/v1"), api_key=served.token, max_retries=0,
                               timeout=30)


@pytest.mark.parametrize("usage", ["reported", "unreported"])
def test_serve_relays_the_answer_without_its_thinking_and_bills_it(fresh: Served, usage: str) -> None:
    """Whole and streamed: one text block, no thinking block or thinking_delta, and the output
    tokens the thinking cost (counted from it when the provider gives no count)."""
    reported = usage == "reported"
    for stream in (False, True):
        fresh.fake.script("claude-haiku-4-5", Reply(text="Paris.", reasoning=THOUGHT * 20,
                                                    output_tokens=400 if reported else None,
                                                    omit_usage=not reported))
        question = [{"role": "user", "content": f"What is the capital of France? ({usage}, {stream})"}]
        if stream:
            with _client(fresh).messages.stream(model=MODEL, max_tokens=2000, messages=question) as events:
                kinds = [(e.type, getattr(getattr(e, "delta", None), "type", None)) for e in events]
                message = events.get_final_message()
            assert ("content_block_delta", "thinking_delta") not in kinds, kinds
        else:
            message = _client(fresh).messages.create(model=MODEL, max_tokens=2000, messages=question)
        assert [(b.type, getattr(b, "text", None)) for b in message.content] == [("text", "Paris.")], stream
        turn = fresh.turn(message.model_extra["chatroute"]["turn_id"]) if not stream else None
        if reported:
            assert message.usage.output_tokens == 400
        else:
            assert message.usage.output_tokens > len(THOUGHT * 20) // 5, message.usage
        if turn is not None:
            assert turn.output_tokens == message.usage.output_tokens
