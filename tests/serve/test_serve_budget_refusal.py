"""A routed request refused by a budget cap, on both wires, through the official SDKs: it never
reads as a rate limit to wait out on Anthropic's wire, no SDK retries it, and its message says
which cap, what was spent and what the cap is."""

from __future__ import annotations

from pathlib import Path

import anthropic
import openai
import pytest

from chatroute.money import usd
from tests.fakeserver import FakeServer, Reply
from tests.serve.conftest import start_capped


def test_a_request_past_the_cap_says_the_cap_and_the_spend_on_both_wires(tmp_path: Path,
                                                                         fake_server: FakeServer) -> None:
    server = start_capped(tmp_path, fake_server)
    try:
        fake_server.script("gpt-4o", Reply(text="expensive", input_tokens=200_000, output_tokens=10_000))
        server.client().chat.completions.create(model="openai/gpt-4o",
                                                messages=[{"role": "user", "content": "spend it"}])
        [spent] = [t.cost_usd for t in server.turns()]
        assert spent is not None and spent > 0.01
        says = f"daily budget cap is reached ({usd(spent)} spent of {usd(0.01)})"
        sent = len(fake_server.requests)

        # The SDKs' own retry policy (max_retries=2 by default): no retry, since no wait lifts a cap.
        oai = openai.OpenAI(base_url=server.url, api_key=server.token, timeout=30)
        with pytest.raises(openai.RateLimitError) as refused:
            oai.chat.completions.create(model="chatroute/auto",
                                        messages=[{"role": "user", "content": "routed past the cap"}])
        assert isinstance(refused.value.body, dict)
        assert refused.value.body["code"] == "insufficient_quota" and says in refused.value.body["message"]

        ant = anthropic.Anthropic(base_url=server.url.removesuffix("/v1"), api_key=server.token, timeout=30)
        with pytest.raises(anthropic.APIStatusError) as info:
            ant.messages.create(model="chatroute/auto", max_tokens=100,
                                messages=[{"role": "user", "content": "routed past the cap, Anthropic's way"}])
        err = info.value
        # rate_limit_error reads as "wait and try again"; a spent cap is the account's to raise.
        assert err.status_code == 429 and err.type == "billing_error", (err.status_code, err.body)
        assert err.response.headers.get("x-should-retry") == "false"
        assert says in str(err.api_message), err.body
        assert len(fake_server.requests) == sent
        routed = [line for line in server.stderr if "budget" in line]
        assert len(server.turns()) == 1, routed
    finally:
        server.stop()
