"""A model that thinks (Anthropic `thinking`, OpenAI-compatible `reasoning_content`) is billed for
the thinking and for its input even when the stream breaks before any visible text: such an
attempt is priced from the reported usage (output counted from what streamed) and recorded, on
a pinned turn and on a routed turn that fails over, where the failed attempt is a turn of its
own and its cost is named in the reroute. A request that fails before anything streamed still
costs $0 and is not a turn.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from chatroute.catalog import Catalog
from chatroute.config import load_config
from chatroute.money import usd
from chatroute.paths import resolve_paths
from chatroute.store import Store
from chatroute.store.records import CHARS_PER_TOKEN
from tests.engine.helpers import all_time_costs, ask_json, run_cli, write_config
from tests.fakeserver import Drop, FakeServer, Reply
from tests.hardening.crash_support import (
    REPO,
    PipeReader,
    chatroute_argv,
    kill_hard,
    read_messages,
    streaming_partial,
    wait_until,
)

GPT4O, HAIKU = "openai/gpt-4o", "anthropic/claude-haiku-4-5"
# About 1,000 tokens of thinking, then the connection drops before any text.
THOUGHT = " ".join(f"step {i}: weigh the next case of the argument with care." for i in range(80))
THINKS_THEN_DROPS = Drop(after_chunks=0, reasoning=THOUGHT, input_tokens=5000)


def _info(model: str) -> Any:
    paths = resolve_paths()
    return Catalog.build(load_config(paths), paths).get(model)


T = TypeVar("T")


def _killed_when(args: tuple[str, ...], probe: Callable[[], T | None], what: str) -> tuple[T, dict[str, Any]]:
    """Run `chatroute ask ARGS`, kill -9 it once `probe` finds what it waits for, then let the
    next command's open recover the stream (priced with the catalogue). Returns what the probe
    found and that command's `costs --format json`."""
    proc = subprocess.Popen(chatroute_argv("ask", *args), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = PipeReader(proc.stderr)
    try:
        found = wait_until(probe, 30, what,
                           alive=lambda: None if proc.poll() is None else f"ask exited: {err.text()[-500:]}")
    finally:
        kill_hard(proc)
    done = subprocess.run(chatroute_argv("costs", "--format", "json"), cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return found, json.loads(done.stdout)


@pytest.mark.parametrize("model", [HAIKU, GPT4O])
def test_a_pinned_stream_that_breaks_after_thinking_is_billed(model: str, capsys: pytest.CaptureFixture[str],
                                                              configured: FakeServer) -> None:
    configured.script(model.split("/", 1)[1], THINKS_THEN_DROPS)
    code, out = ask_json(capsys, "--no-cache", "-m", model, "Prove there are infinitely many primes")
    assert code == 1 and out["status"] == "error" and out["text"] == ""
    tokens = out["tokens"]
    assert tokens["estimated"] and tokens["output"] >= 500  # counted from the thinking that streamed
    info = _info(model)
    if model == HAIKU:
        assert tokens["input"] == 5000  # message_start's report, not an estimate of the short prompt
    assert out["cost_usd"] == pytest.approx(
        (tokens["input"] * info.input_cost_per_mtok + tokens["output"] * info.output_cost_per_mtok) / 1e6)
    everything = all_time_costs(capsys)
    assert everything["turns"] == 1 and everything["cost_usd"] == pytest.approx(out["cost_usd"])


def test_a_routed_turn_records_the_billed_attempt_it_fails_over_from(capsys: pytest.CaptureFixture[str],
                                                                     configured: FakeServer,
                                                                     chatroute_home: Path) -> None:
    prompt = "Prove there are infinitely many primes, carefully"
    code, decided, _ = run_cli(capsys, "route", "--json", prompt)
    first = json.loads(decided)["model"]
    configured.script(first.split("/", 1)[1], THINKS_THEN_DROPS)
    configured.script(Reply(text="Euclid: multiply them all and add one.", input_tokens=20, output_tokens=9))
    code, out, err = run_cli(capsys, "ask", "--json", "--no-cache", prompt)
    answer = json.loads(out)
    assert code == 0 and answer["status"] == "ok" and answer["model"] != first

    [reroute] = answer["route"]["reroutes"]
    assert reroute["from"] == first and reroute["kind"] == "connection"
    assert reroute["cost_usd"] > 0
    assert f"(billed ≈{usd(reroute['cost_usd'])})" in err  # said inline with the reroute, not hidden
    with Store.open(chatroute_home / "chatroute.db") as store:
        failed = store.get_turn(reroute["turn_id"])
    assert failed is not None
    assert (failed.model, failed.status, failed.message_id) == (first, "error", answer["message_id"])
    assert failed.cost_usd == reroute["cost_usd"] and failed.output_tokens >= 500 and failed.usage_estimated

    # Both requests were billed: both are turns, and the total is their sum.
    everything = all_time_costs(capsys)
    assert everything["turns"] == 2
    assert everything["cost_usd"] == pytest.approx(answer["cost_usd"] + reroute["cost_usd"])


def test_an_estimated_billed_attempt_is_marked_as_an_estimate(capsys: pytest.CaptureFixture[str],
                                                             configured: FakeServer) -> None:
    """The attempt's output is counted from the thinking that streamed (no usage report came):
    its cost is an estimate, so the reroute line says ≈ as the costs table does for it (it read
    '(billed $0.0000081)' as if the provider had reported it), and --json says so."""
    prompt = "Prove there are infinitely many primes, carefully"
    code, decided, _ = run_cli(capsys, "route", "--json", prompt)
    first = json.loads(decided)["model"]
    configured.script(first.split("/", 1)[1], THINKS_THEN_DROPS)
    configured.script(Reply(text="Euclid: multiply them all and add one.", input_tokens=20, output_tokens=9))
    code, out, err = run_cli(capsys, "ask", "--json", "--no-cache", prompt)
    [reroute] = json.loads(out)["route"]["reroutes"]
    assert reroute["estimated"] is True
    assert f"(billed ≈{usd(reroute['cost_usd'])})" in err, err


def test_a_failure_before_any_output_is_still_free(capsys: pytest.CaptureFixture[str],
                                                   configured: FakeServer) -> None:
    # message_start reported 5,000 input tokens, then the connection dropped before any thinking
    # or text: the provider bills nothing, so neither does chatroute.
    configured.script("claude-haiku-4-5", Drop(after_chunks=0, input_tokens=5000))
    code, out = ask_json(capsys, "--no-cache", "-m", HAIKU, "Prove there are infinitely many primes")
    assert code == 1 and out["status"] == "error"
    assert out["cost_usd"] == 0.0 and out["tokens"]["input"] == out["tokens"]["output"] == 0
    assert all_time_costs(capsys)["turns"] == 0


def test_a_killed_turn_is_recovered_after_a_billed_failover(chatroute_home: Path, fake_server: FakeServer,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The failed-over attempt's record on the message must not stop the next open from pricing
    the model that was streaming when the process was killed."""
    monkeypatch.setenv("TEST_OPENAI_KEY", "sk-test")
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", "sk-ant-test")
    write_config(chatroute_home, fake_server, pool=[HAIKU, GPT4O])
    prompt = "Prove there are infinitely many primes, at length"
    routed = subprocess.run(chatroute_argv("route", "--json", prompt), cwd=REPO, capture_output=True, text=True,
                            timeout=60)
    first = json.loads(routed.stdout)["model"]
    second = GPT4O if first == HAIKU else HAIKU
    fake_server.script(first.split("/", 1)[1], THINKS_THEN_DROPS)
    fake_server.script(second.split("/", 1)[1], Reply(endless=True, tokens_per_s=80))
    db = chatroute_home / "chatroute.db"
    live, costs = _killed_when(("--no-cache", prompt), lambda: streaming_partial(db, min_chars=20),
                               "the second model's saved partial")
    with Store.open(db) as store:
        turns = {t.model: t for t in store.recent_turns() if t.message_id == live.message_id}
    assert set(turns) == {first, second}
    assert turns[first].status == "error" and turns[first].cost_usd
    assert (turns[second].status, turns[second].route_kind) == ("interrupted", "recovered")
    assert costs["periods"]["all"]["turns"] == 2


def test_a_killed_reply_on_a_model_the_user_named_stays_the_users_choice(configured: FakeServer,
                                                                        chatroute_home: Path) -> None:
    """kill -9 on `ask -m gpt-4o`: the next open prices the partial, and it is still a turn whose
    model the user chose. It was recorded as 'recovered', which `costs` counts with the router's
    turns: 'Routing cost the same as always using gpt-4o' for a turn routing never decided."""
    configured.script("gpt-4o", Reply(endless=True, tokens_per_s=80))
    db = chatroute_home / "chatroute.db"
    live, costs = _killed_when(("--no-cache", "-m", GPT4O, "Write a long essay on lighthouses"),
                               lambda: streaming_partial(db, min_chars=20), "a saved partial")
    with Store.open(db) as store:
        [turn] = [t for t in store.recent_turns() if t.message_id == live.message_id]
    assert (turn.status, turn.route_kind, turn.usage_estimated) == ("interrupted", "override", True)
    everything = costs["periods"]["all"]
    assert (everything["chosen_turns"], everything["routed_turns"]) == (1, 0)
    assert everything["cost_usd"] == pytest.approx(turn.cost_usd)
    assert "No turn was routed" in costs["verdict"], costs["verdict"]


@pytest.mark.parametrize("model", [HAIKU, GPT4O])
def test_a_reply_killed_while_the_model_thinks_is_recovered_with_its_thinking(
        model: str, configured: FakeServer, chatroute_home: Path) -> None:
    """kill -9 before any visible text: the partial saves carry how much thinking streamed, and
    the next open prices it as output (it was recovered with the input alone, as if the model
    had produced nothing). Anthropic reports the input as the stream starts: that count, cache
    reads and writes among it, is saved too and priced instead of an estimate of the prompt."""
    thought = " ".join(f"step {i}: weigh the next case of the argument with care." for i in range(2000))
    configured.script(model.split("/", 1)[1], Reply(reasoning=thought, tokens_per_s=400, endless=True,
                                                    input_tokens=3000, cached_tokens=1000, cache_write_tokens=500))
    db = chatroute_home / "chatroute.db"

    def thinking_saved() -> tuple[str, int] | None:
        rows = read_messages(db, "status = 'streaming' AND thinking_chars >= 2000")
        return (rows[0].message_id, rows[0].thinking_chars) if rows else None

    (message_id, chars), _ = _killed_when(("--no-cache", "-m", model, "Prove there are infinitely many primes"),
                                          thinking_saved, "a partial save with thinking")
    with Store.open(db) as store:
        [turn] = [t for t in store.recent_turns() if t.message_id == message_id]
        [reply] = store.messages_by_id([message_id])
    assert reply.content == "" and reply.status == "interrupted"
    assert (turn.status, turn.route_kind, turn.usage_estimated) == ("interrupted", "override", True)
    assert turn.output_tokens >= chars // 4  # the thinking, priced as output
    info = _info(model)
    if model == HAIKU:  # message_start's figures: 1,500 uncached + 1,000 read + 500 written (+ 3,000 raw)
        assert (turn.input_tokens, turn.cached_tokens, turn.cache_write_tokens) == (4500, 1000, 500)
        assert turn.cost_usd == pytest.approx((3000 * info.input_cost_per_mtok + 1000 * info.cached_input_cost_per_mtok
                                               + 500 * info.cache_write_cost_per_mtok
                                               + turn.output_tokens * info.output_cost_per_mtok) / 1e6)
    else:  # OpenAI reports usage only at the end: the prompt is counted
        assert turn.input_tokens < 100
        assert turn.cost_usd == pytest.approx((turn.input_tokens * info.input_cost_per_mtok
                                               + turn.output_tokens * info.output_cost_per_mtok) / 1e6)


def test_a_reply_killed_while_its_start_is_held_is_recovered_with_that_thinking(configured: FakeServer,
                                                                                chatroute_home: Path) -> None:
    """kill -9 while an R1 distill's thinking is held back for its lone `</think>` (441adf2): the
    partial saves said nothing of it, so the next open recovered the reply as input only (0
    output tokens), though the server had generated and billed the thinking."""
    from tests.hardening.test_think_tags import LOCAL_MODELS, R1

    write_config(chatroute_home, configured, extra=LOCAL_MODELS)
    configured.script("deepseek-r1-distill-qwen-7b", Reply(
        text="Paris.", reasoning="Let me weigh the capital with care. " * 400, think_tags=True, think_open=False,
        tokens_per_s=100, omit_usage=True))
    db = chatroute_home / "chatroute.db"

    def held_thinking_saved() -> bool:
        """A partial save of 50 tokens of held thinking (not two seconds after the request came:
        a loaded machine's child could have saved nothing by then)."""
        return bool(read_messages(db, "status = 'streaming' AND thinking_chars >= ?", (50 * CHARS_PER_TOKEN,)))

    _, costs = _killed_when(("--no-cache", "-m", R1[0], "What is the capital of France?"), held_thinking_saved,
                            "a partial save with the held thinking")
    everything = costs["periods"]["all"]
    assert everything["turns"] == 1
    assert everything["output_tokens"] >= 50, everything  # the held thinking, counted


def test_a_reply_killed_after_its_held_start_turned_out_text_counts_it_once(configured: FakeServer,
                                                                            chatroute_home: Path) -> None:
    """kill -9 after an R1 distill's held start (saved as thinking while held, d8fd91b) turned out
    to be text (another tag came before any `</think>`): the store kept the largest thinking
    length saved, so the recovered estimate counted the held part twice, as thinking and as text."""

    from chatroute.catalog.tokens import count_tokens
    from tests.hardening.test_think_tags import LOCAL_MODELS, R1

    write_config(chatroute_home, configured, extra=LOCAL_MODELS)
    held = "Some words before any tag come first here. " * 25  # 200 words: 2 s held at 100 tok/s
    configured.script("deepseek-r1-distill-qwen-7b", Reply(
        text=held + "<b>Paris</b> is the answer. " + "More about the city and its long history. " * 300,
        tokens_per_s=100, omit_usage=True))
    db = chatroute_home / "chatroute.db"
    seen: list[int] = []  # the thinking lengths saved while held

    def text_after_the_hold() -> str | None:
        rows = read_messages(db, "status = 'streaming'")
        if not rows:
            return None
        reply = rows[0]
        if reply.thinking_chars:
            seen.append(reply.thinking_chars)
        return reply.message_id if "<b>Paris</b>" in reply.content and len(reply.content) > len(held) + 200 else None

    message_id, _ = _killed_when(("--no-cache", "-m", R1[0], "What is the capital of France?"),
                                 text_after_the_hold, "a partial save with text after the hold")
    assert seen and max(seen) >= 200, seen  # the held start was saved as thinking while held
    with Store.open(db) as store:
        [turn] = [t for t in store.recent_turns() if t.message_id == message_id]
        [reply] = store.messages_by_id([message_id])
    assert reply.content.startswith(held.strip()) and reply.status == "interrupted"
    counted, _ = count_tokens(reply.content, R1[0])
    assert turn.usage_estimated and turn.output_tokens == counted, (turn.output_tokens, counted)
