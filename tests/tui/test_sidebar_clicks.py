"""A click on the sidebar opens what is under the pointer. The list drew no border, but
Textual's own focused OptionList rule (a tall border) outranked the sidebar's, so the press
that focused the list pushed its rows down a line before the click was read: a click on a
conversation opened the one above it, one on the first row did nothing, and so for search hits."""

from __future__ import annotations

from chatroute.tui.app import ChatrouteApp
from chatroute.tui.widgets.chat_view import ChatView
from chatroute.tui.widgets.composer import Composer
from chatroute.tui.widgets.sidebar import ConversationList, SearchResults
from tests.tui.fake_engine import FakeEngine, FakeStore, seed_conversation
from tests.tui.helpers import settle, until

SIZE = (120, 40)


async def test_a_click_on_a_listed_conversation_opens_that_one(store: FakeStore) -> None:
    convs = [seed_conversation(store, title, [(f"about {title}", "ok")]) for title in ("alpha", "beta", "gamma")]
    app = ChatrouteApp(FakeEngine(store))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        listed = app.screen.query_one(ConversationList)
        assert [o.id for o in listed.options] == [c.id for c in reversed(convs)]
        assert isinstance(app.focused, Composer) and app.screen.conversation_id == convs[2].id  # type: ignore[attr-defined]
        rows_before = listed.region
        for row, conv in ((1, convs[1]), (2, convs[0]), (0, convs[2])):
            await pilot.click(listed, offset=(3, row))
            await settle(pilot, app)
            assert app.screen.conversation_id == conv.id, (row, conv.title)  # type: ignore[attr-defined]
            assert listed.region == rows_before
            app.screen.query_one(Composer).focus()  # the next click comes from elsewhere again
            await settle(pilot, app)


async def test_a_click_on_a_search_hit_opens_that_hit(store: FakeStore) -> None:
    for title in ("alpha", "beta"):
        seed_conversation(store, title, [(f"lisbon {title}", "ok")])
    app = ChatrouteApp(FakeEngine(store))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("ctrl+f", *"lisbon")
        results = app.screen.query_one(SearchResults)
        await until(pilot, lambda: results.option_count == 2, "two hits")
        await settle(pilot, app)
        second = str(results.get_option_at_index(1).id).split("\x1f")[0]
        await pilot.click(results, offset=(3, 2))  # the second hit's title (a hit is two lines)
        await settle(pilot, app)
        assert app.screen.conversation_id == second  # type: ignore[attr-defined]
        assert app.screen.query_one(ChatView).query("UserMessage")
