"""The conversation the TUI shows, deleted by another chatroute (a second TUI, in another
terminal), then a prompt sent in this one.

Before: 'Not sent: no conversation '01a2…'', and Enter again said the same, for good: the screen
went on showing a conversation that was gone, and only Ctrl+N got the prompt anywhere."""

from __future__ import annotations

from chatroute.engine import Engine
from chatroute.store import Store
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.widgets.composer import Composer
from chatroute.tui.widgets.message import MessageWidget
from tests.fakeserver import FakeServer
from tests.tui.helpers import settle, type_and_send

SIZE = (120, 40)


async def test_a_prompt_sent_in_a_conversation_deleted_elsewhere_starts_a_new_one(
        real_engine: Engine, fake_server: FakeServer) -> None:
    app = ChatrouteApp(real_engine, close_engine=True)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await type_and_send(pilot, "@gpt-4o-mini first question")
        gone = app.screen.conversation_id  # type: ignore[attr-defined]
        with Store.open() as other:  # the other TUI's Delete, y
            assert other.delete_conversation(gone)
        await type_and_send(pilot, "@gpt-4o-mini a question worth keeping")
        notices = [str(n.message) for n in app._notifications]
        assert any("was deleted" in n for n in notices), notices
        assert not any("no conversation" in n for n in notices), notices
        assert app.screen.query_one(Composer).text == "@gpt-4o-mini a question worth keeping"
        assert app.screen.conversation_id is None  # type: ignore[attr-defined]
        assert not app.screen.query(MessageWidget)
        await pilot.press("enter")
        await settle(pilot, app)
        cid = app.screen.conversation_id  # type: ignore[attr-defined]
        assert cid is not None and cid != gone
        assert [m.content for m in real_engine.store.history(cid)] == [
            "a question worth keeping", "Echo from gpt-4o-mini: a question worth keeping"]
