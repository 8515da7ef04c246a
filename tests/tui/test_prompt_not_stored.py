"""A prompt whose turn fails before anything is stored (the disk full as the question is written)
goes back to the composer, so a quit keeps it as the draft.

Before: the chat showed it above an empty answer with the error, the composer empty; the
prompt was nowhere but on screen, and quitting (to free some space) lost it: not stored, not
kept as a draft."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from chatroute.engine import Engine
from chatroute.store import Store
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.widgets.composer import Composer
from chatroute.tui.widgets.message import MessageWidget
from tests.fakeserver import FakeServer
from tests.tui.helpers import settle, type_and_send, until

SIZE = (120, 40)
PROMPT = "@gpt-4o-mini a question I took ten minutes to write"


async def test_a_prompt_the_full_disk_kept_from_storing_is_back_in_the_composer_and_kept_at_quit(
        real_engine: Engine, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    write = Store.add_question_and_answer

    def full(*args: Any, **kwargs: Any) -> Any:
        raise sqlite3.OperationalError("database or disk is full")

    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await type_and_send(pilot, "@gpt-4o-mini first question")
        shown = [w.text for w in app.screen.query(MessageWidget)]
        monkeypatch.setattr(Store, "add_question_and_answer", full)
        await type_and_send(pilot, PROMPT)
        await until(pilot, lambda: [w.text for w in app.screen.query(MessageWidget)] == shown,
                    "the unsent prompt to leave the chat")
        assert app.screen.query_one(Composer).text == PROMPT
        notices = [str(n.message) for n in app._notifications]
        assert any(n.startswith("Not sent: ") and "database or disk is full" in n
                   and "back in the composer" in n for n in notices), notices
        await pilot.press("ctrl+q")
    assert len(fake_server.requests) == 1  # nothing was sent

    monkeypatch.setattr(Store, "add_question_and_answer", write)  # space freed
    again = ChatrouteApp(real_engine, close_engine=True)
    async with again.run_test(size=SIZE) as pilot:
        await settle(pilot, again)
        assert again.screen.query_one(Composer).text == PROMPT
        await pilot.press("enter")
        await settle(pilot, again)
        assert [w.text for w in again.screen.query(MessageWidget)][-2:] == [
            "a question I took ten minutes to write", "Echo from gpt-4o-mini: a question I took ten minutes to write"]


async def test_a_regenerate_that_stored_nothing_leaves_the_conversation_shown_as_it_is(
        real_engine: Engine, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """g on the first answer, the disk full: nothing was stored, the answer and the turns after
    it stay the conversation. Before: the chat showed the first question above an empty failed
    answer and nothing below, as if the rest were gone, and r there sent the question again as a
    new turn at the end of the conversation."""
    def full(*args: Any, **kwargs: Any) -> Any:
        raise sqlite3.OperationalError("database or disk is full")

    app = ChatrouteApp(real_engine, close_engine=True)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await type_and_send(pilot, "@gpt-4o-mini how long are rivers?")
        await type_and_send(pilot, "@gpt-4o-mini and lakes?")
        shown = [w.text for w in app.screen.query(MessageWidget)]
        first = app.screen.query(MessageWidget)[1]
        monkeypatch.setattr(Store, "add_question_and_answer", full)
        first.focus()
        await pilot.press("g")
        await settle(pilot, app)
        assert [w.text for w in app.screen.query(MessageWidget)] == shown
        notices = [str(n.message) for n in app._notifications]
        assert any(n.startswith("Not regenerated: ") and "database or disk is full" in n for n in notices), notices
        assert getattr(app.screen.focused, "message_id", None) == first.message_id
    assert len(fake_server.requests) == 2
