"""A budget cap holds for routed requests `chatroute serve` answers at once: the turns still
streaming count against the cap at what the router expects them to cost, as a finished turn
counts at what it cost. Before, every request decided while the others streamed saw only the
ledger's spend, so any number of them went to a paid model together past the cap."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import openai

from tests.engine.helpers import write_config
from tests.fakeserver import FakeServer, Reply
from tests.serve.conftest import ROOT, serve_env, start_served

PROMPT = "Name a river in Europe, number {}."


def _expected(home: Path) -> tuple[float, int, int]:
    """What the router expects a request to cost, and its input and output tokens."""
    out = subprocess.run([sys.executable, "-m", "chatroute", "route", "--json", PROMPT.format(1)], cwd=ROOT,
                         env=serve_env(home), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    decision = json.loads(out.stdout)
    [cand] = decision["candidates"]
    return float(cand["expected_cost_usd"]), decision["expected_input_tokens"], decision["expected_output_tokens"]


def test_routed_requests_at_once_stop_at_the_cap(tmp_path: Path, fake_server: FakeServer) -> None:
    home = tmp_path / "budget-home"
    home.mkdir()
    write_config(home, fake_server, pool=["openai/gpt-4o-mini"])
    each, n_in, n_out = _expected(home)
    # Room for three such turns, not four: one after the other, the fourth is refused.
    write_config(home, fake_server, pool=["openai/gpt-4o-mini"], extra=f"[budget]\ndaily_usd = {each * 3.5:.12f}\n")
    server = start_served(home, fake_server)
    try:
        for _ in range(8):  # each streams for a second, so all eight are decided while the others stream
            fake_server.script("gpt-4o-mini", Reply(text="the Danube", ttft=1.0, input_tokens=n_in,
                                                    output_tokens=n_out))

        async def ask(i: int) -> str:
            client = server.async_client()
            try:
                await client.chat.completions.create(
                    model="chatroute/auto", messages=[{"role": "user", "content": PROMPT.format(i)}])
                return "answered"
            except openai.RateLimitError as exc:
                assert isinstance(exc.body, dict) and exc.body["code"] == "insufficient_quota", exc.body
                assert "budget" in exc.body["message"]
                return "refused"
            finally:
                await client.close()

        async def all_at_once() -> list[str]:
            return await asyncio.gather(*(ask(i) for i in range(8)))

        outcomes = asyncio.run(all_at_once())
        assert outcomes.count("answered") == 3, outcomes
        assert len(fake_server.requests) == 3
    finally:
        server.stop()
