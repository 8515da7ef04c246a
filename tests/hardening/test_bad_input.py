"""Bad input: every case gets a clear message and loses nothing.

Each test first records an earlier turn, then feeds chatroute something bad — a broken or
misspelt config, a 1 MB prompt (command line, standard input, TUI paste), binary and invalid
UTF-8 prompts, invalid UTF-8 inside a provider's stream, a model nobody has, a base_url on a
closed port, a 40×12 terminal — and checks the message (one line, no traceback, the right exit
code) and the database: the earlier turn is intact, and the new prompt is either stored or was
refused before anything was written.
"""

from __future__ import annotations

import io
import json
import socket
import sqlite3
import sys
from pathlib import Path

import pytest
from textual import events

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.widgets.message import UserMessage
from tests.engine.helpers import ANTHROPIC_KEY, OPENAI_KEY, ask_json, run_cli, run_subprocess, write_config
from tests.fakeserver import FakeServer, Fault, Reply
from tests.tui.helpers import assistants, badge, settle, type_and_send

EARLIER = "an earlier question that must survive"
# A realistic large paste: a log, about 1 MB, many lines.
LOG_LINE = "2024-05-01 12:00:00 INFO worker[42]: processed batch 17 of 90 in 0.42 s ok\n"
MEGABYTE = (LOG_LINE * (1_000_000 // len(LOG_LINE) + 1))[:1_000_000]
KEYS_ENV = {"TEST_OPENAI_KEY": OPENAI_KEY, "TEST_ANTHROPIC_KEY": ANTHROPIC_KEY}
# A window that takes the megabyte, so it reaches the server (the catalogue's 200k does not).
ROOMY_HAIKU = '[models."anthropic/claude-haiku-4-5"]\ncontext_window = 1000000\n'
TINY_WINDOWS = "".join(f'[models."{m}"]\ncontext_window = {w}\n' for m, w in
                       (("openai/gpt-4o-mini", 1000), ("openai/gpt-4o", 1500), ("anthropic/claude-haiku-4-5", 2000)))


def _messages(home: Path) -> list[tuple[str, str, str]]:
    """(role, status, content) of every stored message, oldest first."""
    with sqlite3.connect(home / "chatroute.db") as db:
        return [tuple(r) for r in db.execute("SELECT role, status, content FROM messages ORDER BY seq")]


def _earlier_turn(capsys: pytest.CaptureFixture[str], home: Path) -> list[tuple[str, str, str]]:
    code, out = ask_json(capsys, "-m", "openai/gpt-4o-mini", EARLIER)
    assert code == 0 and out["status"] == "ok"
    before = _messages(home)
    assert [(m[0], m[1]) for m in before] == [("user", "complete"), ("assistant", "complete")]
    return before


def _conversation(home: Path) -> str:
    with sqlite3.connect(home / "chatroute.db") as db:
        [(cid,)] = db.execute("SELECT id FROM conversations").fetchall()
    return str(cid)


def _one_error_line(err: str) -> str:
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("chatroute: error:")]
    assert len(lines) == 1, err
    return lines[0]


# ---------------------------------------------------------------------------------------------
# Configuration


@pytest.mark.parametrize(("broken", "where", "says"), [
    # an unclosed array: TOML syntax
    ('pool = ["openai/gpt-4o-mini", "openai/gpt-4o"\npreset = "best"\n', 3, "TOML syntax error"),
    # a misspelt field in a known table
    ('colour = "red"\n', 2, "router.colour: unknown field"),
])
def test_broken_config_is_one_line_with_file_and_line(capsys: pytest.CaptureFixture[str], configured: FakeServer,
                                                      chatroute_home: Path, broken: str, where: int,
                                                      says: str, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _earlier_turn(capsys, chatroute_home)
    config = chatroute_home / "config.toml"
    good = config.read_text()
    router_line = good.splitlines().index("[router]") + 1
    config.write_text(good.replace("[router]\n", f"[router]\n{broken}", 1))
    # Standard input taken for the terminal the TUI needs (9be27fa: it refuses a pipe first).
    monkeypatch.setattr("sys.stdin", io.StringIO())
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    for args in (("ask", "a new prompt that is refused"), ("costs",), ()):  # () is the TUI
        code, out, err = run_cli(capsys, *args)
        assert code == 2 and out == "", args
        assert err.count("\n") == 1 and err.startswith("chatroute: error: "), err
        assert f"{config}:{router_line + where - 1}:" in err and says in err, err
    assert _messages(chatroute_home) == before  # refused before anything was written
    config.write_text(good)
    code, out = ask_json(capsys, "-c", _conversation(chatroute_home), "after the fix")
    assert code == 0 and len(configured.requests[-1].messages) == 3  # the history is still there


def test_unknown_top_level_table_and_misspelt_key_suggest_the_right_name(capsys: pytest.CaptureFixture[str],
                                                                         chatroute_home: Path) -> None:
    config = chatroute_home / "config.toml"
    config.write_text('[routerr]\npreset = "best"\n')
    code, _, err = run_cli(capsys, "ask", "hi")
    assert code == 2 and err.strip() == f"chatroute: error: {config}:1: routerr: unknown field (did you mean 'router'?)"
    config.write_text('[providers.openai]\nkind = "openai"\napi_kee = "sk-oops"\n')
    code, _, err = run_cli(capsys, "ask", "hi")
    assert code == 2 and f"{config}:3: providers.openai.api_kee: unknown field (did you mean 'api_key'?)" in err
    assert "sk-oops" not in err and err.count("\n") == 1
    assert not (chatroute_home / "chatroute.db").exists() or _messages(chatroute_home) == []


# ---------------------------------------------------------------------------------------------
# Prompts


def test_megabyte_prompt_on_stdin_is_refused_up_front_or_answered_where_it_fits(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path) -> None:
    before = _earlier_turn(capsys, chatroute_home)
    sent = len(configured.requests)
    # A real process: 1 MB cannot go through argv (Linux caps one argument at 128 KiB), so '-'.
    child = run_subprocess("ask", "--json", "-", env=KEYS_ENV, stdin=MEGABYTE.encode())
    # The log is ≈430k tokens and the largest window 200k: refused before anything is sent or stored.
    assert child.returncode == 2 and json.loads(child.stdout)["status"] == "error"
    line = _one_error_line(child.stderr.decode())
    assert line.startswith("chatroute: error: this prompt is about ") and line.endswith(
        "tokens; the largest context window is 200,000 (claude-haiku-4-5); shorten it")
    assert len(configured.requests) == sent and _messages(chatroute_home) == before

    # With a model whose window takes it, the same megabyte is answered and stored whole.
    write_config(chatroute_home, configured, extra=ROOMY_HAIKU)
    child = run_subprocess("ask", "--json", "-", env=KEYS_ENV, stdin=MEGABYTE.encode())
    assert child.returncode == 0, child.stderr
    out = json.loads(child.stdout)
    assert out["status"] == "ok" and out["text"].startswith("Echo from")
    assert out["model"] == "anthropic/claude-haiku-4-5"
    excluded = {c["model"]: c["excluded"] or "" for c in out["route"]["candidates"]}
    assert "context too small" in excluded["openai/gpt-4o-mini"] and "context too small" in excluded["openai/gpt-4o"]
    assert configured.requests[-1].messages[-1]["content"] == MEGABYTE
    after = _messages(chatroute_home)
    assert after[:2] == before and after[2] == ("user", "complete", MEGABYTE) and after[3][1] == "complete"


def test_megabyte_prompt_refused_by_the_server_is_a_clear_context_error(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    before = _earlier_turn(capsys, chatroute_home)
    write_config(chatroute_home, configured, extra=ROOMY_HAIKU)  # the catalogue lets it through...
    for model in ("gpt-4o-mini", "gpt-4o", "claude-haiku-4-5"):  # ...and the servers refuse it
        configured.script(model, Fault.context_overflow())
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(MEGABYTE.encode())))
    code, out, err = run_cli(capsys, "ask", "-")
    assert code == 1 and out == ""
    assert "context window" in _one_error_line(err)
    after = _messages(chatroute_home)
    assert after[:2] == before and after[2] == ("user", "complete", MEGABYTE) and after[3][1] == "error"


def test_prompt_past_every_context_window_is_one_line_exit_2(capsys: pytest.CaptureFixture[str],
                                                             configured: FakeServer, chatroute_home: Path) -> None:
    before = _earlier_turn(capsys, chatroute_home)
    sent = len(configured.requests)
    write_config(chatroute_home, configured, extra=TINY_WINDOWS)
    prompt = "Please summarise this. " + "word " * 3000  # ≈3,000 tokens: past 1,000, 1,500 and 2,000
    # Routed, pinned with -m, or continuing the conversation: refused before anything is sent or stored.
    # The history is windowed, so continuing changes nothing: the prompt alone is too large.
    for args, says in (
        ((), "the largest context window is 2,000 (claude-haiku-4-5)"),
        (("-m", "openai/gpt-4o-mini"), "the context window of gpt-4o-mini (chosen for this turn) is 1,000"),
        (("-c", _conversation(chatroute_home)), "this prompt is about 3,615 tokens; the largest context window"),
    ):
        code, out, err = run_cli(capsys, "ask", *args, prompt)
        line = _one_error_line(err)
        assert code == 2 and out == "" and says in line, (args, err)
        assert line.startswith("chatroute: error: this prompt is about") and line.endswith("shorten it")
    # `route` refuses the same way without calling anything.
    code, out, err = run_cli(capsys, "route", prompt)
    assert code == 2 and "largest context window is 2,000" in _one_error_line(err)
    assert len(configured.requests) == sent and _messages(chatroute_home) == before
    # A prompt that fits still goes through on the same config.
    code, answer = ask_json(capsys, "a short one")
    assert code == 0 and answer["status"] == "ok"


def test_binary_and_invalid_utf8_prompts(capsys: pytest.CaptureFixture[str], configured: FakeServer,
                                         chatroute_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _earlier_turn(capsys, chatroute_home)
    # argv bytes as a shell would pass them (NUL cannot be in argv); a real child process.
    argv = b"argv \xff\xfe\x01 garbage \xc3\x28 end"
    child = run_subprocess("ask", "-m", "openai/gpt-4o-mini", argv, env=KEYS_ENV)  # type: ignore[arg-type]
    assert child.returncode == 0, child.stderr
    expected_argv = "argv \ufffd\ufffd\x01 garbage \ufffd( end"  # the same U+FFFD as standard input gets
    assert configured.requests[-1].messages[-1]["content"] == expected_argv
    # Standard input: invalid UTF-8, NUL bytes and every other byte value.
    garbage = b"stdin \xff\xfe\x00\x01 garbage \xc3\x28 end " + bytes(range(256))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(garbage)))
    code, out, err = run_cli(capsys, "ask", "-m", "anthropic/claude-haiku-4-5", "-")
    assert code == 0 and "Traceback" not in err
    sent = configured.requests[-1].messages[-1]["content"]
    assert sent.startswith("stdin \ufffd\ufffd\x01 garbage \ufffd( end ") and "\x00" not in sent
    assert sent == garbage.decode("utf-8", "replace").replace("\x00", "")
    # Only NULs and blanks: refused, nothing written.
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"\x00\x00 \n\x00")))
    stored = _messages(chatroute_home)
    code, out, err = run_cli(capsys, "ask", "-")
    assert code == 2 and err == "chatroute: error: the prompt is empty\n"
    assert _messages(chatroute_home) == stored
    users = [m[2] for m in stored if m[0] == "user"]
    assert users == [EARLIER, expected_argv, sent] and stored[:2] == before


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"])
def test_invalid_utf8_in_the_provider_stream_keeps_the_partial_reply(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path, model: str) -> None:
    before = _earlier_turn(capsys, chatroute_home)
    configured.script(model.split("/")[1], Reply(text="good start and good end", raw_bytes=b"[\xff\xfe\xc3\x28]"))
    code, out = ask_json(capsys, "-m", model, "say something")
    assert code == 1 and out["status"] == "interrupted"
    assert out["text"] == "good " and "malformed" in out["error"]
    assert _messages(chatroute_home)[2:] == [("user", "complete", "say something"),
                                             ("assistant", "interrupted", "good ")]
    code, out = ask_json(capsys, "-m", model, "and again")  # the next turn is unaffected
    assert code == 0 and out["status"] == "ok" and _messages(chatroute_home)[:2] == before


def test_control_sequences_in_an_answer_never_reach_the_terminal(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # OSC 52 writes the clipboard, ESC[2J clears the screen, OSC 0 retitles the window.
    hostile = "safe \x1b]52;c;cHduZWQ=\x07text\x1b[2J \x1b]0;pwned\x07end\r\n"
    configured.script("gpt-4o-mini", Reply(text=hostile, chunk_words=False),
                      Reply(text=hostile, chunk_words=False))
    code, out, _ = run_cli(capsys, "ask", "-m", "openai/gpt-4o-mini", "--no-cache", "into a pipe")
    assert code == 0 and out == hostile  # a pipe or file gets exactly what the model sent
    with monkeypatch.context() as m:
        m.setattr(type(sys.stdout), "isatty", lambda self: True)
        code, out, _ = run_cli(capsys, "ask", "-m", "openai/gpt-4o-mini", "--no-cache", "onto a terminal")
    assert code == 0 and out == "safe text end\n"  # whole sequences gone, not just their ESC
    assert [m[2] for m in _messages(chatroute_home) if m[0] == "assistant"] == [hostile, hostile]  # stored as sent


def test_model_not_in_the_catalogue(capsys: pytest.CaptureFixture[str], configured: FakeServer,
                                    chatroute_home: Path) -> None:
    before = _earlier_turn(capsys, chatroute_home)
    sent = len(configured.requests)
    for model, says in (("nosuch/model", "provider 'nosuch' is not configured"),
                        ("nosuchmodel", "unknown model 'nosuchmodel'"),
                        ("anthropic/claude-nonexistent-9", "claude-nonexistent-9")):
        code, out, err = run_cli(capsys, "ask", "-m", model, "hello")
        assert code == 2 and out == "" and says in _one_error_line(err), (model, err)
    assert len(configured.requests) == sent and _messages(chatroute_home) == before


# ---------------------------------------------------------------------------------------------
# An unreachable provider


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_base_url_fails_over_and_pinned_turns_say_why(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path) -> None:
    before = _earlier_turn(capsys, chatroute_home)
    prompt = "List three prime numbers."
    first = json.loads(run_cli(capsys, "route", "--json", prompt)[1])["model"]
    down, _ = first.split("/", 1)
    config = chatroute_home / "config.toml"
    url = configured.openai_base_url if down == "openai" else configured.anthropic_base_url
    config.write_text(config.read_text().replace(f'"{url}"', f'"http://127.0.0.1:{_closed_port()}"', 1))

    # Routed: the turn goes to the other provider and the reroute is shown.
    code, out, err = run_cli(capsys, "ask", "--json", prompt)
    answer = json.loads(out)
    assert code == 0 and answer["status"] == "ok" and answer["provider"] != down and "Traceback" not in err
    assert answer["route"]["reroutes"][0]["from"] == first and answer["route"]["reroutes"][0]["error"] == "connection"
    assert f"{first.split('/')[1]} connection →" in err

    # Pinned: never silently replaced; one clear line, exit 1, the prompt kept.
    code, out, err = run_cli(capsys, "ask", "-m", first, "pinned to the dead server")
    line = _one_error_line(err)
    assert code == 1 and first in line and "connection failed" in line
    after = _messages(chatroute_home)
    assert after[:2] == before
    assert after[2:] == [("user", "complete", prompt), after[3], ("user", "complete", "pinned to the dead server"),
                         ("assistant", "error", "")]
    assert after[3][1] == "complete" and after[3][2]


# ---------------------------------------------------------------------------------------------
# The TUI


@pytest.fixture
def real_engine(chatroute_home: Path, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> Engine:
    for name, value in KEYS_ENV.items():
        monkeypatch.setenv(name, value)
    write_config(chatroute_home, fake_server)
    return Engine.open()


@pytest.fixture
def roomy_engine(chatroute_home: Path, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """A model whose window takes the megabyte: otherwise it is refused before sending
    (tests/tui/test_context_refusal.py)."""
    for name, value in KEYS_ENV.items():
        monkeypatch.setenv(name, value)
    write_config(chatroute_home, fake_server, extra=ROOMY_HAIKU)
    return Engine.open()


async def test_megabyte_paste_into_the_composer(roomy_engine: Engine, fake_server: FakeServer,
                                                chatroute_home: Path) -> None:
    real_engine = roomy_engine
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await type_and_send(pilot, EARLIER)
        composer = app.screen.query_one("#composer")
        composer.focus()
        app.post_message(events.Paste(MEGABYTE))  # as the terminal driver delivers a paste
        await pilot.pause()
        # Kept aside: the editor holds one placeholder, not a megabyte to lay out.
        assert composer.text == "[pasted text #1: 1.0 MB, 13,334 lines]"
        await pilot.press("enter")
        await settle(pilot, app)
        earlier, answer = assistants(app)
        assert answer.status not in ("error", "interrupted") and answer.text.startswith("Echo from")
        assert earlier.text.startswith("Echo from") and composer.text == ""
        user = app.screen.query(UserMessage).last()
        assert user.text == MEGABYTE and user.size.height < 20  # shown as a preview
    await real_engine.aclose()
    assert fake_server.requests[-1].messages[-1]["content"] == MEGABYTE
    users = [m for m in _messages(chatroute_home) if m[0] == "user"]
    assert [u[2] for u in users] == [EARLIER, MEGABYTE]


async def test_tiny_terminal_renders_and_chats(real_engine: Engine, fake_server: FakeServer) -> None:
    fake_server.script("gpt-4o-mini", Reply(text="Small **but** fine."))
    fake_server.script("gpt-4o", Fault(status=500))
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=(40, 12)) as pilot:
        await type_and_send(pilot, "@openai/gpt-4o-mini hello from a tiny terminal")
        await type_and_send(pilot, "@openai/gpt-4o and an error")
        await type_and_send(pilot, "@nosuch/model a prompt for nobody")
        ok, failed = assistants(app)
        assert "Small **but** fine." in ok.text and badge(ok).startswith("gpt-4o-mini")
        assert failed.status == "error"
        # Refused before it was sent or stored; the prompt stays in the composer to fix.
        notes = " ".join(str(n.message) for n in app._notifications)
        assert "unknown model 'nosuch/model'" in notes
        assert app.screen.query_one("#composer").text == "@nosuch/model a prompt for nobody"
        assert app.screen.query(UserMessage).last().text == "and an error"  # as stored: the prefix chose the model
        for key in ("f1", "escape", "f5", "escape", "ctrl+b", "ctrl+b"):  # help, costs, sidebar
            await pilot.press(key)
            await pilot.pause()
        screen = app.export_screenshot()
        assert "chatroute" in screen or "fine" in screen
    await real_engine.aclose()
    assert [r.model for r in fake_server.requests] == ["gpt-4o-mini", "gpt-4o"]
