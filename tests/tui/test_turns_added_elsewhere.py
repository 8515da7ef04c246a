"""Turns another chatroute (`ask -c ID`) added to the conversation the TUI shows.

The next turn sent in the TUI is asked after them (the engine reads the stored branch), so the
chat must show them too. Before: it went on showing the conversation as it was opened, with the
new question and its answer straight under the old last answer, though the model had been sent
the other turns as history and the store kept them in between."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from chatroute.engine import PARTIAL_SAVE_INTERVAL_S, Engine
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.widgets.message import MessageWidget
from tests.engine.helpers import run_subprocess
from tests.fakeserver import FakeServer, Reply
from tests.tui.helpers import settle, type_and_send

SIZE = (120, 40)


async def test_a_turn_sent_after_another_process_added_some_shows_them(real_engine: Engine,
                                                                      fake_server: FakeServer) -> None:
    fake_server.script("gpt-4o-mini", Reply(text="Paris."), Reply(text="Berlin."), Reply(text="Rome."))
    app = ChatrouteApp(real_engine, close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "@gpt-4o-mini capital of France?")
        cid = app.screen.conversation_id  # type: ignore[attr-defined]
        assert cid is not None
        done = run_subprocess("ask", "-c", cid, "-m", "gpt-4o-mini", "capital of Germany?")
        assert done.returncode == 0, done.stderr
        await type_and_send(pilot, "@gpt-4o-mini capital of Italy?")
        await settle(pilot, app)
        shown = [w.text for w in app.screen.query(MessageWidget)]
        # What was sent, and what the store keeps, in that order.
        sent = [m["content"] for m in fake_server.requests[-1].messages]
        assert sent == ["capital of France?", "Paris.", "capital of Germany?", "Berlin.", "capital of Italy?"]
        assert shown == [*sent, "Rome."]
        assert [m.content for m in real_engine.store.history(cid)] == shown
        assert app.screen.conversation_id == cid  # type: ignore[attr-defined]


async def test_a_turn_sent_in_an_unchanged_conversation_is_not_shown_again(real_engine: Engine,
                                                                         fake_server: FakeServer) -> None:
    """The check is the new question's stored parent against the answer shown above it: a
    conversation only this TUI writes to keeps its widgets (a re-show would rebuild them all)."""
    fake_server.script("gpt-4o-mini", Reply(text="Paris."), Reply(text="Rome."))
    app = ChatrouteApp(real_engine, close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "@gpt-4o-mini capital of France?")
        first = list(app.screen.query(MessageWidget))
        await type_and_send(pilot, "@gpt-4o-mini capital of Italy?")
        await settle(pilot, app)
        shown = list(app.screen.query(MessageWidget))
        assert [w.text for w in shown] == ["capital of France?", "Paris.", "capital of Italy?", "Rome."]
        assert shown[:2] == first  # the same widgets: nothing was re-shown


async def test_an_answer_another_process_was_writing_is_shown_whole_after_the_next_turn(
        real_engine: Engine, fake_server: FakeServer) -> None:
    """Opened while `ask -c` still wrote its answer, the chat showed the part written by then,
    its badge `…`; it went on showing that part after the next turn, though the model had been
    sent the whole answer as history."""
    counted = " ".join(f"w{i}" for i in range(40))
    # The other answer's first word comes late enough to be saved as it arrives, and the rest
    # waits until the chat has opened on it.
    opened = threading.Event()
    fake_server.script("gpt-4o-mini", Reply(text="Paris."),
                       Reply(text=counted, ttft=PARTIAL_SAVE_INTERVAL_S + 0.1, hold=opened, hold_after=1),
                       Reply(text="Rome."))
    first = ChatrouteApp(real_engine)
    async with first.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "@gpt-4o-mini capital of France?")
        cid = first.screen.conversation_id  # type: ignore[attr-defined]
    assert cid is not None
    ask = subprocess.Popen([sys.executable, "-m", "chatroute", "ask", "-c", cid, "-m", "gpt-4o-mini", "count to forty"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not real_engine.store.conn.execute(
                "SELECT 1 FROM messages WHERE status = 'streaming' AND content != ''").fetchone():
            assert time.monotonic() < deadline, "the other answer never streamed"
            time.sleep(0.05)
        app = ChatrouteApp(real_engine, close_engine=True)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            partial = [w.text for w in app.screen.query(MessageWidget)][-1]
            assert partial.startswith("w0") and partial != counted
            opened.set()
            assert ask.wait(timeout=60) == 0, ask.stderr.read() if ask.stderr else ""
            await type_and_send(pilot, "@gpt-4o-mini capital of Italy?")
            await settle(pilot, app)
            shown = [w.text for w in app.screen.query(MessageWidget)]
    finally:
        opened.set()
        if ask.poll() is None:
            ask.kill()
            ask.wait()
    sent = [m["content"] for m in fake_server.requests[-1].messages]
    assert sent == ["capital of France?", "Paris.", "count to forty", counted, "capital of Italy?"]
    assert shown == [*sent, "Rome."]


async def test_a_turn_sent_after_a_killed_ask_sends_its_question_and_partial_answer(
        real_engine: Engine, fake_server: FakeServer) -> None:
    """`ask -c ID` killed (kill -9) mid-answer while the TUI is open: its answer stayed
    'streaming' until another process opened the database, and a turn sent from the TUI
    meanwhile left the question and the partial answer out of the model's history, as if
    another chatroute were still writing them. Its writer is gone: it is an interrupted answer,
    and history like any."""
    counted = " ".join(f"w{i}" for i in range(200))
    fake_server.script("gpt-4o-mini", Reply(text="Paris."), Reply(text=counted, tokens_per_s=10),
                       Reply(text="Rome."))
    app = ChatrouteApp(real_engine, close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "@gpt-4o-mini capital of France?")
        cid = app.screen.conversation_id  # type: ignore[attr-defined]
        assert cid is not None
        ask = subprocess.Popen([sys.executable, "-m", "chatroute", "ask", "-c", cid, "-m", "gpt-4o-mini",
                                "count to two hundred"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while not real_engine.store.conn.execute(
                    "SELECT 1 FROM messages WHERE status = 'streaming' AND content LIKE 'w0 w1%'").fetchone():
                assert time.monotonic() < deadline, "the other answer never streamed"
                time.sleep(0.05)
        finally:
            ask.kill()
            ask.wait()
        [(partial,)] = real_engine.store.conn.execute(
            "SELECT content FROM messages WHERE status = 'streaming'").fetchall()
        await type_and_send(pilot, "@gpt-4o-mini capital of Italy?")
        await settle(pilot, app)
        sent = [m["content"] for m in fake_server.requests[-1].messages]
        assert sent == ["capital of France?", "Paris.", "count to two hundred", partial, "capital of Italy?"]
        statuses = [m.status for m in real_engine.store.history(cid)]
        assert statuses == ["complete", "complete", "complete", "interrupted", "complete", "complete"]
