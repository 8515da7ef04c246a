"""What the chat screen does with keys that would take the screen (or the conversation) away from
an answer still streaming: deleting that conversation, opening another one (from the list or a
search hit), F4 (compare, which adds its own turn to the conversation). Each is refused with a
notice until the answer is stopped; nothing is deleted under the stream, no stream writes into
a conversation that is not shown, and the stopped answer is saved and billed once. Real engine
and store, official SDKs, the fake provider."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from textual.pilot import Pilot

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.screens.chat import ChatScreen
from chatroute.tui.widgets.sidebar import Sidebar
from tests.fakeserver import FakeServer, Reply
from tests.tui.helpers import answer_question, assistants, settle, type_and_send

SIZE = (120, 40)


async def start_streaming(pilot: Pilot, app: ChatrouteApp, prompt: str) -> None:
    composer = app.screen.query_one("#composer")
    composer.insert(prompt)  # type: ignore[attr-defined]
    composer.action_submit()  # type: ignore[attr-defined]  # pilot.press("enter") would wait for an endless stream
    for _ in range(1000):
        await asyncio.sleep(0.01)
        msgs = assistants(app)
        if msgs and msgs[-1].status == "streaming" and len(msgs[-1].text) > 40:
            return
    raise AssertionError("the answer never started streaming")


def notices(app: ChatrouteApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def delete_shown(pilot: Pilot, older: str) -> None:
    pilot.app.screen.action_delete_current()  # type: ignore[attr-defined]
    await pilot.pause()
    if not isinstance(pilot.app.screen, ChatScreen):  # a confirmation was asked: say yes
        await answer_question(pilot, "y")


async def open_older(pilot: Pilot, older: str) -> None:
    pilot.app.screen.query_one(Sidebar).post_message(Sidebar.OpenConversation(older))


async def open_search_hit(pilot: Pilot, older: str) -> None:
    await pilot.press("ctrl+f", *"lighthouse")
    await pilot.pause(0.2)
    await pilot.press("enter", "enter")


async def compare(pilot: Pilot, older: str) -> None:
    await pilot.press("f4")


ACTIONS: dict[str, Callable[[Pilot, str], Awaitable[None]]] = {
    "delete": delete_shown, "open another": open_older, "open a search hit": open_search_hit, "f4": compare,
}


@pytest.mark.parametrize("action", list(ACTIONS))
async def test_refused_while_the_answer_streams(action: str, real_engine: Engine, fake_server: FakeServer) -> None:
    fake_server.script("gpt-4o", Reply(text="Lighthouses guide ships.", input_tokens=20, output_tokens=4))
    fake_server.script("gpt-4o", Reply(endless=True, tokens_per_s=10))
    store = real_engine.store
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "@gpt-4o What do lighthouses do?")
        older = app.screen.conversation_id  # type: ignore[attr-defined]
        await pilot.press("ctrl+n")
        await start_streaming(pilot, app, "@gpt-4o Tell me everything about ships.")
        streaming = app.screen.conversation_id  # type: ignore[attr-defined]
        assert streaming is not None and streaming != older
        await ACTIONS[action](pilot, older)
        for _ in range(5):
            await pilot.pause(0.05)
        assert isinstance(app.screen, ChatScreen), "the compare screen opened over a streaming answer"
        assert any("Stop the answer first (Esc)" in n for n in notices(app)), notices(app)
        assert app.screen.conversation_id == streaming
        assert store.get_conversation(streaming) is not None
        [answer] = assistants(app)
        assert answer.status == "streaming" and answer.is_attached
        await pilot.press("escape")
        await settle(pilot, app)
        assert answer.status == "interrupted"
        # Stopped: the same key now does what it says.
        await ACTIONS[action](pilot, older)
        await settle(pilot, app)
        if action == "f4":
            assert not isinstance(app.screen, ChatScreen)
            await pilot.press("escape")
            await settle(pilot, app)
    [turn] = [t for t in store.turns(streaming)] or [None]  # deleted: its turn is kept without a conversation
    if action == "delete":
        assert store.get_conversation(streaming) is None
        rows = store.conn.execute("SELECT status, cost_usd FROM turns WHERE conversation_id IS NULL").fetchall()
        assert [r[0] for r in rows] == ["interrupted"] and rows[0][1]
    else:
        assert turn is not None and turn.status == "interrupted" and turn.cost_usd
        assert [m.role for m in store.history(streaming)] == ["user", "assistant"]
    assert len(store.turns(older)) == 1  # nothing streamed into the conversation opened meanwhile


async def test_another_reply_above_is_not_shown_while_the_answer_streams(real_engine: Engine,
                                                                         fake_server: FakeServer) -> None:
    """[ on an earlier, regenerated answer re-shows the conversation from that branch: the
    answer streaming below would be detached and go on out of sight, as when opening another
    conversation. Refused the same way."""
    fake_server.script("gpt-4o", Reply(text="First take.", input_tokens=20, output_tokens=4))
    fake_server.script("gpt-4o", Reply(text="Second take.", input_tokens=20, output_tokens=4))
    fake_server.script("gpt-4o", Reply(endless=True, tokens_per_s=20))
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "@gpt-4o What do lighthouses do?")
        assistants(app)[0].focus()
        await pilot.press("g")
        await settle(pilot, app)
        assert [a.text for a in assistants(app)] == ["Second take."]
        await start_streaming(pilot, app, "@gpt-4o Tell me everything about ships.")
        earlier, streaming = assistants(app)
        earlier.focus()
        await pilot.press("left_square_bracket")
        for _ in range(5):
            await pilot.pause(0.05)
        assert any("Stop the answer first (Esc)" in n for n in notices(app)), notices(app)
        assert streaming.is_attached and streaming.status == "streaming"
        assert [a.text for a in assistants(app)][0] == "Second take."
        await pilot.press("escape")
        await settle(pilot, app)
        assert streaming.status == "interrupted"


async def test_rerun_on_another_model_is_refused_before_the_picker_opens(real_engine: Engine,
                                                                        fake_server: FakeServer) -> None:
    """e on an earlier answer while another streams: the picker opened, the user chose a model,
    and only then was told the answer must be stopped first, the choice gone. Now it is refused
    as [ and ] are, before anything is chosen, and works once the answer is stopped."""
    from chatroute.tui.screens.models import ModelPicker

    fake_server.script("gpt-4o", Reply(text="Lighthouses guide ships.", input_tokens=20, output_tokens=4))
    fake_server.script("gpt-4o", Reply(endless=True, tokens_per_s=20))
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await type_and_send(pilot, "@gpt-4o What do lighthouses do?")
        await start_streaming(pilot, app, "@gpt-4o Tell me everything about ships.")
        earlier, streaming = assistants(app)
        earlier.focus()
        await pilot.press("e")
        for _ in range(5):
            await pilot.pause(0.05)
        assert not isinstance(app.screen, ModelPicker), "the picker opened over a streaming answer"
        assert any("Stop the answer first (Esc), then re-run" in n for n in notices(app)), notices(app)
        assert streaming.status == "streaming"
        await pilot.press("escape")
        await settle(pilot, app)
        assert streaming.status == "interrupted"
        earlier.focus()
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, ModelPicker)
        await pilot.press("escape")


async def test_a_new_conversation_is_listed_and_marked_while_its_first_answer_streams(
        real_engine: Engine, fake_server: FakeServer) -> None:
    """A conversation the first turn creates was listed only once the answer ended: for the whole
    stream the list showed the older ones with none marked, as if the chat on screen were none
    of them."""
    from chatroute.tui.widgets.sidebar import ConversationList

    fake_server.script("gpt-4o", Reply(text="Lighthouses guide ships.", input_tokens=20, output_tokens=4))
    fake_server.script("gpt-4o", Reply(endless=True, tokens_per_s=20))
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "@gpt-4o What do lighthouses do?")
        older = app.screen.conversation_id  # type: ignore[attr-defined]
        await pilot.press("ctrl+n")
        await start_streaming(pilot, app, "@gpt-4o Tell me everything about ships.")
        await pilot.pause()
        streaming = app.screen.conversation_id  # type: ignore[attr-defined]
        listed = app.screen.query_one(ConversationList)
        ids = [listed.get_option_at_index(i).id for i in range(listed.option_count)]
        assert ids == [streaming, older]
        assert listed.highlighted is not None and ids[listed.highlighted] == streaming
        await pilot.press("escape")
        await settle(pilot, app)


async def test_opening_the_conversation_being_answered_is_not_refused(real_engine: Engine,
                                                                      fake_server: FakeServer) -> None:
    """Enter (or a click) on the conversation already shown, listed while its answer streams:
    it said "Stop the answer first (Esc), then open another conversation", though it is the one
    open. Now it goes back to the composer, the answer streaming on."""
    from chatroute.tui.widgets.composer import Composer

    fake_server.script("gpt-4o", Reply(endless=True, tokens_per_s=200))
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await start_streaming(pilot, app, "@gpt-4o Tell me everything about ships.")
        streaming = app.screen.conversation_id  # type: ignore[attr-defined]
        [answer] = assistants(app)
        answer.focus()
        await open_older(pilot, streaming)
        for _ in range(5):
            await pilot.pause(0.05)
        assert not any("Stop the answer first" in n for n in notices(app)), notices(app)
        assert answer.is_attached and answer.status == "streaming"
        assert isinstance(app.focused, Composer)
        await pilot.press("escape")
        await settle(pilot, app)
