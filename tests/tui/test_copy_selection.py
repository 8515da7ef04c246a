"""Ctrl+C copies text selected with the mouse when nothing streams, as the README and the help
say ('Ctrl+C copies a selection when nothing streams'). The chat's and compare's own Ctrl+C
(stop the answer) replaced Textual's screen binding for the key, so with nothing streaming it
fell through to the app's: 'Press ctrl+q to quit the app', and nothing was copied."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widget import Widget

from chatroute.tui.app import ChatrouteApp
from chatroute.tui.widgets.message import AssistantMessage
from tests.tui.fake_engine import FakeEngine, FakeStore, seed_conversation
from tests.tui.helpers import settle

SIZE = (120, 40)


async def _drag_over(pilot: Pilot, widget: Widget, cells: int) -> str:
    """Select the first `cells` cells of `widget`'s first line as a mouse drag does."""
    await pilot.mouse_down(widget, offset=(0, 0))
    await pilot.hover(widget, offset=(cells, 0))
    await pilot.mouse_up(widget, offset=(cells, 0))
    await settle(pilot, pilot.app)
    selected = pilot.app.screen.get_selected_text()
    assert selected
    return selected


def _said(app: ChatrouteApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def test_ctrl_c_copies_text_selected_in_an_answer(store: FakeStore) -> None:
    seed_conversation(store, "cities", [("Capital of Portugal?", "Lisbon is the capital of Portugal.")])
    app = ChatrouteApp(FakeEngine(store))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        answer = app.screen.query_one(AssistantMessage)
        selected = await _drag_over(pilot, answer.query_one("Markdown"), 10)
        assert selected.startswith("Lisbon")
        await pilot.press("ctrl+c")
        await settle(pilot, app)
        assert app.clipboard == selected
        assert not any("quit" in line for line in _said(app)), _said(app)
        assert len(app.screen_stack) == 1 and app.is_running
        # With nothing selected on screen, the composer's own selection is what Ctrl+C copies.
        app.screen.clear_selection()
        composer = app.screen.query_one("#composer")
        composer.focus()
        await pilot.press(*"Porto", "f7", "ctrl+c")
        await settle(pilot, app)
        assert app.clipboard == "Porto"


async def test_ctrl_c_copies_text_selected_in_a_compared_answer(engine: FakeEngine) -> None:
    from chatroute.tui.screens.compare import CompareColumn, CompareScreen

    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("f4")
        await settle(pilot, app)
        await pilot.press("tab", *"Lisbon?", "enter")
        await settle(pilot, app)
        screen = app.screen
        assert isinstance(screen, CompareScreen) and screen.columns
        column = screen.query(CompareColumn).first()
        selected = await _drag_over(pilot, column.query_one("Markdown"), 6)
        await pilot.press("ctrl+c")
        await settle(pilot, app)
        assert app.clipboard == selected
        assert not any("quit" in line for line in _said(app)), _said(app)
