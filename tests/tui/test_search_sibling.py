"""A search hit on a reply that is not the one shown (the turn was regenerated since) opens that
reply: it becomes the shown sibling, focused, its badge saying which of how many. Real store."""

from __future__ import annotations

from pathlib import Path

from rich.console import Group
from rich.text import Text

from chatroute.engine import Engine
from chatroute.store import Store
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.widgets.sidebar import SearchResults
from tests.tui.fake_engine import FakeEngine
from tests.tui.helpers import assistants, badge, settle
from tests.tui.test_busy_database import seed

SIZE = (120, 40)


async def test_a_search_hit_on_an_inactive_sibling_opens_that_sibling(chatroute_home: Path) -> None:
    store = Store.open(chatroute_home / "chatroute.db")
    cid, first, second = seed(store)  # the second reply is shown; the first mentions endofunctors
    other = store.create_conversation(title="Other")
    store.add_message(other.id, "user", "Unrelated")
    app = ChatrouteApp(FakeEngine(store))
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await pilot.press("ctrl+n")
            await pilot.press("ctrl+f", *"endofunctor")
            await settle(pilot, app)
            assert app.screen.query_one(SearchResults).option_count == 1
            await pilot.press("enter", "enter")
            await settle(pilot, app)
            assert app.screen.conversation_id == cid
            [answer] = assistants(app)
            assert answer.message_id == first and "endofunctors" in answer.text
            assert app.focused is answer
            assert badge(answer).endswith("‹1/2›")
            # The search is done: the sidebar shows the list again, not the old results.
            from chatroute.tui.widgets.sidebar import Sidebar

            assert not app.screen.query_one(Sidebar).has_class("-searching")
        assert [m.id for m in store.history(cid)][-1] == first  # shown because it is the active one now
    finally:
        store.close()


async def test_a_hit_in_a_conversation_renamed_at_length_takes_a_few_lines(chatroute_home: Path) -> None:
    """A conversation renamed to a pasted paragraph (F2 takes any length): each of its hits
    printed the whole title, wrapped over the sidebar, a screenful for one hit."""
    store = Store.open(chatroute_home / "chatroute.db")
    long = store.create_conversation(title="Notes on lighthouses and their keepers " * 40)
    store.add_message(long.id, "user", "Where is the oldest lighthouse?")
    app = ChatrouteApp(FakeEngine(store))
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await pilot.press("ctrl+f", *"lighthouse")
            await settle(pilot, app)
            results = app.screen.query_one(SearchResults)
            assert results.option_count == 1
            assert results.virtual_size.height <= 4  # a title cut to two lines, the snippet
    finally:
        store.close()


async def test_a_hit_in_an_untitled_conversation_says_untitled_as_the_list_does(real_engine: Engine) -> None:
    """An old conversation with messages and no title (made before titles, or its first turn's
    title never written): the list said 'Untitled', its search hits a blank line."""
    from chatroute.tui.widgets.sidebar import ConversationList

    old = real_engine.store.create_conversation()
    real_engine.store.add_message(old.id, "user", "How tall is the oldest lighthouse?")
    app = ChatrouteApp(real_engine, close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        listed = app.screen.query_one(ConversationList).get_option(old.id).prompt
        assert isinstance(listed, Text) and listed.plain == "Untitled"
        await pilot.press("ctrl+f", *"lighthouse")
        await settle(pilot, app)
        results = app.screen.query_one(SearchResults)
        assert results.option_count == 1
        label = results.get_option_at_index(0).prompt
        assert isinstance(label, Group)
        title, snippet = label.renderables
        assert isinstance(title, Text) and title.plain == "Untitled"
        assert isinstance(snippet, Text) and "lighthouse" in snippet.plain
