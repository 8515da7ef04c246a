"""A chat turn under a budget cap whose reservation cannot be written (the database full, or
read-only, since the question was stored): not sent, one line saying so, and its message closed
as an error, or, when that write fails too, left for the next open to settle."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from chatroute.store.reservations import ReservationQueries
from tests.engine.helpers import ANTHROPIC_KEY, OPENAI_KEY, run_cli, run_subprocess, write_config
from tests.fakeserver import Drop, FakeServer, Fault

KEYS = {"TEST_OPENAI_KEY": OPENAI_KEY, "TEST_ANTHROPIC_KEY": ANTHROPIC_KEY}
PROMPT = "What is the capital of France?"
CAP = "[budget]\ndaily_usd = 5.0\n"


def not_sent(db: Path) -> str:
    return (f"chatroute: error: not sent: the turn's expected cost could not be reserved against the budget cap "
            f"({db}: database or disk is full)")


def stored(db: Path) -> tuple[list[tuple[str, str, str]], int]:
    """(role, status, content) of each message, and how many turn records."""
    with sqlite3.connect(db) as c:
        messages = [tuple(r) for r in c.execute("SELECT role, status, content FROM messages ORDER BY seq")]
        return messages, int(c.execute("SELECT count(*) FROM turns").fetchone()[0])  # type: ignore[misc]


@pytest.mark.parametrize("how", ["routed", "pinned", "sent past the cap"])
def test_a_turn_whose_reservation_cannot_be_written_is_not_sent_and_closed(
        capsys: pytest.CaptureFixture[str], chatroute_home: Path, fake_server: FakeServer,
        monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    """Sent past the cap: the user said yes to a turn the cap refused (--over-budget, the TUI's
    dialog); its reservation is written after the refusal, and its message was left open."""
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", ANTHROPIC_KEY)
    write_config(chatroute_home, fake_server,
                 extra="[budget]\ndaily_usd = 0.000001\n" if how == "sent past the cap" else CAP)

    def full(*_: object, **__: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(ReservationQueries, "reserve", full)
    pin = {"pinned": ["-m", "openai/gpt-4o-mini"], "sent past the cap": ["--over-budget"]}.get(how, [])
    code, out, err = run_cli(capsys, "ask", *pin, PROMPT)
    db = chatroute_home / "chatroute.db"
    assert (code, out, err) == (2, "", not_sent(db) + "\n")
    assert not fake_server.requests
    assert stored(db) == ([("user", "complete", PROMPT), ("assistant", "error", "")], 0)


def test_when_its_message_cannot_be_closed_either_the_next_open_settles_it(
        chatroute_home: Path, fake_server: FakeServer) -> None:
    """In a process of its own, so that the next open (another process) finds its writer gone."""
    write_config(chatroute_home, fake_server, extra=CAP)
    db = chatroute_home / "chatroute.db"
    child = subprocess.run([sys.executable, "-m", "tests.hardening.full_disk_runner", "no-reservation", "ask",
                            PROMPT], env={**os.environ, **KEYS}, capture_output=True, timeout=120)
    err = child.stderr.decode()
    assert (child.returncode, child.stdout.decode()) == (2, ""), err
    assert err == (not_sent(db) + "; its status could not be written either; the next start marks it "
                   "interrupted\n")
    assert not fake_server.requests
    assert stored(db) == ([("user", "complete", PROMPT), ("assistant", "streaming", "")], 0)
    assert run_subprocess("costs", env=KEYS).returncode == 0  # the next open
    # Interrupted, with no turn record: no model was sent anything, so nothing is billed.
    assert stored(db) == ([("user", "complete", PROMPT), ("assistant", "interrupted", "")], 0)


@pytest.mark.parametrize("first_fails", ["500", "after thinking"])
def test_a_fail_over_whose_reservation_cannot_be_moved_is_not_sent_and_closed(
        capsys: pytest.CaptureFixture[str], chatroute_home: Path, fake_server: FakeServer,
        monkeypatch: pytest.MonkeyPatch, first_fails: str) -> None:
    """The routed model fails before any token, and the move of the turn's reservation to the
    next model cannot be written: the turn ends there as a first reservation's failure ends it.
    Before, the line was the bare database error and the message was left 'streaming'. A first
    attempt that streamed thinking was billed: its record is written all the same."""
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", ANTHROPIC_KEY)
    write_config(chatroute_home, fake_server, pool=["openai/gpt-4o-mini", "openai/gpt-4o"], extra=CAP)
    for model in ("gpt-4o-mini", "gpt-4o"):
        fake_server.script(model, Fault(status=500) if first_fails == "500" else
                           Drop(after_chunks=0, reasoning="The user asks for a capital. " * 20))
    reserve = ReservationQueries.reserve

    def full_on_move(self: ReservationQueries, *args: Any, **kwargs: Any) -> int | None:
        if kwargs.get("replacing") is not None:
            raise sqlite3.OperationalError("database or disk is full")
        return reserve(self, *args, **kwargs)

    monkeypatch.setattr(ReservationQueries, "reserve", full_on_move)
    code, out, err = run_cli(capsys, "ask", PROMPT)
    db = chatroute_home / "chatroute.db"
    [first] = [r.model for r in fake_server.requests]  # nothing sent after the move failed
    to = "openai/gpt-4o" if first == "gpt-4o-mini" else "openai/gpt-4o-mini"
    assert (code, out, err) == (2, "", f"chatroute: error: not sent: the turn's expected cost could not be reserved "
                                       f"against the budget cap as it failed over to {to} ({db}: database or disk "
                                       "is full)\n")
    billed = 0 if first_fails == "500" else 1
    assert stored(db) == ([("user", "complete", PROMPT), ("assistant", "error", "")], billed)
    with closing(sqlite3.connect(db)) as c:
        assert c.execute("SELECT count(*) FROM budget_reservations").fetchone() == (0,)
        if billed:
            [(model, cost)] = c.execute("SELECT model, cost_usd FROM turns").fetchall()
            assert model == f"openai/{first}" and cost > 0
