"""A client that hangs up mid-stream, through the official SDKs: what the provider had already
sent when chatroute stopped reading is billed by the provider, so it must be in the ledger.

The provider here sends its whole answer (and its usage) at once, faster than chatroute relays
it; the client reads a few tokens and hangs up. Before, the stream was stopped at once: the
tokens already received but not yet read were dropped, billed by the provider and counted
nowhere (a fifth of them recorded, as an estimate)."""

from __future__ import annotations

import time

import anthropic
import pytest

from tests.fakeserver import Reply
from tests.serve.conftest import Served

SENT = 3000  # tokens the provider streams at once: one per chunk, its usage says as much


def _recorded(served: Served, before: set[str]):  # noqa: ANN202 - a TurnRecord
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        turns = [t for t in served.turns() if t.id not in before and t.model == "openai/gpt-4o-mini"]
        if turns:
            return turns
        time.sleep(0.1)
    raise AssertionError("the stream was not recorded")


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
def test_tokens_the_provider_sent_before_the_hang_up_are_all_billed(fresh: Served, wire: str) -> None:
    fresh.fake.script("gpt-4o-mini", Reply(n_tokens=SENT))
    before = {t.id for t in fresh.turns()}
    got = 0
    if wire == "openai":
        with fresh.client().chat.completions.with_streaming_response.create(
                model="openai/gpt-4o-mini", messages=[{"role": "user", "content": f"a burst, {wire}"}],
                stream=True) as response:
            for line in response.iter_lines():
                got += line.startswith("data: ") and '"content"' in line and '"w' in line
                if got >= 20:
                    break  # leaving the block closes the connection
    else:
        client = anthropic.Anthropic(base_url=fresh.url.removesuffix("/v1"), api_key=fresh.token, max_retries=0,
                                     timeout=30)
        with client.messages.with_streaming_response.create(
                model="openai/gpt-4o-mini", max_tokens=8000, stream=True,
                messages=[{"role": "user", "content": f"a burst, {wire}"}]) as response:
            for line in response.iter_lines():
                got += '"text_delta"' in line
                if got >= 20:
                    break
    assert got == 20
    [turn] = _recorded(fresh, before)
    # Every token the provider sent is in the ledger: its own count when the whole stream was read
    # by the time the hang-up was noticed, else an estimate from all it had sent.
    assert turn.output_tokens >= SENT, (turn.status, turn.output_tokens, turn.usage_estimated)
    assert turn.cost_usd is not None and turn.cost_usd > 0
    assert not [line for line in fresh.stderr if "Traceback" in line]
