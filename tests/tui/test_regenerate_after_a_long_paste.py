"""r, g and e on an answer whose question is not mounted above it.

A conversation opens at its latest messages, up to ChatView.MOUNT_CHARS of text: after a long
paste (a report to summarise) and a long answer, the answer alone opens the window, its
question one scroll above. Before: r on that answer, stopped half-way, said "No prompt to
re-run" and sent nothing (g and e too), though the question was stored and only not mounted."""

from __future__ import annotations

import asyncio

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.widgets.message import MessageWidget, UserMessage
from tests.fakeserver import FakeServer, Reply
from tests.tui.helpers import assistants, settle

SIZE = (120, 40)
REPORT = "\n".join(f"line {i} of the quarterly report " + "x" * 60 for i in range(700))  # ~70,000 characters
SUMMARY = "\n\n".join(f"Point {i} of the summary, in a few words." for i in range(80))


async def test_retry_on_an_answer_whose_long_question_is_not_mounted_asks_it_again(
        real_engine: Engine, fake_server: FakeServer) -> None:
    fake_server.script("gpt-4o-mini", Reply(text=SUMMARY, tokens_per_s=300), Reply(text="The summary, whole."))
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        composer = app.screen.query_one("#composer")
        composer.insert("@gpt-4o-mini summarise this:\n" + REPORT)
        composer.action_submit()  # pilot.press("enter") would wait for the whole answer
        for _ in range(1000):
            await asyncio.sleep(0.01)
            msgs = assistants(app)
            if msgs and msgs[0].status == "streaming" and len(msgs[0].text) > 2500:
                break
        await pilot.press("escape")  # stopped half-way: r retries it
        await settle(pilot, app)
        assert assistants(app)[0].has_failed()

    reopened = ChatrouteApp(real_engine, close_engine=True)
    async with reopened.run_test(size=SIZE) as pilot:
        await settle(pilot, reopened)
        assert not reopened.screen.query(UserMessage)  # the answer opens the window alone
        [stopped] = assistants(reopened)
        stopped.focus()
        await pilot.press("r")
        await settle(pilot, reopened)
        notices = [n.message for n in reopened._notifications]
        assert "No prompt to re-run" not in notices
        assert len(fake_server.requests) == 2  # asked again
        assert fake_server.requests[-1].messages[-1]["content"] == "summarise this:\n" + REPORT
        shown = [(type(w).__name__, w.text) for w in reopened.screen.query(MessageWidget)]
        assert shown == [("UserMessage", "summarise this:\n" + REPORT), ("AssistantMessage", "The summary, whole.")]
