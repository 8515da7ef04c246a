"""Closing compare without picking: the history sent afterwards is exactly the turns on screen,
in this run and after a restart. Real engine and store, official SDKs, the fake provider."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.screens.compare import CompareScreen
from chatroute.tui.widgets.composer import Composer
from chatroute.tui.widgets.message import MessageWidget
from tests.fakeserver import FakeServer, Reply
from tests.tui.helpers import compare_composer_text, settle, type_and_send

SIZE = (120, 40)
MODELS = ["openai/gpt-4o-mini", "openai/gpt-4o", "anthropic/claude-haiku-4-5"]


def on_screen(app: ChatrouteApp) -> list[str]:
    # an `@model ` prefix picks the model; the engine sends the rest
    return [w.text.removeprefix("@gpt-4o-mini ") for w in app.screen.query(MessageWidget) if w.text]


async def start_compare(pilot: Pilot, app: ChatrouteApp, models: list[str]) -> None:
    """One turn on gpt-4o-mini, then "When to visit Lisbon?" sent to `models` side by side."""
    await type_and_send(pilot, "@gpt-4o-mini hello")
    await compare_composer_text(pilot, app, "When to visit Lisbon?", models)


def sent_history(fake_server: FakeServer) -> list[str]:
    """The contents of the last request's messages, system prompt aside."""
    return [m["content"] for m in fake_server.requests[-1].messages if m["role"] != "system"]


async def test_esc_after_compare_keeps_history_equal_to_the_screen(
        real_engine: Engine, fake_server: FakeServer, chatroute_home: Path) -> None:
    fake_server.script("gpt-4o-mini", Reply(text="Mini says May.", input_tokens=20, output_tokens=4))
    fake_server.script("gpt-4o", Reply(text="Four-o says September.", input_tokens=20, output_tokens=4))
    fake_server.script("claude-haiku-4-5", Reply(text="Haiku says June.", input_tokens=20, output_tokens=4))
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        await start_compare(pilot, app, MODELS)
        await settle(pilot, app)
        await pilot.press("escape")
        await settle(pilot, app)
        shown = on_screen(app)
        await type_and_send(pilot, "@gpt-4o-mini and the weather?")
        await settle(pilot, app)
        # what the next turn carried as history is what was on screen before it
        assert sent_history(fake_server)[:-1] == shown
        after = on_screen(app)

    # after a restart, the same conversation shows the same turns
    app2 = ChatrouteApp(Engine.open())
    async with app2.run_test(size=SIZE) as pilot:
        await settle(pilot, app2)
        assert on_screen(app2) == after


async def test_esc_while_a_column_still_streams_closes_compare(
        real_engine: Engine, fake_server: FakeServer, chatroute_home: Path) -> None:
    """Esc mid-stream cancels the slow column and closes the screen, with no error; the next turn
    carries exactly what is on screen."""
    import asyncio

    fake_server.script("gpt-4o-mini", Reply(text="Mini says May.", input_tokens=20, output_tokens=4))
    fake_server.script("gpt-4o", Reply(text=" ".join(["slowly"] * 400), tokens_per_s=20.0))
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        await start_compare(pilot, app, MODELS[:2])
        for _ in range(200):  # until the slow column has started streaming
            await asyncio.sleep(0.02)
            if any("slowly" in c.text for c in app.screen.query("CompareColumn")):
                break
        await pilot.press("escape")
        await settle(pilot, app)
        assert not isinstance(app.screen, CompareScreen)
        shown = on_screen(app)
        await type_and_send(pilot, "@gpt-4o-mini and the weather?")
        await settle(pilot, app)
        assert sent_history(fake_server)[:-1] == shown


async def test_a_draft_compare_did_not_send_stays_in_the_composer(real_engine: Engine,
                                                                   fake_server: FakeServer) -> None:
    """F4 starts from the composer's text; a prompt rewritten in compare's own field is another
    question, and closing or picking cleared the composer's draft that was never sent."""
    from textual.widgets import Input

    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        draft = "A long draft I am still writing, not sent yet"
        app.screen.query_one(Composer).insert(draft)
        for leave in ("escape", "1"):
            await pilot.press("f4")
            await pilot.pause()
            assert isinstance(app.screen, CompareScreen)
            app.screen.query_one(Input).value = "A quick other question?"
            await pilot.press("ctrl+s")
            await settle(pilot, app)
            await pilot.press(leave)
            await settle(pilot, app)
            assert not isinstance(app.screen, CompareScreen)
            assert app.screen.query_one(Composer).text == draft, leave

        # Compared as it was written in the composer, it was sent: it leaves the composer.
        await pilot.press("f4")
        await pilot.pause()
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        await pilot.press("escape")
        await settle(pilot, app)
        assert app.screen.query_one(Composer).text == ""
