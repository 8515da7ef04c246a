"""Two turns at once in one conversation (two `chatroute ask -c ID`, or serve beside the TUI):
each is asked against the conversation as it stood, and the store keeps both answers.

Before: the second turn took the first one's question (written, its answer not yet) for its
own history, sent it to its model as a second user message, and was stored under it, so the
shown branch read question → question; with several at once, answers ended up off every
branch that made sense."""

from __future__ import annotations

import asyncio

from chatroute.engine import Engine
from chatroute.store import Store
from chatroute.turn_events import Delta, TurnFinished, TurnStarted
from tests.engine.helpers import configured  # noqa: F401 - fixture
from tests.fakeserver import FakeServer, Reply

MINI = "openai/gpt-4o-mini"


async def _turn(engine: Engine, conversation_id: str | None, prompt: str,
                started: asyncio.Event | None = None) -> tuple[str, str, TurnFinished]:
    ids: dict[str, str] = {}
    async for event in engine.run_turn(conversation_id, f"@{MINI} {prompt}", use_cache=False):
        if isinstance(event, TurnStarted):
            ids.update(conversation=event.conversation_id, answer=event.assistant_message_id)
        elif isinstance(event, Delta) and started is not None:
            # The first word, not TurnStarted: the fake server hands out its scripted replies
            # in the order requests arrive, so the slow turn's request must be in first.
            started.set()
        elif isinstance(event, TurnFinished):
            return ids["conversation"], ids["answer"], event
    raise AssertionError("no TurnFinished")


async def test_a_turn_asked_while_another_streams_in_the_same_conversation(
        configured: FakeServer) -> None:  # noqa: F811
    configured.script("gpt-4o-mini", Reply(text="Paris."),
                      Reply(text=" ".join(f"w{i}" for i in range(60)), tokens_per_s=40),  # the slow one
                      Reply(text="Berlin."))
    first, second = Engine.open(), Engine.open()  # two processes on one home
    try:
        conv, opening, _ = await _turn(first, None, "capital of France?")
        started = asyncio.Event()
        slow = asyncio.create_task(_turn(first, conv, "count to sixty", started))
        await asyncio.wait_for(started.wait(), 20)
        _, quick_answer, quick = await _turn(second, conv, "capital of Germany?")
        _, slow_answer, slow_done = await asyncio.wait_for(slow, 30)
    finally:
        await first.aclose()
        await second.aclose()
    assert quick.text == "Berlin." and slow_done.text.startswith("w0 w1")
    # The quick turn was asked against the finished part of the conversation only.
    sent = [m["content"] for m in configured.requests[-1].messages if m["role"] == "user"]
    assert sent == ["capital of France?", "capital of Germany?"]
    with Store.open() as store:
        both = {m.id: m for m in store.messages_by_id([quick_answer, slow_answer])}
        questions = store.messages_by_id([both[quick_answer].parent_id, both[slow_answer].parent_id])
        # Two branches at the point both were asked, each answered; no question under a question.
        assert {q.parent_id for q in questions} == {opening}
        assert all(m.status == "complete" for m in both.values())
        rows = store.conn.execute("SELECT m.id FROM messages m JOIN messages p ON p.id = m.parent_id"
                                  " WHERE m.role = 'user' AND p.role = 'user'").fetchall()
        assert rows == []
