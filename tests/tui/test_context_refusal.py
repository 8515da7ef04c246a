"""A prompt that fits no model's context window, typed into the real TUI: not sent, not
stored, kept in the composer, and a notice says why and what to do. A conversation that
outgrows every window is not refused: its oldest turns are left out of the request."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.widgets.badge import WhyPanel
from chatroute.tui.widgets.composer import Composer
from chatroute.tui.widgets.message import UserMessage
from tests.engine.helpers import ANTHROPIC_KEY, OPENAI_KEY, write_config
from tests.fakeserver import FakeServer
from tests.tui.helpers import assistants, settle, type_and_send

# Small windows keep the prompt (and the test) small.
TINY_WINDOWS = "".join(f'[models."{m}"]\ncontext_window = {w}\n' for m, w in
                       (("openai/gpt-4o-mini", 1000), ("openai/gpt-4o", 1500), ("anthropic/claude-haiku-4-5", 2000)))
TOO_LONG = "Please summarise this. " + "word " * 3000  # ≈3,000 tokens


@pytest.fixture
def tiny_engine(chatroute_home: Path, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", ANTHROPIC_KEY)
    write_config(chatroute_home, fake_server, extra=TINY_WINDOWS)
    return Engine.open()


def _notes(app: ChatrouteApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def test_too_long_prompt_stays_in_the_composer_with_a_notice(tiny_engine: Engine,
                                                                   fake_server: FakeServer) -> None:
    app = ChatrouteApp(tiny_engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await type_and_send(pilot, "a short question first")
        [first] = assistants(app)
        assert first.text.startswith("Echo from")
        sent = len(fake_server.requests)

        for text in (TOO_LONG, "@openai/gpt-4o-mini " + TOO_LONG):
            composer = app.screen.query_one(Composer)
            composer.clear()
            await type_and_send(pilot, text)
            assert composer.text == text  # nothing to retype
            assert len(assistants(app)) == 1 and app.screen.query(UserMessage).last().text == "a short question first"
        routed, pinned = [n for n in _notes(app) if n.startswith("Not sent: this prompt")]
        assert "the largest context window is 2,000 (claude-haiku-4-5)" in routed
        assert "the context window of gpt-4o-mini (chosen for this turn) is 1,000" in pinned
        # The history is windowed: only the prompt itself can be too large, so the advice is to shorten it.
        assert "shorten it" in routed and "new conversation" not in routed and "still in the composer" in routed

        # Shortened, it goes.
        app.screen.query_one(Composer).clear()
        await type_and_send(pilot, "Please summarise this. word word word")
        await settle(pilot, app)
        assert len(assistants(app)) == 2 and assistants(app)[-1].text.startswith("Echo from")
    await tiny_engine.aclose()
    assert len(fake_server.requests) == sent + 1
    stored = [m.content for c in tiny_engine.store.list_conversations() for m in tiny_engine.store.history(c.id)
              if m.role == "user"]
    assert stored == ["a short question first", "Please summarise this. word word word"]


def _long_turn(i: int) -> str:
    # ≈ 400 estimated tokens (was 140 points: their digits and the spaces after them weigh more
    # since the estimate counts numbers, and 140 made ≈ 560)
    return f"Topic {i}: " + " ".join(f"point{i}x{j}" for j in range(105))


async def test_a_conversation_past_every_window_goes_on_and_a_pin_bounds_what_is_sent(
        tiny_engine: Engine, fake_server: FakeServer) -> None:
    from rich.console import Console

    app = ChatrouteApp(tiny_engine)
    async with app.run_test(size=(120, 40)) as pilot:
        for i in range(8):  # ≈ 3,800 estimated tokens in all: past 1,000, 1,500 and 2,000
            await type_and_send(pilot, _long_turn(i))
        assert not [n for n in _notes(app) if n.startswith("Not sent")]
        assert len(assistants(app)) == 8 and all(a.text.startswith("Echo from") for a in assistants(app))
        routed = fake_server.requests[-1]
        assert 3 <= len(routed.messages) < 15 and routed.messages[-1]["content"] == _long_turn(7)
        # Every turn is still on screen, the oldest included.
        assert app.screen.query(UserMessage).first().text == _long_turn(0)

        await pilot.press("ctrl+o", "p")  # pin the first model of the pool
        await settle(pilot, app)
        [conv] = tiny_engine.store.list_conversations()
        assert tiny_engine.store.get_conversation(conv.id).pinned_model == "openai/gpt-4o-mini"
        await type_and_send(pilot, "and in one line?")
        pinned = fake_server.requests[-1]
        assert pinned.model == "gpt-4o-mini" and 1 < len(pinned.messages) < len(routed.messages)
        chars = sum(len(m["content"]) for m in pinned.messages)
        assert chars / 3.6 + 8 * len(pinned.messages) < 1000  # inside gpt-4o-mini's own window

        answer = assistants(app)[-1]
        answer.focus()
        await pilot.press("w")
        await pilot.pause()
        console = Console(width=200, record=True)
        console.print(answer.query_one(WhyPanel).content)
        why = console.export_text()
    kept = (len(pinned.messages) - 1) // 2
    assert f"note: sent the last {kept} of 8 turns (history budget" in why
    assert "what the context window of gpt-4o-mini leaves" in why
    await tiny_engine.aclose()
