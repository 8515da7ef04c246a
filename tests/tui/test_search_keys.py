"""The sidebar's search box by keyboard: ↓ goes into the results, as Enter does, and the footer
there names Enter and Esc. Before, ↓ did nothing in the box and the footer showed only the chat's
keys, so the way into the results (or out of the search) was to be guessed. Real engine against
the fake provider server."""

from __future__ import annotations

from textual.widgets import Input

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.screens.chat import ChatScreen
from chatroute.tui.widgets.sidebar import SearchResults, Sidebar
from tests.tui.helpers import settle, type_and_send
from tests.tui.test_keyboard_focus import footer_keys

SIZE = (120, 40)


async def test_down_in_the_search_box_moves_to_the_first_result(real_engine: Engine) -> None:
    app = ChatrouteApp(real_engine, close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "lisbon trams")
        await type_and_send(pilot, "lisbon custard tarts")
        await pilot.press("ctrl+f", *"lisbon")
        await settle(pilot, app)
        results = app.screen.query_one(SearchResults)
        assert results.option_count >= 2
        assert isinstance(app.focused, Input) and app.focused.id == "search"
        await pilot.press("down")
        await settle(pilot, app)
        assert app.focused is results and results.highlighted == 0
        await pilot.press("down", "enter")  # the arrows go on down the results; Enter opens a hit
        await settle(pilot, app)
        assert isinstance(app.screen, ChatScreen)
        assert not app.screen.query_one(Sidebar).has_class("-searching")


async def test_down_with_no_hits_stays_in_the_query(real_engine: Engine) -> None:
    app = ChatrouteApp(real_engine, close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "lisbon trams")
        await pilot.press("ctrl+f", *"porto", "down")
        await settle(pilot, app)
        query = app.screen.query_one("#search", Input)
        assert app.focused is query  # only "no matches" below: the query stays to be edited
        await pilot.press(*"x")
        assert query.value == "portox"


async def test_the_footer_in_the_search_box_names_enter_and_esc(real_engine: Engine) -> None:
    app = ChatrouteApp(real_engine, close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "lisbon trams")
        await pilot.press("ctrl+f", *"lisbon")
        await settle(pilot, app)
        keys = footer_keys(app)
        assert keys.get("enter") == "To the results" and keys.get("escape") == "Close search", keys
        await pilot.press("escape")  # still the chat's Esc: the search closes, back to the composer
        await settle(pilot, app)
        assert not app.screen.query_one(Sidebar).has_class("-searching")
        assert app.focused is app.screen.query_one("#composer")
        assert "escape" not in footer_keys(app)  # the composer's footer is as it was
