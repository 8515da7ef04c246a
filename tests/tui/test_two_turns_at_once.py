"""Two turns asked at once at the same point of a conversation (`ask -c ID` twice, or the TUI and
`ask`): each is stored as its own question there, and the reader switches between the two with
[ / ] on the answer, as the README says, the badge saying which of how many.

Before: the chat showed the later one, its answer's badge with no position, and [ on it said "No
other replies to this turn": the other turn, asked, answered and billed, could be reached only by
searching for its words."""

from __future__ import annotations

import asyncio

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.widgets.message import MessageWidget
from tests.engine.test_concurrent_turns import _turn
from tests.fakeserver import FakeServer, Reply
from tests.tui.helpers import assistants, badge, settle

SIZE = (120, 40)
COUNTED = " ".join(f"w{i}" for i in range(60))


async def test_the_reader_switches_between_two_turns_asked_at_once(real_engine: Engine,
                                                                  fake_server: FakeServer) -> None:
    fake_server.script("gpt-4o-mini", Reply(text="Paris."), Reply(text=COUNTED, tokens_per_s=40),
                       Reply(text="Berlin."))
    second = Engine.open()  # another process on the same home
    try:
        conv, _, _ = await _turn(real_engine, None, "capital of France?")
        started = asyncio.Event()
        slow = asyncio.create_task(_turn(real_engine, conv, "count to sixty", started))
        await asyncio.wait_for(started.wait(), 20)
        await _turn(second, conv, "capital of Germany?")
        await asyncio.wait_for(slow, 30)
    finally:
        await second.aclose()
    app = ChatrouteApp(real_engine, close_engine=True)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        assert [w.text for w in app.screen.query(MessageWidget)][2:] == ["capital of Germany?", "Berlin."]
        assert badge(assistants(app)[-1]).endswith("‹2/2›")
        assistants(app)[-1].focus()
        await pilot.press("[")
        await settle(pilot, app)
        assert [w.text for w in app.screen.query(MessageWidget)] == [
            "capital of France?", "Paris.", "count to sixty", COUNTED]
        assert badge(assistants(app)[-1]).endswith("‹1/2›")
        assert not any("No other replies" in str(n.message) for n in app._notifications)
        await pilot.press("]")
        await settle(pilot, app)
        assert [w.text for w in app.screen.query(MessageWidget)][2:] == ["capital of Germany?", "Berlin."]
    # What is shown is what the next turn continues from.
    assert [m.content for m in real_engine.store.history(conv)][2:] == ["capital of Germany?", "Berlin."]
