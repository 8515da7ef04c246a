"""`chatroute ask` end to end: config -> engine -> official SDKs -> fake server -> SQLite."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from chatroute.catalog import Catalog
from chatroute.config import load_config
from chatroute.paths import resolve_paths
from tests.engine.helpers import ANTHROPIC_KEY, OPENAI_KEY, ask_json, run_cli, write_config
from tests.fakeserver import Drop, FakeServer, Fault, Reply

pytestmark = pytest.mark.usefixtures("configured")


def _db(home: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(home / "chatroute.db")
    conn.row_factory = sqlite3.Row
    return conn


def test_pinned_ask_streams_records_and_prices(capsys: pytest.CaptureFixture[str], configured: FakeServer,
                                               chatroute_home: Path) -> None:
    configured.script("gpt-4o-mini", Reply(text="Paris is the capital.", input_tokens=1000, output_tokens=200,
                                           cached_tokens=400))
    code, out = ask_json(capsys, "-m", "openai/gpt-4o-mini", "What is the capital of France?")
    assert code == 0
    assert out["model"] == "openai/gpt-4o-mini" and out["provider"] == "openai"
    assert out["text"] == "Paris is the capital."
    assert out["tokens"] == {"input": 1000, "output": 200, "cached": 400, "cache_write": 0, "estimated": False}
    assert out["route"]["kind"] == "override" and out["route"]["reason"]
    assert out["cache"] in ("miss", "bypass")
    # gpt-4o-mini: $0.15 in, $0.075 cached in, $0.60 out per Mtok (bundled snapshot).
    info = Catalog.build(load_config(resolve_paths()), resolve_paths()).get("openai/gpt-4o-mini")
    expected = (600 * info.input_cost_per_mtok + 400 * info.cached_input_cost_per_mtok
                + 200 * info.output_cost_per_mtok) / 1e6
    assert out["cost_usd"] == pytest.approx(expected)
    lat = out["latency"]
    assert lat["ttft_ms"] > 0 and lat["total_ms"] >= lat["ttft_ms"]
    with _db(chatroute_home) as db:
        turn = db.execute("SELECT * FROM turns").fetchone()
        assert turn["model"] == "openai/gpt-4o-mini" and turn["cost_usd"] == pytest.approx(expected)
        assert turn["price_as_of"]
        msgs = db.execute("SELECT role, content, status FROM messages ORDER BY created_at").fetchall()
        assert [(m["role"], m["status"]) for m in msgs] == [("user", "complete"), ("assistant", "complete")]
    # The request reached the server with the key from the configured variable.
    assert configured.requests[-1].auth and OPENAI_KEY in configured.requests[-1].auth


def test_streamed_output_and_badge(capsys: pytest.CaptureFixture[str], configured: FakeServer) -> None:
    configured.script("gpt-4o", Reply(text="one two three"))
    code, out, err = run_cli(capsys, "ask", "-m", "gpt-4o", "count to three")
    assert code == 0
    assert out.strip() == "one two three"
    assert "gpt-4o" in err and "ttft" in err


def test_anthropic_cache_read_and_write_priced_apart(capsys: pytest.CaptureFixture[str],
                                                      configured: FakeServer) -> None:
    configured.script("claude-haiku-4-5", Reply(text="ok", input_tokens=100, output_tokens=50, cached_tokens=2000,
                                                cache_write_tokens=300))
    code, out = ask_json(capsys, "-m", "anthropic/claude-haiku-4-5", "hi")
    assert code == 0
    info = Catalog.build(load_config(resolve_paths()), resolve_paths()).get("anthropic/claude-haiku-4-5")
    expected = (100 * info.input_cost_per_mtok + 2000 * info.cached_input_cost_per_mtok
                + 300 * info.cache_write_cost_per_mtok + 50 * info.output_cost_per_mtok) / 1e6
    assert out["cost_usd"] == pytest.approx(expected)
    assert out["tokens"]["cached"] == 2000
    assert configured.requests[-1].auth and ANTHROPIC_KEY in configured.requests[-1].auth


def test_routed_ask_explains_itself(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = ask_json(capsys, "What is 2 + 2?")
    assert code == 0
    route = out["route"]
    assert route["kind"] == "routed"
    assert route["reason"]
    assert {c["model"] for c in route["candidates"]} >= {"openai/gpt-4o-mini", "openai/gpt-4o"}
    assert route["reroutes"] == []
    assert out["latency"]["route_ms"] is not None


def test_at_model_prefix_overrides(capsys: pytest.CaptureFixture[str], configured: FakeServer) -> None:
    code, out = ask_json(capsys, "@claude-haiku-4-5 say hi")
    assert code == 0
    assert out["model"] == "anthropic/claude-haiku-4-5"
    assert out["route"]["kind"] == "override"
    assert configured.requests[-1].messages[-1]["content"] == "say hi"


def test_an_at_name_in_another_script_is_read_as_an_override(capsys: pytest.CaptureFixture[str],
                                                             configured: FakeServer) -> None:
    """`@通义千问-7b …` (a local model's own name) was no override: the name went to the router as
    part of the prompt and was answered by whatever it picked, with no word said."""
    n = len(configured.requests)
    code, out, err = run_cli(capsys, "ask", "@通义千问-7b 你好")
    assert code != 0 and "unknown model '通义千问-7b'" in err, (code, out, err)
    assert len(configured.requests) == n  # nothing was sent


def test_rate_limit_reroutes_and_records(capsys: pytest.CaptureFixture[str], configured: FakeServer) -> None:
    code, decision, _ = run_cli(capsys, "route", "--json", "Summarise the plot of Hamlet in two lines.")
    first = json.loads(decision)["model"]
    configured.script(first.split("/", 1)[1], Fault(status=429, retry_after=30))
    code, out = ask_json(capsys, "Summarise the plot of Hamlet in two lines.")
    assert code == 0
    reroutes = out["route"]["reroutes"]
    assert len(reroutes) == 1 and reroutes[0]["from"] == first and reroutes[0]["error"] == "429"
    assert out["model"] == reroutes[0]["to"] != first
    # The cooldown is honoured: the next routed turn avoids the rate-limited model.
    code, again = ask_json(capsys, "--no-cache", "Summarise the plot of Hamlet in two lines.")
    assert again["model"] != first and again["route"]["reroutes"] == []
    rerouted_line = run_cli(capsys, "route", "Summarise the plot of Hamlet in two lines.")[1]
    assert "cooling" in rerouted_line or "cooldown" in rerouted_line


def test_pinned_failure_is_shown_not_rerouted(capsys: pytest.CaptureFixture[str], configured: FakeServer) -> None:
    configured.script("gpt-4o-mini", Fault(status=500))
    code, out = ask_json(capsys, "-m", "openai/gpt-4o-mini", "hello")
    assert code == 1
    assert out["route"]["reroutes"] == []
    assert out["model"] == "openai/gpt-4o-mini"
    assert out["error"] and "500" in out["error"]
    assert out["status"] == "error"


def test_auth_failure_disables_provider_and_reroutes(capsys: pytest.CaptureFixture[str],
                                                     configured: FakeServer) -> None:
    code, decision, _ = run_cli(capsys, "route", "--json", "Write a haiku about autumn.")
    first = json.loads(decision)["model"]
    configured.script(first.split("/", 1)[1], Fault(status=401))
    code, out = ask_json(capsys, "Write a haiku about autumn.")
    assert code == 0
    assert out["route"]["reroutes"][0]["error"] == "401"
    provider = first.split("/", 1)[0]
    assert out["provider"] != provider or out["model"] != first
    code, models_out, _ = run_cli(capsys, "models", "--json")
    health = {m["id"]: m["health"] for m in json.loads(models_out)["models"]}
    assert health[first] and health[first].get("disabled")


def test_context_overflow_moves_to_a_larger_model(capsys: pytest.CaptureFixture[str], configured: FakeServer,
                                                  chatroute_home: Path) -> None:
    write_config(chatroute_home, configured, extra="""
[models."openai/gpt-4o-mini"]
context_window = 16000
[models."openai/gpt-4o"]
context_window = 32000
[models."anthropic/claude-haiku-4-5"]
context_window = 200000
""")
    code, decision, _ = run_cli(capsys, "route", "--json", "Tell me a joke.")
    first = json.loads(decision)["model"]
    configured.script(first.split("/", 1)[1], Fault.context_overflow())
    code, out = ask_json(capsys, "Tell me a joke.")
    windows = {"openai/gpt-4o-mini": 16000, "openai/gpt-4o": 32000, "anthropic/claude-haiku-4-5": 200000}
    if first == "anthropic/claude-haiku-4-5":
        assert code == 1  # nothing larger to move to
    else:
        assert code == 0
        assert windows[out["model"]] > windows[first]
        assert out["route"]["reroutes"][0]["kind"] == "context_overflow"


def test_mid_stream_drop_keeps_partial(capsys: pytest.CaptureFixture[str], configured: FakeServer,
                                       chatroute_home: Path) -> None:
    configured.script("gpt-4o", Drop(after_chunks=2))
    code, out = ask_json(capsys, "-m", "openai/gpt-4o", "Say four words")
    assert code == 1
    assert out["status"] == "interrupted"
    assert out["text"]  # the partial reply
    assert out["route"]["reroutes"] == []  # never rerouted after the first token
    with _db(chatroute_home) as db:
        row = db.execute("SELECT content, status FROM messages WHERE role='assistant'").fetchone()
        assert row["status"] == "interrupted" and row["content"] == out["text"]


def test_missing_usage_is_estimated_and_marked(capsys: pytest.CaptureFixture[str], configured: FakeServer) -> None:
    configured.script("gpt-4o-mini", Reply(text="no usage here", omit_usage=True))
    code, out = ask_json(capsys, "-m", "gpt-4o-mini", "hello there")
    assert code == 0
    assert out["tokens"]["estimated"] is True
    assert out["tokens"]["output"] > 0 and out["cost_usd"] > 0


def test_conversation_continues_with_history(capsys: pytest.CaptureFixture[str], configured: FakeServer) -> None:
    code, first = ask_json(capsys, "-m", "gpt-4o-mini", "My name is Ada.")
    code, second = ask_json(capsys, "-m", "gpt-4o-mini", "-c", first["conversation_id"], "What is my name?")
    assert code == 0 and second["conversation_id"] == first["conversation_id"]
    sent = configured.requests[-1].messages
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[0]["content"] == "My name is Ada."


def test_bad_config_is_one_line_exit_2(capsys: pytest.CaptureFixture[str], chatroute_home: Path) -> None:
    (chatroute_home / "config.toml").write_text('[router]\npreset = "cheap"\n', encoding="utf-8")
    code, out, err = run_cli(capsys, "ask", "hi")
    assert code == 2
    assert err.count("\n") == 1 and "config.toml:2" in err and "router.preset" in err


def test_unknown_model_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    # A priced provider knows its models (a loopback OpenAI-compatible one would accept any name).
    code, out, err = run_cli(capsys, "ask", "-m", "anthropic/claude-haiku-4-55", "hi")
    assert code == 2
    assert "claude-haiku-4-5" in err and "Traceback" not in err


def test_keys_never_reach_the_database(capsys: pytest.CaptureFixture[str], configured: FakeServer,
                                       chatroute_home: Path) -> None:
    configured.script("gpt-4o-mini", Fault(status=401, echo_key=True))
    code, out = ask_json(capsys, "-m", "gpt-4o-mini", "hi")
    assert code == 2 and OPENAI_KEY not in json.dumps(out)
    for path in chatroute_home.rglob("*"):
        if path.is_file():
            assert OPENAI_KEY.encode() not in path.read_bytes(), path


def test_a_system_prompt_given_to_an_existing_conversation_is_said_to_be_left(
        capsys: pytest.CaptureFixture[str], configured: FakeServer) -> None:
    """`-s` with `-c`: the conversation keeps its own system prompt (its turns were answered under
    it), and nothing said so, so the user believed the new one applied."""
    configured.script(Reply(text="first"))
    code, first = ask_json(capsys, "-s", "You are terse.", "hi")
    assert code == 0
    conv = first["conversation_id"]
    configured.script(Reply(text="second"))
    code, out, err = run_cli(capsys, "ask", "-c", conv, "-s", "You are a pirate.", "and now?")
    assert code == 0, err
    assert f"-s sets the system prompt of a new conversation; {conv} keeps its own" in err
    assert configured.requests[-1].messages[0] == {"role": "system", "content": "You are terse."}
    configured.script(Reply(text="third"))
    code, out, err = run_cli(capsys, "ask", "-c", conv, "-s", "You are terse.", "again")
    assert code == 0 and "warning" not in err  # the same prompt: nothing to say
