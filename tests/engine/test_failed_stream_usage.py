"""A stream that fails at its end after the server reported what it billed keeps that report.

An OpenAI-compatible server may end a stream with its usage and `data: [DONE]` but no finish
reason and no text (blank lines only): chatroute reads that as a malformed stream, a failure
before any text, and a routed turn fails over. The server's usage chunk says what the request
was billed (here 5,000 tokens in, 4 out); before, chatroute dropped it, so the attempt cost $0
and was no turn, on a pinned turn and, behind the reroute line, on a routed one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatroute.money import usd
from chatroute.store import Store
from tests.engine.helpers import all_time_costs, ask_json, list_cost, rank_by_ability, run_cli, write_config
from tests.fakeserver import FakeServer, Reply

GPT4O, MINI = "openai/gpt-4o", "openai/gpt-4o-mini"
# Blank lines, the usage chunk, [DONE]; no finish reason on any chunk.
BLANK_BUT_BILLED = Reply(text="\n\n", input_tokens=5000, output_tokens=4, finish_reason=None)


def test_a_pinned_stream_that_reported_its_usage_before_failing_is_billed(
        capsys: pytest.CaptureFixture[str], configured: FakeServer) -> None:
    configured.script("gpt-4o", BLANK_BUT_BILLED)
    code, out = ask_json(capsys, "--no-cache", "-m", GPT4O, "Explain how lighthouses work")
    assert code == 1 and out["status"] == "error" and "without a finish reason" in out["error"]
    assert (out["tokens"]["input"], out["tokens"]["output"], out["tokens"]["estimated"]) == (5000, 4, False)
    assert out["cost_usd"] == pytest.approx(list_cost(GPT4O, 5000, 4))
    everything = all_time_costs(capsys)
    assert everything["turns"] == 1 and everything["cost_usd"] == pytest.approx(out["cost_usd"])


def test_a_routed_turn_names_that_attempts_cost_in_its_reroute(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path) -> None:
    path = write_config(chatroute_home, configured, pool=[GPT4O, MINI])
    rank_by_ability(path, GPT4O, MINI)
    prompt = "Explain how lighthouses work"
    code, decided, _ = run_cli(capsys, "route", "--json", prompt)
    assert json.loads(decided)["model"] == GPT4O, "precondition: gpt-4o is the router's first choice"
    configured.script("gpt-4o", BLANK_BUT_BILLED)
    configured.script("gpt-4o-mini", Reply(text="They turn a lamp.", input_tokens=20, output_tokens=5))
    code, out, err = run_cli(capsys, "ask", "--json", "--no-cache", prompt)
    answer = json.loads(out)
    assert code == 0 and answer["status"] == "ok" and answer["model"] == MINI, err
    [reroute] = answer["route"]["reroutes"]
    assert reroute["from"] == GPT4O and reroute["kind"] == "malformed_stream"
    assert reroute["cost_usd"] == pytest.approx(list_cost(GPT4O, 5000, 4)) and not reroute["estimated"]
    assert f"(billed {usd(reroute['cost_usd'])})" in err  # said with the reroute, not hidden
    with Store.open(chatroute_home / "chatroute.db") as store:
        failed = store.get_turn(reroute["turn_id"])
    assert failed is not None and (failed.status, failed.input_tokens, failed.output_tokens) == ("error", 5000, 4)
    everything = all_time_costs(capsys)
    assert everything["turns"] == 2
    assert everything["cost_usd"] == pytest.approx(reroute["cost_usd"] + answer["cost_usd"])
