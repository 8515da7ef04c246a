"""The delete question ("Delete “…”? This cannot be undone.") is answered yes only by a `y`
pressed after reading it. Delete is an editing key: pressed in the conversation list by someone
who thought they were in the composer, then "why is …" typed on and sent, it deleted the
conversation on the y of "why" (or on the Enter). Those keys are typing now, not answers."""

from __future__ import annotations

from chatroute.tui.app import ChatrouteApp
from chatroute.tui.screens.dialogs import ConfirmScreen
from tests.tui.fake_engine import FakeEngine, FakeStore, seed_conversation
from tests.tui.helpers import answer_question, settle

SIZE = (120, 40)


async def test_typing_on_after_delete_does_not_answer_yes(store: FakeStore) -> None:
    seed_conversation(store, "Rust lifetimes", [("x", "y")])
    app = ChatrouteApp(FakeEngine(store))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        app.screen.query_one("#conversations").focus()
        await pilot.press("delete", "w", "h", "y", "space", "i", "s", "enter")
        await settle(pilot, app)
        assert isinstance(app.screen, ConfirmScreen)  # still asking
        assert len(store.list_conversations()) == 1
        await answer_question(pilot, "n")  # read, then answered: no
        await settle(pilot, app)
        assert not isinstance(app.screen, ConfirmScreen) and len(store.list_conversations()) == 1
        await pilot.press("delete")
        await answer_question(pilot, "y")
        await settle(pilot, app)
        assert not isinstance(app.screen, ConfirmScreen) and store.list_conversations() == []
