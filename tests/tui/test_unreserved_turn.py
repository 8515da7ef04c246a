"""A turn under a budget cap whose reservation cannot be written (the database full or
read-only) is not sent, and the chat says so on the answer's one error line."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from chatroute.engine import Engine
from chatroute.store import Store
from chatroute.store.reservations import ReservationQueries
from chatroute.tui.app import ChatrouteApp
from tests.engine.helpers import ANTHROPIC_KEY, OPENAI_KEY, write_config
from tests.fakeserver import FakeServer
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
