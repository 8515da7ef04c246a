"""Two TUIs on one home (two terminals). Each conversation keeps its own unsent text: a draft
one window left at quit is not deleted by the other's send nor overwritten by its typing, and it
comes back when its conversation is opened again.

Before: both wrote one `draft.json`. The second window sending a message deleted the draft the
first had left; typing there replaced it with its own text."""

from __future__ import annotations

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.screens.chat import DRAFT_SAVE_DELAY_S, ChatScreen
from chatroute.tui.widgets.composer import Composer
from chatroute.tui.widgets.sidebar import Sidebar
from tests.tui.helpers import settle, type_and_send

SIZE = (120, 40)


def _screen(app: ChatrouteApp) -> ChatScreen:
    assert isinstance(app.screen, ChatScreen)
    return app.screen


async def test_a_draft_left_at_quit_survives_another_windows_send_and_typing(real_engine: Engine) -> None:
    first = ChatrouteApp(real_engine, close_engine=True)
    second = ChatrouteApp(Engine.open(), close_engine=True)  # the other window, on the same home
    async with second.run_test(size=SIZE) as other_pilot:
        await settle(other_pilot, second)
        async with first.run_test(size=SIZE) as pilot:
            await type_and_send(pilot, "@gpt-4o-mini what is a monad?")
            kept = _screen(first).conversation_id
            assert kept is not None
            first.screen.query_one(Composer).focus()
            await pilot.press(*"and how is it used in Haskell")
            await pilot.press("ctrl+q")
        # Still open in its own terminal: a question of its own, then half of the next one.
        await type_and_send(other_pilot, "@gpt-4o-mini another question")
        other = _screen(second).conversation_id
        assert other not in (None, kept)
        second.screen.query_one(Composer).focus()
        await other_pilot.press(*"half a prompt of its own")
        await other_pilot.pause(DRAFT_SAVE_DELAY_S + 0.5)
        await other_pilot.press("ctrl+q")

    third = ChatrouteApp(Engine.open(), close_engine=True)
    async with third.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, third)
        composer = third.screen.query_one(Composer)
        assert _screen(third).conversation_id == other  # the newest
        assert composer.text == "half a prompt of its own"
        third.screen.query_one(Sidebar).post_message(Sidebar.OpenConversation(kept))
        await settle(pilot, third)
        assert _screen(third).conversation_id == kept
        assert composer.text == "and how is it used in Haskell"
        assert any("unsent prompt in this conversation" in str(n.message) for n in third._notifications)
        await pilot.press("ctrl+n")
        await settle(pilot, third)
        assert composer.text == ""
        third.screen.query_one(Sidebar).post_message(Sidebar.OpenConversation(other))
        await settle(pilot, third)
        assert composer.text == "half a prompt of its own"
