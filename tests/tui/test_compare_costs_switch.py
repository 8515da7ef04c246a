"""F4 and F5 switch between the compare and costs screens instead of stacking them: Escape
leads back to the chat. A started compare is kept underneath the costs. Real engine and store,
official SDKs, the fake provider."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input, SelectionList

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.screens.chat import ChatScreen
from chatroute.tui.screens.compare import CompareScreen
from chatroute.tui.screens.costs import CostsScreen
from tests.fakeserver import FakeServer, Reply
from tests.tui.helpers import compare_composer_text, settle

SIZE = (120, 40)
MODELS = ["openai/gpt-4o-mini", "openai/gpt-4o"]


def stack(app: ChatrouteApp) -> list[str]:
    return [type(s).__name__ for s in app.screen_stack]


def _back_as_left(app: ChatrouteApp, closed: CompareScreen, picked: list[str]) -> CompareScreen:
    """The compare F4 opened anew, with the models and prompt of the one closed."""
    again = app.screen
    assert isinstance(again, CompareScreen) and again is not closed
    assert sorted(again.query_one(SelectionList).selected) == picked
    assert again.query_one(Input).value == "Lisbon or Porto in May?"
    return again


async def _write_in_compare(pilot: Pilot, app: ChatrouteApp, models: list[str]) -> CompareScreen:
    """Open compare with `models` ticked and write its question in compare's own field, in place
    of whatever the composer had put there."""
    from tests.tui.helpers import open_compare_ticking

    compare = await open_compare_ticking(pilot, app, models)
    field = compare.query_one(Input)
    field.focus()
    field.value = ""
    await pilot.press(*"Lisbon or Porto in May?")
    return compare


async def test_f4_and_f5_replace_each_other_and_escape_returns_to_the_chat(
        real_engine: Engine, fake_server: FakeServer, chatroute_home: Path) -> None:
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("f5")
        await pilot.pause()
        assert isinstance(app.screen, CostsScreen)
        await pilot.press("f4")
        await pilot.pause()
        assert stack(app) == ["ChatScreen", "CompareScreen"]
        await pilot.press("f5")
        await pilot.pause()
        assert stack(app) == ["ChatScreen", "CostsScreen"]
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ChatScreen)


async def test_f5_over_a_started_compare_keeps_it_underneath(
        real_engine: Engine, fake_server: FakeServer, chatroute_home: Path) -> None:
    fake_server.script("gpt-4o-mini", Reply(text="Mini says May.", input_tokens=20, output_tokens=4))
    fake_server.script("gpt-4o", Reply(text="Four-o says September.", input_tokens=20, output_tokens=4))
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        compare = await compare_composer_text(pilot, app, "When to visit Lisbon?", MODELS)
        await settle(pilot, app)
        await pilot.press("f5")
        await pilot.pause()
        assert stack(app) == ["ChatScreen", "CompareScreen", "CostsScreen"]
        await pilot.press("f4")  # back to the same compare, its answers still there to pick
        await pilot.pause()
        assert app.screen is compare
        assert [c.text for c in compare.columns] == ["Mini says May.", "Four-o says September."]
        await pilot.press("escape")
        await settle(pilot, app)
        assert isinstance(app.screen, ChatScreen)


async def test_f5_then_f4_brings_back_the_compare_as_it_was_left(
        real_engine: Engine, fake_server: FakeServer, chatroute_home: Path) -> None:
    """F5 on a compare not yet started, then F4: the models ticked and the prompt rewritten in its
    field were dropped (the pool's default pair and the composer's text again)."""
    from chatroute.tui.widgets.composer import Composer

    picked = sorted(["openai/gpt-4o", "anthropic/claude-haiku-4-5"])  # not the default pair
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        app.screen.query_one(Composer).insert("When to visit Lisbon?")
        compare = await _write_in_compare(pilot, app, picked)
        await pilot.press("f5")
        await pilot.pause()
        assert stack(app) == ["ChatScreen", "CostsScreen"]
        for leave in ("f4", "escape"):  # straight back, or by way of the chat
            if leave == "escape":
                await pilot.press("f5")
                await pilot.pause()
                await pilot.press("escape")
                await pilot.pause()
                assert isinstance(app.screen, ChatScreen)
            await pilot.press("f4")
            await pilot.pause()
            compare = _back_as_left(app, compare, picked)
        # The composer's text is untouched, and a prompt written there since wins over the field.
        await pilot.press("f5")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        composer = app.screen.query_one(Composer)
        assert composer.text == "When to visit Lisbon?"
        composer.clear()
        composer.insert("Best pastry in Lisbon?")
        await pilot.press("f4")
        await pilot.pause()
        assert isinstance(app.screen, CompareScreen)
        assert app.screen.query_one(Input).value == "Best pastry in Lisbon?"
        assert sorted(app.screen.query_one(SelectionList).selected) == picked


async def test_esc_on_a_compare_not_started_then_f4_brings_it_back(
        real_engine: Engine, fake_server: FakeServer, chatroute_home: Path) -> None:
    """Esc on a compare not yet started dropped what was ticked and a question written in its own
    field (the composer empty): the next F4 opened the default pair and an empty prompt."""

    picked = sorted(["openai/gpt-4o", "anthropic/claude-haiku-4-5"])  # not the default pair
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        compare = await _write_in_compare(pilot, app, picked)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ChatScreen)
        await pilot.press("f4")
        await pilot.pause()
        _back_as_left(app, compare, picked)


async def test_a_question_written_in_a_compare_not_started_is_kept_by_ctrl_q(
        real_engine: Engine, fake_server: FakeServer, chatroute_home: Path) -> None:
    """With nothing in the composer, a question written in compare's own field was the only copy
    of it, and Ctrl+Q dropped it; the composer's draft is kept on quitting. Now it is that draft."""
    from chatroute.tui.widgets.composer import Composer

    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await _write_in_compare(pilot, app, MODELS)
        await pilot.press("ctrl+q")
    again = ChatrouteApp(real_engine)
    async with again.run_test(size=SIZE) as pilot:
        await settle(pilot, again)
        assert again.screen.query_one(Composer).text == "Lisbon or Porto in May?"


async def test_a_compare_question_is_kept_by_ctrl_q_beside_the_composers_own(
        real_engine: Engine, fake_server: FakeServer, chatroute_home: Path) -> None:
    """With text in the composer, a question rewritten in compare's own field was dropped by
    Ctrl+Q (f966a43 kept it only with the composer empty). Now the composer's text is the draft
    and the next F4 opens the compare with the question and the models it was left with."""
    from chatroute.tui.widgets.composer import Composer

    picked = sorted(["openai/gpt-4o", "anthropic/claude-haiku-4-5"])  # not the default pair
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        app.screen.query_one(Composer).insert("When to visit Lisbon?")
        compare = await _write_in_compare(pilot, app, picked)
        await pilot.press("ctrl+q")
    again = ChatrouteApp(real_engine)
    async with again.run_test(size=SIZE) as pilot:
        await settle(pilot, again)
        assert again.screen.query_one(Composer).text == "When to visit Lisbon?"
        await pilot.press("f4")
        await pilot.pause()
        _back_as_left(again, compare, picked)


async def test_a_compare_reopened_with_its_picks_keeps_their_tick_order(
        real_engine: Engine, fake_server: FakeServer, chatroute_home: Path) -> None:
    """The first open puts the answers in the order the models were ticked; reopened by F4 after
    Esc, its answers came in the pool's order instead."""
    from tests.tui.helpers import open_compare_ticking

    fake_server.script("gpt-4o", Reply(text="Four-o says September.", input_tokens=20, output_tokens=4))
    fake_server.script("claude-haiku-4-5", Reply(text="Haiku says May.", input_tokens=20, output_tokens=4))
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        ticked = ["openai/gpt-4o", "anthropic/claude-haiku-4-5"]
        compare = await open_compare_ticking(pilot, app, ticked)
        pool = [str(o.value) for o in compare.query_one(SelectionList).options]
        if pool.index(ticked[0]) < pool.index(ticked[1]):  # ticked against the pool's order
            ticked.reverse()
            compare.query_one(SelectionList).deselect_all()
            for model in ticked:
                compare.query_one(SelectionList).select(model)
        assert compare.selected() == ticked  # what a start now would put side by side
        compare.query_one(Input).focus()
        await pilot.press(*"Lisbon or Porto in May?")
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("f4")
        await pilot.pause()
        again = _back_as_left(app, compare, sorted(ticked))
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert [c.model for c in again.columns] == ticked
