"""Bidirectional controls in outside text are shown, not obeyed ("Trojan Source").

An answer whose code block carries U+202E (right-to-left override) or an isolate reads on a
terminal in another order than it runs: `rm -rf ~ #<RLO>stuff` can show as a harmless comment.
Wherever outside text reaches a terminal (the TUI's chat and compare panes, `ask` and
`compare` on a terminal, error lines) each embedding, override and isolate is shown as a marker,
`<U+202E>`, so what a user copies from is what they saw; right-to-left letters, and the marks
U+200E, U+200F and U+061C, are shown as written. Into a pipe, the database and the exports the
text is exact; `--json` writes the controls as \\u escapes (the same value, parsed).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from chatroute.safetext import StreamCleaner, strip_terminal_controls
from tests.engine.helpers import run_cli, run_subprocess, write_config
from tests.fakeserver import FakeServer, Fault, Reply
from tests.hardening.crash_support import REPO, PtyChild, chatroute_argv, wait_until

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
MARKED = "<U+202A><U+202B><U+202C><U+202D><U+202E><U+2066><U+2067><U+2068><U+2069>"
HEBREW = "\u05e9\u05dc\u05d5\u05dd"  # shalom
ARABIC = "\u0645\u0631\u062d\u0628\u0627"  # marhaba
MARKS = "\u200e\u200f\u061c"  # LRM, RLM, ALM: kept
# The Trojan Source example, as a shell line: an RLO then a PDI-closed isolate hide the order.
TROJAN = "```sh\nrm -rf ~/tmp/cache #\u202e\u2066 keep ~ safe\u2069\u2066\n```"
ANSWER = f"{HEBREW} and {ARABIC}{MARKS} fine.\n\nRun this:\n\n{TROJAN}\n\nDone \u202eTRAILMARK"


def test_each_embedding_override_and_isolate_becomes_a_marker() -> None:
    assert strip_terminal_controls(f"a{BIDI}b") == f"a{MARKED}b"
    # Right-to-left letters and the bidi marks are text, as written.
    prose = f"{HEBREW} {ARABIC} {MARKS} cafe\u0301"
    assert strip_terminal_controls(prose) is prose
    # With escapes around: both cleaned in one pass.
    assert strip_terminal_controls("x\x1b]0;T\x07\u202ey") == "x<U+202E>y"
    # The composer keeps a paste's controls (the user's own prompt, sent as written).
    assert strip_terminal_controls("p\u202eq\x1b[2J", mark_bidi=False) == "p\u202eq"


def test_a_streamed_answer_shows_every_control_as_a_marker() -> None:
    whole = strip_terminal_controls(ANSWER)
    assert not any(ch in whole for ch in BIDI) and "<U+202E>" in whole and HEBREW in whole
    cleaner = StreamCleaner()
    assert "".join(cleaner.feed(ch) for ch in ANSWER) + cleaner.flush() == whole


def _ask_on_a_terminal(env: dict[str, str], prompt: str, mark: str) -> str:
    """What `chatroute ask` wrote on a pseudo-terminal, once it has exited with `mark` shown."""
    tty = PtyChild(chatroute_argv("ask", "--no-cache", "-m", "openai/gpt-4o-mini", prompt), env=env, cwd=REPO)
    try:
        wait_until(lambda: tty.exited() and mark in tty.output(), 30, f"{mark} from ask on the terminal")
        return tty.output()
    finally:
        tty.close()


def test_ask_on_a_terminal_shows_markers_and_into_a_pipe_the_exact_answer(
        mini_env: dict[str, str], fake_server: FakeServer) -> None:
    fake_server.script("gpt-4o-mini", Reply(text=ANSWER), Reply(text=ANSWER),
                       Fault(status=400, message="bad \u202eERRMARK"))
    screen = _ask_on_a_terminal(mini_env, "q1", "TRAILMARK")
    assert not any(ch in screen for ch in BIDI), [hex(ord(ch)) for ch in screen if ch in BIDI]
    assert "#<U+202E><U+2066> keep ~ safe<U+2069><U+2066>" in screen
    assert f"{HEBREW} and {ARABIC}{MARKS} fine" in screen  # right-to-left text as written

    piped = run_subprocess("ask", "--no-cache", "-m", "openai/gpt-4o-mini", "q2")
    assert piped.returncode == 0, piped.stderr.decode()
    assert piped.stdout.decode().rstrip("\n") == ANSWER  # a script gets what the model sent

    # A provider's error on the terminal too.
    err = _ask_on_a_terminal(mini_env, "q3", "ERRMARK")
    assert "bad <U+202E>ERRMARK" in err and "\u202e" not in err


def test_json_escapes_the_controls_and_parses_to_the_same_text(
        capsys: pytest.CaptureFixture[str], mini_env: dict[str, str], fake_server: FakeServer) -> None:
    fake_server.script("gpt-4o-mini", Reply(text=ANSWER))
    code, out, err = run_cli(capsys, "ask", "--json", "--no-cache", "-m", "openai/gpt-4o-mini", "q")
    assert code == 0, err
    assert json.loads(out)["text"] == ANSWER
    assert not any(ch in out for ch in BIDI) and "\\u202e" in out and HEBREW in out


async def test_the_tui_shows_markers_in_the_chat_and_compare_and_copies_what_it_showed(
        mini_env: dict[str, str], fake_server: FakeServer, chatroute_home: Path) -> None:
    from chatroute.engine import Engine
    from chatroute.tui.app import ChatrouteApp
    from tests.tui.helpers import assistants, compare_composer_text, settle, type_and_send, until

    def rendered(app: ChatrouteApp) -> str:
        return str(app.screen._compositor.render_full_update().render_segments(app.console))

    # Compare needs two models to offer (F4 with one says so instead of opening).
    write_config(chatroute_home, fake_server, pool=["openai/gpt-4o-mini", "openai/gpt-4o"])
    fake_server.script("gpt-4o-mini", Reply(text=ANSWER), Reply(text=ANSWER))
    fake_server.script("gpt-4o", Reply(text=ANSWER), Reply(text=ANSWER))
    app = ChatrouteApp(Engine.open(), close_engine=True)
    async with app.run_test(size=(110, 40)) as pilot:
        await type_and_send(pilot, "tell me")
        screen = rendered(app)
        [msg] = assistants(app)
        msg.focus()
        await pilot.press("c")
        copied = app.clipboard
        store_text = app.engine.store.get_message(msg.message_id).content
        compare = await compare_composer_text(pilot, app, "compare me", ["openai/gpt-4o-mini", "openai/gpt-4o"])
        await settle(pilot, app)
        await until(pilot, lambda: "TRAILMARK" in rendered(app), "the compare panes' answers")
        panes = rendered(app)
        assert compare is app.screen
    for drawn in (screen, panes):
        assert not any(ch in drawn for ch in BIDI), [hex(ord(ch)) for ch in drawn if ch in BIDI]
        shown = re.sub(r"\x1b\[[0-9;]*[mH]", "", drawn)  # the text, without its colours
        assert "cache #<U+202E><U+2066> keep ~" in shown and "safe<U+2069><U+2066>" in shown  # the code block
        assert re.search(r"\x1b\[7;[0-9;]*m<U\+202E>", drawn)  # in the code block, drawn in reverse
        assert "<U+202E>TRAILMARK" in shown and HEBREW in shown and ARABIC in shown
    assert copied == strip_terminal_controls(ANSWER)  # c copies what was shown: the markers
    assert store_text == ANSWER  # the database keeps what the model sent


def test_a_marker_in_prose_is_drawn_as_inline_code() -> None:
    from chatroute.tui.markdown.parser import answer_parser

    [_, inline, _] = answer_parser().parse(strip_terminal_controls("Done \u202eTRAILMARK *and* `a\u2066b`"))
    assert [(t.type, t.content) for t in inline.children] == [
        ("text", "Done "), ("code_inline", "<U+202E>"), ("text", "TRAILMARK "), ("em_open", ""), ("text", "and"),
        ("em_close", ""), ("text", " "), ("code_inline", "a<U+2066>b")]
