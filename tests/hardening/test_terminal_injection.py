"""Hostile answers never drive the terminal.

A model's answer (or a provider's error) that carries OSC 52 (write the clipboard), OSC 0
(retitle the window) or CSI 2J (clear the screen) must not reach the terminal as a sequence,
in the TUI or from `chatroute ask` / `compare`. The real TUI runs on a pseudo-terminal and every
byte it writes is checked; the shared cleaner (`chatroute.safetext`) is unit-tested on its own,
and the TUI's data layer is checked to scrub everything it hands to widgets.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from chatroute.safetext import StreamCleaner, scrub, strip_terminal_controls
from chatroute.store.records import TurnRecord
from chatroute.turn_events import Delta, TurnFinished
from tests.engine.helpers import OPENAI_KEY, run_cli, run_subprocess, write_config
from tests.fakeserver import FakeServer, Fault, Reply
from tests.hardening.crash_support import REPO, PtyChild, chatroute_argv, wait_until

START_TIMEOUT = 30.0  # cold imports on a busy 2-core machine
CLIPBOARD = "\x1b]52;c;cHduZWQ=\x07"  # "pwned" into the clipboard
CLIPBOARD_ST = "\x1b]52;c;cHduZWQ=\x1b\\"  # the same, ended by ST instead of BEL
TITLE = "\x1b]0;PWNED TITLE\x07"  # a space inside: the fake server splits it across two deltas
CLEAR = "\x1b[2J"
UNICODE = "日本語 👍🏽 cafe\u0301"  # wide, emoji with a skin-tone modifier, e + combining acute
HOSTILE = (f"safe {CLIPBOARD}text{CLEAR} {TITLE}end {CLIPBOARD_ST}\x9b2J\x1bc bell\x07 {UNICODE} AFTERMARK")
CLEANED = f"safe text end  bell {UNICODE} AFTERMARK"
FORBIDDEN = ("\x1b]52", "cHduZWQ", "PWNED", "\x1b[2J", "\x9b", "\x1bc")


# ---------------------------------------------------------------------------------------------
# The cleaner


@pytest.mark.parametrize(("raw", "clean"), [
    (HOSTILE, CLEANED),
    ("a\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\b", "alinkb"),  # OSC 8 hyperlink, ST-terminated
    ("a\x1bPq#0;2;0;0;0\x1b\\b", "ab"),  # DCS (sixel)
    ("a\x1b_Gf=100;AAAA\x1b\\b", "ab"),  # APC (kitty graphics)
    ("a\x1b[31;1mred\x1b[0m\x1b[?1049h\x1b[10;1Hb", "aredb"),  # SGR, private mode, cursor move
    ("a\x1b(0b\x1b7c\x1b8", "abc"),  # charset switch, save/restore cursor
    ("a\x9d0;t\x9cb\x9b31mc", "abc"),  # 8-bit C1 OSC and CSI
    ("line\r\nnext\ttab\x00\x08\x7f", "line\nnext\ttab"),  # controls other than \n and \t
    ("a\x1b]0;never ended", "a0;never ended"),  # an unterminated string: introducer gone, text kept
    ("\u05e9\u05dc\u05d5\u05dd e\u0301 \U0001f469\u200d\U0001f4bb \u3000 \u200f", None),  # kept as is
    # A bidi override is shown, not obeyed (Trojan Source; test_bidi_controls.py); the letters are kept.
    ("\u05e9\u05dc\u05d5\u05dd \u202e e\u0301", "\u05e9\u05dc\u05d5\u05dd <U+202E> e\u0301"),
])
def test_the_cleaner_removes_whole_sequences_and_keeps_printable_unicode(raw: str, clean: str | None) -> None:
    assert strip_terminal_controls(raw) == (raw if clean is None else clean)


def test_a_sequence_split_across_deltas_is_removed_whole() -> None:
    whole = strip_terminal_controls(HOSTILE)
    for cut in range(len(HOSTILE) + 1):
        cleaner = StreamCleaner()
        shown = cleaner.feed(HOSTILE[:cut]) + cleaner.feed(HOSTILE[cut:]) + cleaner.flush()
        assert shown == whole, cut
        assert not any(bad in cleaner.feed(HOSTILE[:cut]) for bad in ("\x1b", "\x9b", "\x07"))
    one_by_one = StreamCleaner()
    assert "".join(one_by_one.feed(ch) for ch in HOSTILE) + one_by_one.flush() == whole


def test_a_stray_escape_does_not_hold_the_stream_back_for_ever() -> None:
    cleaner = StreamCleaner()
    shown = cleaner.feed("start \x1b]0;") + cleaner.feed("x" * 20_000)
    assert shown.startswith("start 0;xxx") and "\x1b" not in shown


def test_scrub_reaches_into_records_and_events() -> None:
    record = TurnRecord(conversation_id="c", message_id="m", model=f"evil{TITLE}", provider="openai",
                        error=f"boom {CLEAR}", route={"reason": f"why{CLIPBOARD}", "candidates": [{"model": TITLE}]})
    event = scrub(TurnFinished(record=record, text=HOSTILE, error=f"x{CLEAR}"))
    assert event.text == CLEANED and event.error == "x"
    assert (event.record.model, event.record.error) == ("evil", "boom ")
    assert event.record.route == {"reason": "why", "candidates": [{"model": ""}]}
    assert record.model == f"evil{TITLE}"  # the original is not changed
    clean = Delta(text="nothing to do")
    assert scrub(clean) is clean


def test_the_tui_backend_scrubs_what_it_reads_from_a_real_store(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from chatroute.store import Store
    from chatroute.tui.data import Backend, Branch, conv_title, error_line, msg_text

    store = Store.open(tmp_path / "chatroute.db")
    try:
        conv = store.create_conversation(title=f"title {TITLE}")
        user = store.add_message(conv.id, "user", f"question {CLEAR}")
        answer = store.add_message(conv.id, "assistant", HOSTILE, parent_id=user.id)
        store.add_turn(TurnRecord(conversation_id=conv.id, message_id=answer.id, model=f"m{CLIPBOARD}",
                                  provider="openai", error=f"e{TITLE}"))
        backend = Backend(SimpleNamespace(store=store))
        assert [conv_title(c) for c in backend.conversations()] == ["title "]
        branch = Branch(backend, conv.id)
        page = branch.page(0, len(branch))
        assert [msg_text(m) for m, _, _ in page] == ["question ", CLEANED]
        assert (page[1][1].model, page[1][1].error) == ("m", "e")
        # A search snippet may start inside a sequence (its payload then reads as text), but no
        # control character is left in it.
        hits = backend.search("AFTERMARK")
        assert hits and not any(ch in hit.snippet for hit in hits for ch in ("\x1b", "\x9b", "\x07"))
        assert error_line(RuntimeError(f"provider said {CLEAR}{TITLE}")) == "provider said "
        # The database keeps exactly what was sent.
        assert store.get_message(answer.id).content == HOSTILE
    finally:
        store.close()


# ---------------------------------------------------------------------------------------------
# The real TUI on a pseudo-terminal


def _leaks(screen: str) -> list[str]:
    return [bad for bad in FORBIDDEN if bad in screen]


def _send(tui: PtyChild, prompt: str) -> None:
    """Type a prompt, wait for the composer to echo it (the keys arrived), then press Enter."""
    tui.type(prompt)
    wait_until(lambda: prompt in tui.output(), 10, f"{prompt!r} on screen", alive=tui.exited)
    tui.type("\r")


def test_hostile_answers_and_errors_never_reach_the_terminal_through_the_tui(
        mini_env: dict[str, str], fake_server: FakeServer) -> None:
    fake_server.script("gpt-4o-mini", Reply(text=HOSTILE),
                       Fault(status=400, message=f"bad request{CLIPBOARD} {TITLE}{CLEAR} ERRMARK"))
    tui = PtyChild(chatroute_argv(), env=mini_env, cwd=REPO, cols=110, rows=34)
    try:
        wait_until(lambda: "preset:" in tui.output(), START_TIMEOUT, "the TUI's first screen", alive=tui.exited)
        start = tui.output_size()
        _send(tui, "first question")
        wait_until(lambda: "AFTERMARK" in tui.output(), 20, "the streamed answer", alive=tui.exited)
        _send(tui, "second question")
        wait_until(lambda: "ERRMARK" in tui.output(), 20, "the provider's error line", alive=tui.exited)
        screen = tui.output()[start:]
    finally:
        tui.close()
    assert _leaks(screen) == []
    assert "日本語" in screen and "e\u0301" in screen  # printable Unicode is shown as sent

    # Reopened: the stored answer and error are rendered from the database, scrubbed the same way.
    again = PtyChild(chatroute_argv(), env=mini_env, cwd=REPO, cols=110, rows=34)
    try:
        wait_until(lambda: "AFTERMARK" in again.output() and "ERRMARK" in again.output(), START_TIMEOUT,
                   "the stored answer on the reopened TUI", alive=again.exited)
        reopened = again.output()
    finally:
        again.close()
    assert _leaks(reopened) == []


# ---------------------------------------------------------------------------------------------
# The command line


def test_tables_on_the_command_line_never_carry_escape_sequences(
        capsys: pytest.CaptureFixture[str], configured: FakeServer) -> None:
    # A conversation's title is its first prompt: here one pasted from a terminal, with a sequence.
    code, out, err = run_cli(capsys, "ask", "-m", "openai/gpt-4o-mini", f"why {TITLE}is this red")
    assert code == 0, err
    code, out, err = run_cli(capsys, "costs", "--by", "conversation")
    assert code == 0, err
    assert "why is this red" in out and not _leaks(out)


def _on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """stdout and stderr report a terminal (capsys gives both the same stream type)."""
    monkeypatch.setattr(type(sys.stdout), "isatty", lambda self: True)
    monkeypatch.setattr(type(sys.stderr), "isatty", lambda self: True)


def test_csv_costs_clean_titles_on_a_terminal_and_keep_them_into_a_file(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    prompt = f"why {TITLE}is this red"
    code, out, err = run_cli(capsys, "ask", "-m", "openai/gpt-4o-mini", prompt)
    assert code == 0, err
    code, out, err = run_cli(capsys, "costs", "--by", "conversation", "--format", "csv")
    assert code == 0, err
    assert [row[0] for row in csv.reader(io.StringIO(out))][1:] == [prompt]  # a file gets the title as written
    with monkeypatch.context() as m:
        _on_a_terminal(m)
        code, out, err = run_cli(capsys, "costs", "--by", "conversation", "--format", "csv")
    assert code == 0, err
    assert "why is this red" in out and not _leaks(out)


def test_names_from_the_config_never_reach_the_terminal(
        capsys: pytest.CaptureFixture[str], chatroute_home: Path, fake_server: FakeServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", "sk-ant")
    # TOML writes ESC and BEL as \u escapes inside quoted keys and strings.
    evil = "\\u001b]0;PWNED TITLE\\u0007"
    write_config(chatroute_home, fake_server, extra=f"""
[providers."ev{evil}il"]
kind = "openai"
base_url = "http://example.invalid:9/v1"
api_key_env = "TEST_OPENAI_KEY"

[ui]
baseline_model = "openai/base{evil}line"
""")
    code, out, err = run_cli(capsys, "ask", "-m", "openai/gpt-4o-mini", "hello")
    assert code == 0, err
    _on_a_terminal(monkeypatch)
    code, out, err = run_cli(capsys, "route", "hello")
    assert code == 0, err
    assert "providers.evil: base_url" in err and not _leaks(err)  # the config's warning, cleaned
    code, out, err = run_cli(capsys, "costs")
    assert code == 0, err
    verdict = out.strip().splitlines()[-1]  # it names the baseline
    assert "baseline" in verdict and not _leaks(out)


@pytest.mark.parametrize("argv", [
    ["ask", f"--bogus{CLIPBOARD}{CLEAR}"],  # a subcommand's unknown option, quoted as typed
    [f"--bogus{CLEAR}"],  # the top-level parser's (no command: the TUI)
    ["costs", "--by", "day", f"stray{CLIPBOARD}"],  # an extra argument
])
def test_a_usage_error_never_carries_the_arguments_escapes(
        argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    _on_a_terminal(monkeypatch)
    with pytest.raises(SystemExit) as exited:
        run_cli(capsys, *argv)
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "error: unrecognized arguments: " in err, err
    assert not _leaks(err) and "\x1b" not in err and "\x07" not in err, repr(err)


def test_a_file_names_escapes_never_reach_the_terminal(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A feed or a labelled file is named on the command line, perhaps by a glob over files from
    elsewhere: `prices update` says the name as it fetches, `prices show` and `models` say it on
    every run after, `eval` as it scores and in its error."""
    from tests.catalog.helpers import make_feed

    feed = tmp_path / f"feed{TITLE}{CLEAR}.json"
    feed.write_text(json.dumps(make_feed()), encoding="utf-8")
    labelled = tmp_path / f"rows{CLIPBOARD}.jsonl"
    labelled.write_text('{"turns": ["x"], "scores": {"a": 1}}\n', encoding="utf-8")
    _on_a_terminal(monkeypatch)
    code, out, err = run_cli(capsys, "prices", "update", "--from", str(feed))
    assert code == 0, err
    assert "fetching prices from " in err and not _leaks(err), repr(err)
    for args in (["prices", "show"], ["models"]):
        code, out, err = run_cli(capsys, *args)
        assert code == 0, err
        assert "refreshed" in out and f"{tmp_path}/feed" in out and not _leaks(out), (args, out)
    code, out, err = run_cli(capsys, "eval", str(labelled))
    assert code == 2 and "no dataset had two prompts" in err, err
    assert "scoring rows" in err and not _leaks(err), repr(err)


C1_AND_DEL = "日本語 csi\x9b2J del\x7f dcs\x90q\x9c osc\x9d0;t\x9c end"


def test_json_output_escapes_c1_controls_and_parses_to_the_same_text(
        capsys: pytest.CaptureFixture[str], configured: FakeServer) -> None:
    configured.script("gpt-4o-mini", Reply(text=C1_AND_DEL, chunk_words=False))
    configured.script("gpt-4o", Reply(text=C1_AND_DEL, chunk_words=False))
    code, out, err = run_cli(capsys, "ask", "--json", "--no-cache", "-m", "openai/gpt-4o-mini", "q")
    assert code == 0, err
    assert json.loads(out)["text"] == C1_AND_DEL and "日本語" in out  # the same value; other text kept readable
    assert not re.search("[\x7f-\x9f]", out) and "\\u009b" in out
    configured.script("gpt-4o-mini", Reply(text=C1_AND_DEL, chunk_words=False))
    code, out, err = run_cli(capsys, "compare", "--jsonl", "-m", "openai/gpt-4o-mini", "-m", "openai/gpt-4o", "q")
    assert code == 0, err
    assert [json.loads(line)["text"] for line in out.splitlines()] == [C1_AND_DEL, C1_AND_DEL]
    assert not re.search("[\x7f-\x9f]", out)


# ---------------------------------------------------------------------------------------------
# The user's own text in the TUI: a prompt stored by `ask`, a paste


def _rendered(app: Any) -> str:
    """Every byte the app would write for a full redraw of its screen."""
    return str(app.screen._compositor.render_full_update().render_segments(app.console))


async def test_a_stored_prompt_and_a_paste_never_drive_the_terminal(
        chatroute_home: Path, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from textual import events

    from chatroute.engine import Engine
    from chatroute.tui.app import ChatrouteApp
    from chatroute.tui.widgets.composer import Composer
    from tests.tui.helpers import settle

    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    write_config(chatroute_home, fake_server, pool=["openai/gpt-4o-mini"])
    # `ask` takes its argument as it is, escapes included, and stores it.
    done = run_subprocess("ask", f"ASKMARK {TITLE} {CLIPBOARD}{CLEAR} asked")
    assert done.returncode == 0, done.stderr.decode()
    app = ChatrouteApp(Engine.open(), close_engine=True)
    async with app.run_test(size=(110, 30)) as pilot:
        await settle(pilot, app)
        opened = _rendered(app)
        composer = app.screen.query_one("#composer", Composer)
        composer.focus()
        app.post_message(events.Paste(f"PASTEMARK \x1b[31mred\x1b[0m {TITLE}{CLEAR}\x1b[?1049l pasted"))
        await settle(pilot, app)
        pasted = _rendered(app)
        assert composer.text == "PASTEMARK red  pasted"
        await pilot.press("enter")
        await settle(pilot, app)
        sent = _rendered(app)
    assert "ASKMARK" in opened and "PASTEMARK" in pasted and "PASTEMARK red  pasted" in sent
    for screen in (opened, pasted, sent):
        assert _leaks(screen) == [] and "\x1b[?1049l" not in screen
    assert fake_server.requests[-1].body["messages"][-1]["content"] == "PASTEMARK red  pasted"


def test_compare_headers_never_carry_a_configured_model_ids_escapes(
        capsys: pytest.CaptureFixture[str], chatroute_home: Path, fake_server: FakeServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", "sk-ant")
    evil = "gpt\\u001b]0;PWNED TITLE\\u0007\\u202ex"  # TOML's escapes: ESC, BEL, a bidi override
    write_config(chatroute_home, fake_server, pool=["openai/gpt-4o-mini", f"openai/{evil}"], extra=f"""
[models."openai/{evil}"]
input_cost_per_mtok = 1.0
output_cost_per_mtok = 1.0
context_window = 100000
""")
    model = "openai/gpt\x1b]0;PWNED TITLE\x07\u202ex"
    _on_a_terminal(monkeypatch)
    code, out, err = run_cli(capsys, "compare", "-m", "openai/gpt-4o-mini", "-m", model, "hello")
    assert code == 0, err
    assert "━━ openai/gpt<U+202E>x ━" in out and not _leaks(out + err) and "\u202e" not in out
