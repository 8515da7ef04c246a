"""A turn under a budget cap whose reservation cannot be written (the database full or
read-only) is not sent, and the chat says so on the answer's one error line."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from chatroute.engine import Engine
from chatroute.store import Store
from chatroute.store.reservations import ReservationQueries
from chatroute.tui.app import ChatrouteApp
from tests.engine.helpers import ANTHROPIC_KEY, OPENAI_KEY, write_config
from tests.fakeserver import FakeServer, Fault
from tests.tui.helpers import assistants, settle, type_and_send
from tests.tui.test_think_tags import shown


@pytest.mark.parametrize("status_write", ["fits", "fails too"])
async def test_the_chat_says_the_turn_was_not_sent(chatroute_home: Path, fake_server: FakeServer,
                                                   monkeypatch: pytest.MonkeyPatch, status_write: str) -> None:
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", ANTHROPIC_KEY)
    write_config(chatroute_home, fake_server, extra="[budget]\ndaily_usd = 5.0\n")
    engine = Engine.open()

    def full(*_: object, **__: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(ReservationQueries, "reserve", full)
    if status_write == "fails too":
        monkeypatch.setattr(Store, "finish_turn", full)
    async with ChatrouteApp(engine).run_test(size=(200, 30)) as pilot:
        await type_and_send(pilot, "What is the capital of France?")
        [msg] = assistants(pilot.app)
        screen = shown(pilot.app)
    line = (f"not sent: the turn's expected cost could not be reserved against the budget cap "
            f"({chatroute_home / 'chatroute.db'}: database or disk is full)")
    if status_write == "fails too":
        line += "; its status could not be written either; the next start marks it interrupted"
    assert msg.error == line and "⚠ not sent: the turn's expected cost" in screen, screen
    assert not fake_server.requests


async def test_read_back_the_answer_still_says_it_was_not_sent(chatroute_home: Path, fake_server: FakeServer,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The error line is not stored: read back (the conversation opened again), an answer
    closed as an error with no turn record says it was not sent. Before: 'the stream was
    interrupted', for a turn that never had one."""
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", ANTHROPIC_KEY)
    write_config(chatroute_home, fake_server, extra="[budget]\ndaily_usd = 5.0\n")
    engine = Engine.open()

    def full(*_: object, **__: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(ReservationQueries, "reserve", full)
    async with ChatrouteApp(engine).run_test(size=(200, 30)) as pilot:
        await type_and_send(pilot, "What is the capital of France?")
        [conv] = engine.store.list_conversations()
    async with ChatrouteApp(engine).run_test(size=(200, 30)) as pilot:
        await pilot.app.screen.open_conversation(conv.id)
        await settle(pilot, pilot.app)
        screen = shown(pilot.app)
    assert "⚠ not sent: the turn failed before its request went out" in screen, screen
    assert "interrupted" not in screen, screen


async def test_a_fail_over_whose_reservation_cannot_be_moved_says_it_was_not_sent(
        chatroute_home: Path, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The routed model answers 500 before any token; the move of the turn's reservation to the
    next model cannot be written. Before, the line was the bare database error and the message
    was left 'streaming'."""
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", ANTHROPIC_KEY)
    write_config(chatroute_home, fake_server, pool=["openai/gpt-4o-mini", "openai/gpt-4o"],
                 extra="[budget]\ndaily_usd = 5.0\n")
    for model in ("gpt-4o-mini", "gpt-4o"):
        fake_server.script(model, Fault(status=500))
    engine = Engine.open()
    reserve = ReservationQueries.reserve

    def full_on_move(self: ReservationQueries, *args: Any, **kwargs: Any) -> int | None:
        if kwargs.get("replacing") is not None:
            raise sqlite3.OperationalError("database or disk is full")
        return reserve(self, *args, **kwargs)

    monkeypatch.setattr(ReservationQueries, "reserve", full_on_move)
    async with ChatrouteApp(engine).run_test(size=(200, 30)) as pilot:
        await type_and_send(pilot, "What is the capital of France?")
        [msg] = assistants(pilot.app)
        screen = shown(pilot.app)
    [first] = [r.model for r in fake_server.requests]  # nothing sent after the move failed
    to = "openai/gpt-4o" if first == "gpt-4o-mini" else "openai/gpt-4o-mini"
    assert msg.error == (f"not sent: the turn's expected cost could not be reserved against the budget cap as it "
                         f"failed over to {to} ({chatroute_home / 'chatroute.db'}: database or disk is full)")
    assert "⚠ not sent: the turn's expected cost" in screen, screen
    with closing(sqlite3.connect(chatroute_home / "chatroute.db")) as c:
        assert c.execute("SELECT status FROM messages ORDER BY seq").fetchall() == [("complete",), ("error",)]
        assert c.execute("SELECT count(*) FROM budget_reservations").fetchone() == (0,)
