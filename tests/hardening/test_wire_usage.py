"""What a turn costs, from the usage each provider reports on the wire: figures worked by hand
from the bundled price snapshot, compared with what `ask`, its badge and `costs` say. Real
`chatroute` commands against the fake server, through the official SDKs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatroute.money import usd
from tests.engine.helpers import run_cli, write_config
from tests.fakeserver import Drop, FakeServer, Reply

PROMPT = "Summarise the plot of Hamlet in two lines."


def _xai(home: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch, pool: list[str]) -> None:
    """xAI at its own host (plain http, so a proxy can stand in for it): priced as xAI."""
    monkeypatch.setenv("TEST_XAI_KEY", "xai-test")
    monkeypatch.setenv("HTTP_PROXY", server.url)
    monkeypatch.setenv("NO_PROXY", "")
    write_config(home, server, pool=pool, extra="""
[providers.xai]
base_url = "http://api.x.ai/v1"
api_key_env = "TEST_XAI_KEY"
""")


def _costs_all(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    code, out, err = run_cli(capsys, "costs", "--format", "json")
    assert code == 0, err
    period: dict[str, object] = json.loads(out)["periods"]["all"]
    return period


def test_reasoning_tokens_xai_reports_apart_from_completion_tokens_are_billed(
        configured: FakeServer, chatroute_home: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """xAI counts a reasoning model's thinking outside completion_tokens (its total_tokens adds
    it: 10,120 + 1,499 + 2,809 = 14,428), and bills it as output. Grok 4.20 at $1.25 in, $0.20
    cached, $2.50 out per Mtok: (10,120 - 128) x 1.25 + 128 x 0.20 + (1,499 + 2,809) x 2.50
    = $0.0232856, not the $0.0162631 of the visible text alone."""
    _xai(chatroute_home, configured, monkeypatch, ["xai/grok-4.20"])
    configured.script("grok-4.20", Reply(text="Hamlet avenges his father; all die.", input_tokens=10_120,
                                         output_tokens=1_499, cached_tokens=128, reasoning_tokens=2_809,
                                         reasoning_apart=True))
    code, out, err = run_cli(capsys, "ask", "--json", PROMPT)
    assert code == 0, err
    turn = json.loads(out)
    assert turn["model"] == "xai/grok-4.20"
    assert turn["tokens"]["output"] == 4_308 and turn["tokens"]["estimated"] is False, turn["tokens"]
    assert turn["cost_usd"] == pytest.approx(0.0232856), turn["cost_usd"]
    period = _costs_all(capsys)
    assert period["output_tokens"] == 4_308 and period["cost_usd"] == pytest.approx(0.0232856), period


def test_reasoning_tokens_openai_counts_inside_completion_tokens_are_billed_once(
        configured: FakeServer, chatroute_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """OpenAI's completion_tokens already holds the reasoning (total_tokens = prompt +
    completion): o4-mini, 1,000 in and 500 out of which 400 reasoning, at $1.10 / $4.40 per Mtok
    costs 1,000 x 1.10 + 500 x 4.40 = $0.0033, the reasoning not added again."""
    write_config(chatroute_home, configured, pool=["openai/o4-mini"])
    configured.script("o4-mini", Reply(text="Hamlet avenges his father; all die.", input_tokens=1_000,
                                       output_tokens=500, reasoning_tokens=400))
    code, out, err = run_cli(capsys, "ask", "--json", PROMPT)
    assert code == 0, err
    turn = json.loads(out)
    assert turn["tokens"]["output"] == 500, turn["tokens"]
    assert turn["cost_usd"] == pytest.approx(0.0033), turn["cost_usd"]


@pytest.mark.parametrize("step", [Reply(text="Hamlet avenges his father; all die.", omit_usage=True),
                                  Drop(after_chunks=3)], ids=["no usage report", "connection dropped"])
def test_a_cost_counted_from_an_estimate_is_marked_on_the_badge(
        configured: FakeServer, capsys: pytest.CaptureFixture[str], step: Reply | Drop) -> None:
    """A server that sends no usage (stream_options not honoured), or a stream cut before its
    report: the tokens and so the cost are estimated. `costs` wrote ≈$0.000043; the badge wrote
    the same turn's cost as exact, `$0.000043`, with ≈ only on the token counts (which a narrow
    chat leaves out first)."""
    configured.script("gpt-4o", step)
    code, out, err = run_cli(capsys, "ask", "-m", "openai/gpt-4o", PROMPT)
    [line] = [line for line in err.splitlines() if line.startswith("gpt-4o (override) · ")]
    cost = line.split(" · ")[1]
    assert cost.startswith("≈$"), line
    code, out, err = run_cli(capsys, "costs", "--format", "json")
    [row] = json.loads(out)["rows"]
    assert row["estimated_turns"] == 1 and cost == "≈" + usd(row["cost_usd"]), (cost, row)
