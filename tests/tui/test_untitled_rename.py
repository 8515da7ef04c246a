"""F2 on a conversation with no title yet (one a pin made before anything was asked) offers an
empty name, not the word shown for it.

Before: the box held "Untitled", and Enter (taken for "leave it as it is") saved "Untitled" as
its title, so its first turn no longer titled it by the prompt: the sidebar, the costs screen and
`costs --by conversation` read "Untitled" for good."""

from __future__ import annotations

from textual.widgets import Input

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from tests.fakeserver import FakeServer
from tests.tui.helpers import settle, type_and_send

SIZE = (120, 40)


async def test_enter_in_the_rename_box_of_an_untitled_conversation_leaves_it_to_its_first_prompt(
        real_engine: Engine, fake_server: FakeServer) -> None:
    app = ChatrouteApp(real_engine, close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+o")
        await pilot.pause()
        await pilot.press("p")  # pin the highlighted model: the conversation is made, untitled
        await settle(pilot, app)
        cid = app.screen.conversation_id  # type: ignore[attr-defined]
        assert cid is not None
        await pilot.press("f2")
        await pilot.pause()
        assert app.screen.query_one("#prompt-input", Input).value == ""
        await pilot.press("enter")
        await settle(pilot, app)
        await type_and_send(pilot, "How long do sea turtles live?")
        conv = real_engine.store.get_conversation(cid)
        assert conv is not None and conv.title == "How long do sea turtles live?"
