"""Opening the store while another process holds its write lock is never a silent wait.

Opening writes when it must (a new file switching to WAL, a migration, recovering a stream a
killed process left): then it waits for the lock. Past half a second the command says so on
stderr, naming the holder's pid; the TUI, which opens the store before its screen is up, says
it on the terminal the same way; a timeout is one line naming the holder and what to do.
The holder is a real, stopped child process (SIGSTOP: a debugger, a suspended job).
"""

from __future__ import annotations

import os
import select
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatroute.store import Store
from chatroute.store.connection import StoreBusyError

# The holder's command line as ps shows it starts with the interpreter's own name (python or python3).
PYTHON = Path(sys.executable).name

HOLDER = """
import os, signal, sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
os.kill(os.getpid(), signal.SIGSTOP)
"""


def _hold(db: Path) -> subprocess.Popen[bytes]:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(db)], stdout=subprocess.PIPE)
    assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
    for _ in range(100):  # until it has actually stopped
        with open(f"/proc/{holder.pid}/stat") as fh:
            if fh.read().split(") ")[1].startswith("T"):
                break
        time.sleep(0.02)
    return holder


@pytest.fixture
def new_file_held(chatroute_home: Path) -> Iterator[subprocess.Popen[bytes]]:
    """No database yet; another process made the file and holds its lock (rollback journal:
    the first chatroute to open it must switch it to WAL, which needs the lock)."""
    holder = _hold(chatroute_home / "chatroute.db")
    try:
        yield holder
    finally:
        holder.kill()
        holder.wait(timeout=10)


@pytest.fixture
def recovery_held(chatroute_home: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A WAL database with a reply left 'streaming' by a killed process; another process holds
    the write lock the recovery needs."""
    db = chatroute_home / "chatroute.db"
    with Store.open(db) as store:
        conv = store.create_conversation("t")
        question = store.add_message(conv.id, "user", "q")
        reply = store.add_message(conv.id, "assistant", "half an answ", question.id, status="streaming")
    with sqlite3.connect(db) as raw:  # its writer: a pid that cannot exist
        raw.execute("UPDATE messages SET writer = ? WHERE id = ?", (f"{socket.gethostname()}:4194305", reply.id))
    holder = _hold(db)
    try:
        yield holder
    finally:
        holder.kill()
        holder.wait(timeout=10)


def _first_line(child: subprocess.Popen[bytes], timeout: float = 15.0) -> str:
    """The child's first line on stderr, or "" if none came in `timeout` s (a silent wait)."""
    assert child.stderr is not None
    ready, _, _ = select.select([child.stderr], [], [], timeout)
    return child.stderr.readline().decode() if ready else ""


def _chatroute(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "chatroute", *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ))


@pytest.mark.parametrize("args", [("costs",), ("cache", "stats")])
def test_a_command_says_it_waits_with_the_holders_pid_and_ctrl_c_ends_it(
        args: tuple[str, ...], new_file_held: subprocess.Popen[bytes]) -> None:
    started = time.monotonic()
    child = _chatroute(*args)
    assert child.stderr is not None
    try:
        notice = _first_line(child)
        noticed_after = time.monotonic() - started
        child.send_signal(signal.SIGINT)
        code = child.wait(timeout=20)
    finally:
        child.kill()
    rest = child.stderr.read().decode()
    assert f"chatroute: waiting for another process (pid {new_file_held.pid}, {PYTHON} -c" in notice, notice
    assert "to release the database lock (chatroute.db)" in notice and "Ctrl+C stops" in notice, notice
    assert f"kill -CONT {new_file_held.pid}" in notice, notice
    assert noticed_after < 8, noticed_after  # a cold interpreter start, then ~0.5 s of waiting
    # Ended by SIGINT itself, as a shell needs to stop a loop of commands (it reads 130).
    assert code == -signal.SIGINT and "Traceback" not in rest and rest.strip() == "chatroute: interrupted", rest


def test_the_tui_says_it_waits_before_its_screen_is_up(recovery_held: subprocess.Popen[bytes]) -> None:
    """`chatroute` (the TUI) opens the store first: a wait there is a line on the terminal,
    not a blank screen."""
    import pty

    leader, follower = pty.openpty()  # keys from a terminal, as the TUI requires (it refuses a pipe)
    child = subprocess.Popen([sys.executable, "-m", "chatroute"], stdin=follower, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=dict(os.environ))
    assert child.stderr is not None
    try:
        notice = _first_line(child)
    finally:
        child.kill()
        child.wait(timeout=10)
        os.close(leader)
        os.close(follower)
    assert f"waiting for another process (pid {recovery_held.pid}, {PYTHON} -c" in notice, notice


def test_opening_says_who_holds_the_lock_and_a_timeout_says_what_to_do(
        recovery_held: subprocess.Popen[bytes], chatroute_home: Path) -> None:
    lines: list[str | None] = []
    started = time.monotonic()
    with pytest.raises(StoreBusyError) as busy:
        Store.open(chatroute_home / "chatroute.db", busy_retry_s=1.5, on_wait=lines.append)
    waited = time.monotonic() - started
    pid = recovery_held.pid
    assert 1.5 <= waited < 4, waited
    assert len(lines) == 2 and lines[1] is None, lines  # told once, then that the wait ended
    assert lines[0] is not None and f"pid {pid}" in lines[0], lines
    message = str(busy.value)
    assert f"another process (pid {pid}, {PYTHON} -c" in message, message
    assert "held the database lock for over" in message, message
    assert f"kill -CONT {pid}" in message and f"kill {pid}" in message, message
    assert busy.value.exit_code == 2


def test_a_short_wait_stays_silent(recovery_held: subprocess.Popen[bytes], chatroute_home: Path) -> None:
    """A routine wait (another process's write of a few milliseconds) is not worth a line."""
    lines: list[str | None] = []
    os.kill(recovery_held.pid, signal.SIGCONT)
    recovery_held.kill()  # the lock goes at once
    recovery_held.wait(timeout=10)
    with Store.open(chatroute_home / "chatroute.db", on_wait=lines.append) as store:
        assert store.get_conversation(store.list_conversations()[0].id) is not None
    assert lines == []


def test_ask_json_stopped_while_opening_waits_still_prints_its_object(
        recovery_held: subprocess.Popen[bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl+C while the store waits to open: `ask --json` printed nothing on stdout; now its
    object, `interrupted`, nothing sent (no conversation, message or turn yet)."""
    import json

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")  # never used: nothing is sent
    child = _chatroute("ask", "--json", "-m", "openai/gpt-4o-mini", "a question")
    assert child.stderr is not None
    try:
        notice = _first_line(child)
        assert "waiting for another process" in notice, notice
        child.send_signal(signal.SIGINT)
        out, rest = child.communicate(timeout=20)
    finally:
        child.kill()
    assert child.returncode == -signal.SIGINT and b"Traceback" not in rest, rest
    turn = json.loads(out)
    assert turn["status"] == "interrupted" and turn["error"] == "stopped before the request was sent"
    assert turn["conversation_id"] is None and turn["message_id"] is None and turn["turn_id"] is None


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_stop_signal_while_opening_waits_is_handled_as_ctrl_c_is(
        signum: int, recovery_held: subprocess.Popen[bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGTERM (`timeout`, a service manager) or SIGHUP (the terminal closed) while a command
    still opens the database, before its event loop handles them: the process was killed by
    the signal, no line on stderr and, for `ask --json`, nothing on stdout. Now as Ctrl+C there:
    `chatroute: interrupted by SIGTERM`, exit 128 + n, and the JSON object."""
    import json

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")  # never used: nothing is sent
    for args in (("ask", "--json", "-m", "openai/gpt-4o-mini", "a question"), ("costs",)):
        child = _chatroute(*args)
        assert child.stderr is not None
        try:
            notice = _first_line(child)
            assert "waiting for another process" in notice, notice
            child.send_signal(signum)
            out, rest = child.communicate(timeout=20)
        finally:
            child.kill()
        said = rest.decode()
        assert child.returncode == 128 + signum, (args, child.returncode, said)
        assert "Traceback" not in said and said.strip() == f"chatroute: interrupted by {signal.Signals(signum).name}"
        if args[0] == "ask":
            turn = json.loads(out)
            assert turn["status"] == "interrupted" and turn["error"] == "stopped before the request was sent"
            assert turn["conversation_id"] is None and turn["turn_id"] is None
