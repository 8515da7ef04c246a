"""Large pastes in the real TUI, driven as a user does: the terminal delivers a bracketed paste
(a Paste event), keys are pressed. A large paste stands in the composer as one placeholder
and is sent in full; a long prompt shows as a preview in the chat, when sent and when the
conversation is opened again, while copy, the store and the exports keep all of it; a refused
send keeps the paste in the composer."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from textual import events
from textual.pilot import Pilot
from textual.widgets import Input, Static

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.screens.chat import ChatScreen
from chatroute.tui.screens.dialogs import OverBudgetScreen
from chatroute.tui.widgets.composer import PASTE_MAX_CHARS, PASTE_MAX_LINES, Composer
from chatroute.tui.widgets.message import UserMessage
from tests.engine.helpers import ANTHROPIC_KEY, OPENAI_KEY, write_config
from tests.fakeserver import FakeServer, Reply
from tests.tui.helpers import answer_question, assistants, settle, type_and_send

SIZE = (120, 40)
LOG_LINE = "2024-05-01 12:00:00 INFO worker[42]: processed batch 17 of 90 in 0.42 s ok\n"
# 97.5 kB, 1,300 lines: well past both thresholds, and inside gpt-4o-mini's window.
LOG = LOG_LINE * 1300
LOG_PLACEHOLDER = "[pasted text #1: 97.5 kB, 1,300 lines]"


def _composer(app: ChatrouteApp) -> Composer:
    return app.screen.query_one(Composer)


async def _paste(pilot: Pilot, text: str) -> None:
    pilot.app.post_message(events.Paste(text))  # as the terminal driver delivers a bracketed paste
    await pilot.pause()


async def _type(pilot: Pilot, text: str) -> None:
    await pilot.press(*("space" if c == " " else c for c in text))


def _user_view(user: UserMessage) -> tuple[str, str | None]:
    """What the chat shows of a prompt: its text, and the note under it if there is one."""
    shown = str(user.query_one(".user-text", Static).render())
    notes = user.query(".user-more")
    return shown, (str(notes.first(Static).render()) if notes else None)


def _stored_prompts(engine: Engine, app: ChatrouteApp) -> list[str]:
    screen = app.screen
    assert isinstance(screen, ChatScreen) and screen.conversation_id
    return [m.content for m in engine.store.history(screen.conversation_id) if m.role == "user"]


async def test_a_large_paste_is_a_placeholder_and_is_sent_in_full(real_engine: Engine,
                                                                  fake_server: FakeServer) -> None:
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        composer = _composer(app)
        composer.focus()
        await _type(pilot, "Summarise this log: ")
        await _paste(pilot, LOG)
        assert composer.text == f"Summarise this log: {LOG_PLACEHOLDER}"
        assert composer.document.line_count == 1  # the editor never held the log
        assert "goes in full" in str(composer.border_subtitle)

        await _type(pilot, " thanks")  # after it
        await pilot.press("home")
        await _type(pilot, "Please. ")  # before it
        await pilot.press("end", *["left"] * 12)  # into the placeholder: typing goes after it
        await _type(pilot, "!")
        assert composer.text == f"Please. Summarise this log: {LOG_PLACEHOLDER}! thanks"

        await pilot.press("enter")
        await settle(pilot, app)
        sent = f"Please. Summarise this log: {LOG}! thanks"
        assert fake_server.requests[-1].messages[-1]["content"] == sent  # byte for byte
        assert _stored_prompts(real_engine, app) == [sent]
        [user] = app.screen.query(UserMessage)
        assert user.text == sent
        assert composer.text == "" and composer.pastes == {} and not composer.border_subtitle
        [answer] = assistants(app)
        assert answer.status not in ("error", "interrupted")
    await real_engine.aclose()


async def test_deleting_the_placeholder_drops_the_paste_and_undo_brings_it_back(
        real_engine: Engine, fake_server: FakeServer) -> None:
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        composer = _composer(app)
        composer.focus()
        await _type(pilot, "look ")
        await _paste(pilot, LOG)
        await pilot.press("backspace")  # one key removes all of it, not its "]"
        assert composer.text == "look " and composer.pastes == {}

        await pilot.press("ctrl+z")
        assert composer.text == f"look {LOG_PLACEHOLDER}" and list(composer.pastes.values()) == [LOG]
        await pilot.press("home", "right", "right", "right", "right", "right", "delete")  # from the other side
        assert composer.text == "look " and composer.pastes == {}

        await _type(pilot, "at nothing")
        await pilot.press("enter")
        await settle(pilot, app)
        assert fake_server.requests[-1].messages[-1]["content"] == "look at nothing"
        assert _stored_prompts(real_engine, app) == ["look at nothing"]
    await real_engine.aclose()


async def test_small_pastes_are_text_and_thresholds_hold(real_engine: Engine, fake_server: FakeServer) -> None:
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        composer = _composer(app)
        composer.focus()
        small = "def f(x):\n    return x\n"
        await _paste(pilot, small)
        assert composer.text == small and composer.pastes == {}

        composer.clear()
        at_limit = "x" * PASTE_MAX_CHARS
        await _paste(pilot, at_limit)
        assert composer.text == at_limit
        composer.clear()
        await _paste(pilot, at_limit + "x")
        assert composer.text == "[pasted text #1: 20.0 kB, 1 line]"
        composer.clear()
        many = "a\n" * PASTE_MAX_LINES
        await _paste(pilot, many)
        assert composer.text == many
        composer.clear()
        # Terminals send a paste's line breaks as CR; kept aside they become LF, as in the editor.
        await _paste(pilot, "b\r" * PASTE_MAX_LINES + "end")
        assert composer.text == "[pasted text #1: 803 B, 401 lines]"
        assert composer.prompt == "b\n" * PASTE_MAX_LINES + "end"
    await real_engine.aclose()


async def test_a_long_prompt_shows_a_preview_copy_and_exports_have_it_all(
        real_engine: Engine, fake_server: FakeServer, chatroute_home: Path) -> None:
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        _composer(app).focus()
        await _paste(pilot, LOG)
        await pilot.press("enter")
        await settle(pilot, app)
        [user] = app.screen.query(UserMessage)
        shown, note = _user_view(user)
        assert shown == LOG_LINE * 14 + LOG_LINE.rstrip("\n")  # the first 15 lines
        assert note == "… 1,285 more lines (97.5 kB) · c copies all of it"
        assert user.size.height < 20  # laid out as a preview, not 1,300 lines

        user.focus()
        await pilot.press("c")
        assert app.clipboard == LOG

        await pilot.press("ctrl+e")
        await settle(pilot, app)
        exported = sorted((chatroute_home / "exports").iterdir())
        assert [f.suffix for f in exported] == [".json", ".md"]
        # Markdown keeps each line a line (two spaces before each break); the JSON is exact.
        assert LOG in exported[1].read_text().replace("  \n", "\n")
        assert json.loads(exported[0].read_text())["messages"][0]["content"] == LOG

    # Opened again (a restart opens the latest conversation): the same preview, all the text.
    app2 = ChatrouteApp(real_engine)
    async with app2.run_test(size=SIZE) as pilot:
        await settle(pilot, app2)
        [user] = app2.screen.query(UserMessage)
        assert user.text == LOG
        assert _user_view(user) == (shown, note)
        assert user.size.height < 20
    await real_engine.aclose()


async def test_a_short_prompt_shows_whole_and_one_long_line_is_cut(real_engine: Engine) -> None:
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        text = "line\n" * UserMessage.PREVIEW_AFTER_LINES
        await type_and_send(pilot, text)
        _composer(app).focus()
        await _paste(pilot, "word " * 10_000)  # one 50 kB line, as minified JSON would be
        await pilot.press("enter")
        await settle(pilot, app)
        short, long = app.screen.query(UserMessage)
        assert _user_view(short) == (text.strip(), None)
        assert _user_view(long) == ("word " * 400, "… 48,000 more characters (50.0 kB) · c copies all of it")
        assert long.text == "word " * 10_000
    await real_engine.aclose()


# ---------------------------------------------------------------------------------------------
# A refused send keeps the paste

TINY_WINDOWS = "".join(f'[models."{m}"]\ncontext_window = {w}\n' for m, w in
                       (("openai/gpt-4o-mini", 1000), ("openai/gpt-4o", 1500), ("anthropic/claude-haiku-4-5", 2000)))


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", ANTHROPIC_KEY)


async def test_a_prompt_too_long_for_every_window_keeps_its_paste(chatroute_home: Path, fake_server: FakeServer,
                                                                 keys: None) -> None:
    write_config(chatroute_home, fake_server, extra=TINY_WINDOWS)
    engine = Engine.open()
    app = ChatrouteApp(engine, close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        composer = _composer(app)
        composer.focus()
        await _type(pilot, "summarise ")
        await _paste(pilot, LOG)
        await pilot.press("enter")
        await settle(pilot, app)
        assert any(str(n.message).startswith("Not sent: this prompt") for n in app._notifications)
        assert composer.text == f"summarise {LOG_PLACEHOLDER}"
        assert composer.prompt == f"summarise {LOG}"
        assert fake_server.requests == [] and not app.screen.query(UserMessage)

        # Cut down to what fits: the placeholder goes, the typed text is sent.
        await pilot.press("backspace")
        await _type(pilot, "nothing")
        await pilot.press("enter")
        await settle(pilot, app)
        assert fake_server.requests[-1].messages[-1]["content"] == "summarise nothing"


async def test_no_to_the_budget_question_keeps_the_paste_and_yes_sends_it(chatroute_home: Path,
                                                                         fake_server: FakeServer, keys: None) -> None:
    write_config(chatroute_home, fake_server, extra="[budget]\ndaily_usd = 0.0001\n")
    engine = Engine.open()
    app = ChatrouteApp(engine, close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        fake_server.script("gpt-4o-mini", Reply(text="spent", input_tokens=1000, output_tokens=1000))
        await type_and_send(pilot, "@gpt-4o-mini a pricey turn")  # a chosen model is never blocked
        requests = len(fake_server.requests)
        chat = app.screen
        composer = _composer(app)
        composer.focus()
        await _paste(pilot, LOG)
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, OverBudgetScreen)
        await answer_question(pilot, "n")
        await settle(pilot, app)
        assert app.screen is chat
        assert composer.text == LOG_PLACEHOLDER and composer.prompt == LOG
        assert len(fake_server.requests) == requests

        composer.focus()
        await pilot.press("enter")
        await settle(pilot, app)
        await answer_question(pilot, "y")
        await settle(pilot, app)
        assert fake_server.requests[-1].messages[-1]["content"] == LOG
        assert composer.text == "" and composer.pastes == {}


# The Trojan Source line: drawn as the terminal orders it, the override and the isolates make
# the end of the line read as part of the comment (or the comment as code).
TROJAN = "rm -rf ~/tmp/cache #\u202e\u2066 keep ~ safe\u2069\u2066"


async def test_pasted_bidi_controls_are_sent_as_pasted_but_not_drawn(real_engine: Engine,
                                                                      fake_server: FakeServer) -> None:
    """Before, the composer drew them raw, so the pasted line could read on screen in another
    order than it is sent; the chat already showed each as a marker once sent."""

    def drawn() -> str:
        return str(app.screen._compositor.render_full_update().render_segments(app.console))

    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        composer = _composer(app)
        composer.focus()
        await _paste(pilot, TROJAN)
        assert composer.text == TROJAN  # the editor holds what was pasted
        screen = drawn()
        assert not any(c in screen for c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"), \
            [hex(ord(c)) for c in screen if 0x202a <= ord(c) <= 0x2069]
        assert "rm -rf ~/tmp/cache # keep ~ safe" in screen  # in the order it is sent
        assert str(composer.border_subtitle) == "4 bidirectional controls <U+202E> <U+2066> <U+2069> sent, not drawn"
        # Moving over them and typing after them edits the prompt where it is drawn.
        await pilot.press("end")
        await _type(pilot, " ok")
        assert composer.text == TROJAN + " ok"

        await pilot.press("enter")
        await settle(pilot, app)
        assert _stored_prompts(real_engine, app) == [TROJAN + " ok"]
        assert fake_server.requests[-1].messages[-1]["content"] == TROJAN + " ok"  # what the model got
        assert composer.text == "" and str(composer.border_subtitle) == ""
    await real_engine.aclose()


BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


async def test_pasted_bidi_controls_are_not_drawn_by_the_one_line_inputs(real_engine: Engine,
                                                                         fake_server: FakeServer) -> None:
    """The history search, the rename box and the compare prompt drew a pasted line's
    bidirectional controls raw, so it read reordered, as the composer's did before. A search and
    a title never want them: dropped. A compare prompt is sent as written, as the composer's is:
    kept, not drawn."""

    def drawn() -> str:
        screen = str(app.screen._compositor.render_full_update().render_segments(app.console))
        return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", screen)  # its text only: styles split a line

    def undrawn(screen: str) -> list[str]:
        return [hex(ord(c)) for c in screen if c in BIDI]

    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "Tell me about lighthouses")
        await settle(pilot, app)
        cid = app.screen.conversation_id

        await pilot.press("ctrl+f")
        await pilot.pause()
        search = app.screen.query_one("#search", Input)
        assert search.has_focus
        await _paste(pilot, "cache \u202eabc\u2066 safe\u2069")
        screen = drawn()
        assert undrawn(screen) == [] and "cache abc safe" in screen
        assert search.value == "cache abc safe"
        assert search.cursor_position == len(search.value)
        await pilot.press("escape")
        await pilot.pause()

        await pilot.press("f2")
        await pilot.pause()
        field = app.screen.query_one("#prompt-input", Input)
        field.value = ""
        await _paste(pilot, "Notes \u202eabc\u202c v2")
        screen = drawn()
        assert undrawn(screen) == [] and "Notes abc v2" in screen
        await pilot.press("enter")
        await settle(pilot, app)
        conv = real_engine.store.get_conversation(cid)
        assert conv is not None and conv.title == "Notes abc v2"

        await pilot.press("f4")
        await pilot.pause()
        prompt = app.screen.query_one("#compare-prompt", Input)
        prompt.focus()
        prompt.value = ""
        await _paste(pilot, TROJAN)
        screen = drawn()
        assert undrawn(screen) == [] and "rm -rf ~/tmp/cache # keep ~ safe" in screen
        assert prompt.value == TROJAN  # sent as written, as the composer's prompt is
        # and, as the composer's border does, its border says they are there
        assert str(prompt.border_subtitle) == "4 bidirectional controls <U+202E> <U+2066> <U+2069> sent, not drawn"
        assert "sent, not drawn" in drawn()
        prompt.value = "plain"
        await pilot.pause()
        assert str(prompt.border_subtitle) == ""
    await real_engine.aclose()
