"""A client that hangs up mid-stream, through the official SDKs: what the provider had already
sent when chatroute stopped reading is billed by the provider, so it must be in the ledger.

The provider here sends its whole answer (and its usage) at once, faster than chatroute relays
it; the client hangs up once all of it has been sent. Before, the stream was stopped at once:
the tokens already received but not yet read were dropped, billed by the provider and counted
nowhere (a fifth to a third of them recorded, as an estimate)."""

from __future__ import annotations

import json
import socket
import time

import anthropic
import pytest

from tests.fakeserver import Raw, Reply, sse_body
from tests.serve.conftest import Served

SENT = 3000  # tokens the provider streams at once: one per chunk, its usage says as much
SENT_WHOLE = 6000  # ... for an answer asked for whole, which chatroute reads faster


def _all_sent(served: Served) -> None:
    """Wait until the provider has sent its whole answer (into chatroute's socket, unread)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (served.fake.requests and served.fake.requests[-1].ended_at):
        time.sleep(0.001)
    assert served.fake.requests[-1].ended_at, "the provider never finished sending"


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
                    _all_sent(fresh)
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
                    _all_sent(fresh)
                    break
    assert got == 20
    [turn] = _recorded(fresh, before)
    # Every token the provider sent is in the ledger: its own count when the whole stream was read
    # by the time the hang-up was noticed, else an estimate from all it had sent.
    assert turn.output_tokens >= SENT, (turn.status, turn.output_tokens, turn.usage_estimated)
    assert turn.cost_usd is not None and turn.cost_usd > 0
    assert not [line for line in fresh.stderr if "Traceback" in line]


def _whole_request(path: str, prompt: str) -> dict[str, object]:
    """The wire's request for one answer, not streamed, of at most 8,000 tokens."""
    if path == "/responses":
        return {"model": "openai/gpt-4o-mini", "max_output_tokens": 8000, "input": prompt}
    return {"model": "openai/gpt-4o-mini", "max_tokens": 8000, "messages": [{"role": "user", "content": prompt}]}


@pytest.mark.parametrize("path", ["/chat/completions", "/messages", "/responses"])
def test_a_whole_answer_whose_client_hangs_up_as_it_arrives_is_all_billed(fresh: Served, path: str) -> None:
    """Not streamed: the client gives up just as the provider has sent its whole answer at once.
    What had arrived was dropped unread when the hang-up was noticed."""
    # The whole stream in one write, no usage in it: the count is chatroute's estimate of the text.
    words = " ".join(f"w{i % 100}" for i in range(SENT_WHOLE))
    fresh.fake.script("gpt-4o-mini", Raw(body=sse_body("openai", words), content_type="text/event-stream"))
    before = {t.id for t in fresh.turns()}
    body = json.dumps(_whole_request(path, f"a burst, whole, {path}")).encode()
    host, port = fresh.url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=10)
    try:
        sock.sendall(f"POST /v1{path} HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {fresh.token}\r\n"
                     f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n".encode() + body)
        _all_sent(fresh)
    finally:
        sock.close()  # the client gives up as the answer arrives
    [turn] = _recorded(fresh, before)
    assert turn.output_tokens >= SENT_WHOLE, (turn.status, turn.output_tokens, turn.usage_estimated)
    assert not [line for line in fresh.stderr if "Traceback" in line]
