"""A chat turn under a budget cap whose reservation cannot be written (the database full, or
read-only, since the question was stored): not sent, one line saying so, and its message closed
as an error, or, when that write fails too, left for the next open to settle."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from chatroute.store.reservations import ReservationQueries
from tests.engine.helpers import ANTHROPIC_KEY, OPENAI_KEY, run_cli, run_subprocess, write_config
from tests.fakeserver import FakeServer

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
