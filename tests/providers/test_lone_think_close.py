"""A model whose chat template opens `<think>` itself (a DeepSeek-R1 distill, QwQ) on a local
server, through the real SDKs: the start of its answer is held back while it may be thinking
that a lone `</think>` closes, but never for long, and the hold is progress, not silence."""

from __future__ import annotations

import time

import pytest

from chatroute.providers import ProviderError, TextDelta, think_tags
from tests.fakeserver import FakeServer, Reply
from tests.providers.conftest import MakeProvider, request

R1 = "deepseek-r1-distill-qwen-7b"


async def test_a_model_that_never_closes_still_streams(make: MakeProvider, fake_server: FakeServer, wire: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Named as an R1 distill but sending no `</think>` (another model loaded under that name):
    held only until HOLD_S, then streamed as it comes, all of it text."""
    monkeypatch.setattr(think_tags, "HOLD_S", 0.3)
    answer = " ".join(f"word{i}" for i in range(30))
    fake_server.script(R1, Reply(text=answer, tokens_per_s=15))
    first: float | None = None
    got = ""
    async for event in make(wire).stream(request(model=R1)):
        if isinstance(event, TextDelta):
            first = first if first is not None else time.monotonic()
            got += event.text
    last = time.monotonic()
    sent = fake_server.requests[-1].first_text_at  # the server's clock is this process's
    assert got == answer
    assert first is not None and sent is not None
    assert first - sent < 1.0 and last - first > 0.8, (first - sent, last - first)  # not held to the end


async def test_held_thinking_meets_the_first_token_deadline(make: MakeProvider, fake_server: FakeServer,
                                                            wire: str) -> None:
    """Thinking held back for longer than first_token_timeout_s is progress all the same: the
    answer after the lone `</think>` comes, with no timeout."""
    thought = " ".join(f"step{i}" for i in range(20))
    fake_server.script(R1, Reply(text="Paris.", reasoning=thought, think_tags=True, think_open=False,
                                 tokens_per_s=20))
    provider = make(wire, first_token_timeout_s=0.4)
    got = ""
    try:
        async for event in provider.stream(request(model=R1)):
            if isinstance(event, TextDelta):
                got += event.text
    except ProviderError as err:
        pytest.fail(f"failed while the thinking was held: {err}")
    assert got == "Paris."
