"""A request chatroute gives up on after the provider reported its input (Anthropic's
message_start, then no token before `first_token_timeout_s`) is billed as a stopped one is:
chatroute hung up, exactly as Esc does at that moment, and Esc's turn is priced from that report.
Before, the timeout's attempt cost $0 and was no turn, on a pinned turn and, hidden behind the
reroute, on a routed one. The same holds once the request has left with no response headers back
yet: a timeout there is billed at the estimate Esc's stop records (it was free while Esc's was
not). A request the provider refused, or that broke on its side, still costs nothing
(test_thinking_costs.py::test_a_failure_before_any_output_is_still_free)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from chatroute.catalog.tokens import count_messages
from chatroute.engine import Engine
from chatroute.money import usd
from chatroute.providers.base import Message
from chatroute.store import Store
from chatroute.store.records import TurnRecord
from chatroute.turn_events import TurnFinished, TurnStarted
from tests.engine.helpers import all_time_costs, ask_json, list_cost, rank_by_ability, run_cli, write_config
from tests.fakeserver import FakeServer, Fault, Reply

HAIKU = "anthropic/claude-haiku-4-5"
# message_start reports 5,000 input tokens at once; the text would come only after 4 s.
SILENT_AFTER_START = Reply(text="too late", ttft=4, input_tokens=5000)


def _first_token_timeout(home: Path, server: FakeServer, pool: list[str] | None = None) -> None:
    path = write_config(home, server, pool=pool)
    text = path.read_text()
    for env in ("TEST_OPENAI_KEY", "TEST_ANTHROPIC_KEY"):
        text = text.replace(f'api_key_env = "{env}"\n', f'api_key_env = "{env}"\nfirst_token_timeout_s = 1\n')
    path.write_text(text)


def test_a_pinned_turn_timed_out_after_the_input_was_reported_is_billed(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path) -> None:
    _first_token_timeout(chatroute_home, configured)
    configured.script("claude-haiku-4-5", SILENT_AFTER_START)
    code, out = ask_json(capsys, "--no-cache", "-m", HAIKU, "Summarise the attached report")
    assert code == 1 and out["status"] == "error" and "no first token" in out["error"]
    tokens = out["tokens"]
    assert tokens["input"] == 5000 and tokens["output"] <= 1 and tokens["estimated"]  # message_start's report
    assert out["cost_usd"] == pytest.approx(list_cost(HAIKU, 5000, tokens["output"]))
    everything = all_time_costs(capsys)
    assert everything["turns"] == 1 and everything["cost_usd"] == pytest.approx(out["cost_usd"])


def test_a_routed_turn_names_the_timed_out_attempts_cost_in_its_reroute(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path) -> None:
    _first_token_timeout(chatroute_home, configured, pool=[HAIKU, "openai/gpt-4o"])
    prompt = "Summarise the attached report in three lines"
    code, decided, _ = run_cli(capsys, "route", "--json", prompt)
    first = json.loads(decided)["model"]
    if first != HAIKU:
        pytest.skip(f"the router chose {first} first; the test needs an Anthropic model to report input")
    configured.script("claude-haiku-4-5", SILENT_AFTER_START)
    configured.script("gpt-4o", Reply(text="Three lines.", input_tokens=20, output_tokens=3))
    code, out, err = run_cli(capsys, "ask", "--json", "--no-cache", prompt)
    answer = json.loads(out)
    assert code == 0 and answer["status"] == "ok" and answer["model"] == "openai/gpt-4o", err
    [reroute] = answer["route"]["reroutes"]
    assert reroute["from"] == HAIKU and reroute["kind"] == "timeout"
    assert f"(billed ≈{usd(reroute['cost_usd'])})" in err  # said inline with the reroute
    with Store.open(chatroute_home / "chatroute.db") as store:
        failed = store.get_turn(reroute["turn_id"])
    assert failed is not None and (failed.status, failed.input_tokens) == ("error", 5000)
    assert reroute["cost_usd"] == failed.cost_usd == pytest.approx(list_cost(HAIKU, 5000, failed.output_tokens))
    everything = all_time_costs(capsys)
    assert everything["turns"] == 2
    assert everything["cost_usd"] == pytest.approx(reroute["cost_usd"] + answer["cost_usd"])


GPT4O, MINI = "openai/gpt-4o", "openai/gpt-4o-mini"
# OpenAI's wire reports usage only in its last chunk: a model thinking silently past the deadline
# (an o-series model) has reported nothing when chatroute hangs up, though the server had taken
# the request (its headers and first chunk came at once).
SILENT_OPENAI = Reply(text="too late", ttft=4)


def _prompt_estimate(model: str, prompt: str) -> int:
    """What Esc's stop records as the input of a fresh conversation's turn with no usage report."""
    return count_messages([Message("user", prompt)], None, model)[0]


# The server has the whole request but sends no response headers before the deadline (it would
# answer only after 4 s). To the provider that is the same as Esc at that moment: a request it
# received and the client hung up on.
HOLDS_HEADERS = Fault(500, delay=4)


# Silent after its headers, or no headers at all: the second was 0 tokens at $0.00 and no turn,
# where Esc at the same moment was this estimate.
@pytest.mark.parametrize("silence", [SILENT_OPENAI, HOLDS_HEADERS], ids=["after the headers", "before any headers"])
def test_a_pinned_turn_timed_out_with_no_usage_report_is_billed_at_an_estimate(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path,
        silence: Reply | Fault) -> None:
    _first_token_timeout(chatroute_home, configured)
    prompt = "Think hard about this proof before answering"
    configured.script("gpt-4o", silence)
    code, out = ask_json(capsys, "--no-cache", "-m", GPT4O, prompt)
    assert code == 1 and out["status"] == "error" and "no first token" in out["error"]
    tokens = out["tokens"]
    assert (tokens["input"], tokens["output"], tokens["estimated"]) == (_prompt_estimate(GPT4O, prompt), 0, True)
    assert tokens["input"] > 0 and out["cost_usd"] == pytest.approx(list_cost(GPT4O, tokens["input"], 0))
    everything = all_time_costs(capsys)
    assert (everything["turns"], everything["estimated_turns"]) == (1, 1)
    assert everything["cost_usd"] == pytest.approx(out["cost_usd"])
    # Without --json the badge says it too (it read `gpt-4o (override) · ⚠ error`).
    configured.script("gpt-4o", silence)
    code, _, err = run_cli(capsys, "ask", "--no-cache", "-m", GPT4O, prompt)
    assert code == 1 and f"gpt-4o (override) · ≈{usd(out['cost_usd'])} · ⚠ error" in err, err


# Silent after its headers, or no headers at all: the line read `gpt-4o timeout → gpt-4o-mini`
# for the second, and `costs` counted the mini turn alone.
@pytest.mark.parametrize("silence", [SILENT_OPENAI, HOLDS_HEADERS], ids=["after the headers", "before any headers"])
def test_a_routed_turn_names_an_unreported_timed_out_attempts_estimated_cost(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path,
        silence: Reply | Fault) -> None:
    _first_token_timeout(chatroute_home, configured, pool=[GPT4O, MINI])
    path = chatroute_home / "config.toml"
    rank_by_ability(path, GPT4O, MINI)
    prompt = "Think hard about this proof before answering"
    code, decided, _ = run_cli(capsys, "route", "--json", prompt)
    assert json.loads(decided)["model"] == GPT4O, "precondition: gpt-4o is the router's first choice"
    configured.script("gpt-4o", silence)
    configured.script("gpt-4o-mini", Reply(text="Here it is.", input_tokens=20, output_tokens=4))
    code, out, err = run_cli(capsys, "ask", "--json", "--no-cache", prompt)
    answer = json.loads(out)
    assert code == 0 and answer["status"] == "ok" and answer["model"] == MINI, err
    [reroute] = answer["route"]["reroutes"]
    assert reroute["from"] == GPT4O and reroute["kind"] == "timeout" and reroute["estimated"]
    assert f"gpt-4o timeout (billed ≈{usd(reroute['cost_usd'])}) → gpt-4o-mini" in err, err
    with Store.open(chatroute_home / "chatroute.db") as store:
        failed = store.get_turn(reroute["turn_id"])
    assert failed is not None and (failed.status, failed.output_tokens) == ("error", 0) and failed.usage_estimated
    assert failed.input_tokens == _prompt_estimate(GPT4O, prompt)
    assert reroute["cost_usd"] == failed.cost_usd == pytest.approx(list_cost(GPT4O, failed.input_tokens, 0))
    everything = all_time_costs(capsys)
    assert (everything["turns"], everything["estimated_turns"]) == (2, 1)
    assert everything["cost_usd"] == pytest.approx(reroute["cost_usd"] + answer["cost_usd"])


async def _esc_while_headers_are_held(server: FakeServer, prompt: str) -> TurnRecord:
    """Esc (the turn's task cancelled) once the request is at the server, before any headers."""
    engine = Engine.open()
    server.script("gpt-4o", Fault(500, delay=10))
    ids: dict[str, str] = {}

    async def consume() -> None:
        async for event in engine.run_turn(None, f"@{GPT4O} {prompt}", use_cache=False):
            if isinstance(event, TurnStarted):
                ids["conversation"] = event.conversation_id
    try:
        task = asyncio.create_task(consume())
        deadline = time.monotonic() + 15
        while not server.requests_for("gpt-4o") and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        [record] = engine.store.turns(ids["conversation"])
        return record
    finally:
        await engine.aclose()
        engine.store.close()


def test_a_timeout_and_esc_before_any_headers_are_billed_alike(configured: FakeServer,
                                                                chatroute_home: Path) -> None:
    _first_token_timeout(chatroute_home, configured)
    prompt = "Think hard about this proof before answering"
    stopped = asyncio.run(_esc_while_headers_are_held(configured, prompt))
    configured.reset()
    configured.script("gpt-4o", HOLDS_HEADERS)

    async def timed_out() -> TurnRecord:
        engine = Engine.open()
        try:
            async for event in engine.run_turn(None, f"@{GPT4O} {prompt}", use_cache=False):
                if isinstance(event, TurnFinished):
                    return event.record
            raise AssertionError("no TurnFinished")
        finally:
            await engine.aclose()
            engine.store.close()

    timeout = asyncio.run(timed_out())
    assert (stopped.status, timeout.status) == ("interrupted", "error")
    # The timeout's was 0 tokens at $0.00 with usage_estimated False.
    assert (timeout.input_tokens, timeout.output_tokens, timeout.usage_estimated) == (stopped.input_tokens, 0, True)
    assert timeout.input_tokens > 0 and timeout.cost_usd == pytest.approx(stopped.cost_usd)


def test_a_request_the_server_answered_with_an_error_stays_free(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path) -> None:
    # Sent, but answered: a 500 is the provider's own failure, which it does not bill.
    _first_token_timeout(chatroute_home, configured)
    configured.script("gpt-4o", Fault(500))
    code, out = ask_json(capsys, "--no-cache", "-m", GPT4O, "Think hard about this proof before answering")
    assert code == 1 and (out["tokens"]["input"], out["cost_usd"]) == (0, 0.0)
    assert all_time_costs(capsys)["turns"] == 0
