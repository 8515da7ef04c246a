"""A process that takes the database's write lock and stops (SIGSTOP: a debugger, a sleeping
laptop) never freezes chatroute. The real lock holder is a stopped child
process; `chatroute ask` runs as a real process and the TUI through Textual's Pilot.

- `ask` says what it waits for, Ctrl+C stops it at once (exit 130, one line), nothing is written;
- the TUI stays responsive while a turn waits, says so, Esc stops the wait at once, and the
  prompt goes back into the composer; once the lock is free, the same prompt goes through.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.widgets.composer import Composer
from tests.engine.helpers import ask_json
from tests.fakeserver import FakeServer
from tests.tui.helpers import assistants, settle

HOLDER = """
import os, signal, sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
os.kill(os.getpid(), signal.SIGSTOP)
"""


@pytest.fixture
def stopped_lock_holder(capsys: pytest.CaptureFixture[str], configured: FakeServer,
                        chatroute_home: Path) -> Iterator[subprocess.Popen[bytes]]:
    """An earlier turn on record, then a child that holds the write lock and is stopped."""
    code, _ = ask_json(capsys, "-m", "openai/gpt-4o-mini", "an earlier question")
    assert code == 0
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(chatroute_home / "chatroute.db")],
                              stdout=subprocess.PIPE)
    assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
    for _ in range(100):  # wait until it has actually stopped
        with open(f"/proc/{holder.pid}/stat") as fh:
            if fh.read().split(") ")[1].startswith("T"):
                break
        time.sleep(0.02)
    try:
        yield holder
    finally:
        holder.kill()  # SIGKILL ends a stopped process too; its transaction rolls back
        holder.wait(timeout=10)


def _messages(home: Path) -> list[str]:
    with sqlite3.connect(home / "chatroute.db") as db:
        return [r[0] for r in db.execute("SELECT content FROM messages WHERE role = 'user' ORDER BY seq")]


def _release(holder: subprocess.Popen[bytes]) -> None:
    holder.kill()
    holder.wait(timeout=10)


def test_ask_says_what_it_waits_for_and_ctrl_c_stops_it_at_once(stopped_lock_holder: subprocess.Popen[bytes],
                                                                chatroute_home: Path) -> None:
    child = subprocess.Popen([sys.executable, "-m", "chatroute", "ask", "-m", "openai/gpt-4o-mini", "a new question"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ))
    assert child.stderr is not None
    try:
        notice = child.stderr.readline().decode()  # blocks until the first line: the notice
        # The holder's command line as ps shows it: the interpreter's own name (python or python3).
        holder = f"(pid {stopped_lock_holder.pid}, {Path(sys.executable).name} -c"
        assert f"waiting for another process {holder}" in notice, notice
        assert "to release the database lock (chatroute.db)" in notice, notice
        assert f"it is stopped (kill -CONT {stopped_lock_holder.pid} resumes it)" in notice, notice
        assert "Ctrl+C stops" in notice
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        code = child.wait(timeout=20)
        stopped_in = time.monotonic() - sent
    finally:
        child.kill()
    rest = child.stderr.read().decode()
    assert code == -signal.SIGINT and stopped_in < 3, (code, stopped_in, rest)  # a shell reads 130
    assert "Traceback" not in rest and rest.strip() == "chatroute: interrupted", rest
    _release(stopped_lock_holder)
    assert _messages(chatroute_home) == ["an earlier question"]  # nothing half-written


async def test_tui_stays_responsive_says_what_it_waits_for_and_esc_keeps_the_prompt(
        stopped_lock_holder: subprocess.Popen[bytes], configured: FakeServer, chatroute_home: Path) -> None:
    engine = Engine.open()
    app = ChatrouteApp(engine)
    prompt = "a question typed while another process holds the lock"
    async with app.run_test(size=(120, 40)) as pilot:
        # Not settle(): the warm-up thread (Engine.warm) waits on the held lock too, for seconds,
        # and a user types meanwhile.
        await pilot.pause()
        composer = app.screen.query_one(Composer)
        composer.focus()
        composer.insert(prompt)
        await pilot.press("enter")
        # The turn waits in a worker thread: keys still work, frame after frame.
        for _ in range(8):
            started = time.monotonic()
            await pilot.press("ctrl+b")  # the sidebar toggles
            await pilot.pause()
            assert time.monotonic() - started < 1.0
            await pilot.pause(0.2)
        notes = [str(n.message) for n in app._notifications]
        assert any(f"waiting for another process (pid {stopped_lock_holder.pid}" in n
                   and "to release the database lock" in n and "Esc" in n for n in notes), notes
        assert app.screen._turn is not None and app.screen._turn.is_running
        started = time.monotonic()
        await pilot.press("escape")
        while app.screen._turn.is_running and time.monotonic() - started < 5:
            await pilot.pause(0.05)
        assert not app.screen._turn.is_running and time.monotonic() - started < 1.5
        assert composer.text == prompt  # kept, to send again
        _release(stopped_lock_holder)
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(pilot, app)
        assert assistants(app)[-1].text.startswith("Echo from")
    await engine.aclose()
    assert _messages(chatroute_home) == ["an earlier question", prompt]


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, -signal.SIGINT), (signal.SIGTERM, 143)],
                         ids=["SIGINT", "SIGTERM"])
def test_ask_json_stopped_while_it_waits_still_prints_its_object(stopped_lock_holder: subprocess.Popen[bytes],
                                                                 signum: int, code: int) -> None:
    """Stopped before its turn was stored (here: waiting for the lock), `ask --json` printed
    nothing on stdout, where a turn stopped mid-stream prints its object: a script reading
    `.status` got empty input. Now it prints the object, `interrupted`, with nothing sent."""
    child = subprocess.Popen([sys.executable, "-m", "chatroute", "ask", "--json", "a new question"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ))
    assert child.stderr is not None
    try:
        notice = child.stderr.readline().decode()
        assert "waiting for another process" in notice, notice
        child.send_signal(signum)
        out, rest = child.communicate(timeout=20)
    finally:
        child.kill()
    assert child.returncode == code, rest
    assert b"Traceback" not in rest
    turn = json.loads(out)
    assert turn["status"] == "interrupted" and turn["turn_id"] is None and turn["message_id"] is None
    assert turn["text"] == "" and turn["cost_usd"] == 0 and turn["error"] == "stopped before the request was sent"
