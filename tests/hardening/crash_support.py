"""Helpers for the crash and multi-process tests: the real `chatroute` in child processes (plain
pipes or a pseudo-terminal), polling the database while they stream, and killing them hard.

The database is read with plain sqlite3 while a child streams: `Store.open` would run the
stale-stream recovery, and the point of the tests is to see what the *next* real open does.
"""

from __future__ import annotations

import fcntl
import os
import signal
import sqlite3
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def chatroute_argv(*args: str) -> list[str]:
    """The real command, with the interpreter running the tests (`python -m chatroute` is the
    console script's own entry point)."""
    return [sys.executable, "-m", "chatroute", *args]


def wait_until(probe: Callable[[], T | None], timeout: float, what: str, interval: float = 0.05,
               alive: Callable[[], str | None] | None = None) -> T:
    """Poll until `probe` returns something truthy; `alive` may report a child that died early."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if alive is not None:
            problem = alive()
            if problem:
                raise AssertionError(f"while waiting for {what}: {problem}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


@dataclass(frozen=True)
class Partial:
    message_id: str
    conversation_id: str
    content: str
    status: str
    thinking_chars: int


def read_messages(db: Path, where: str = "1", params: Sequence[object] = ()) -> list[Partial]:
    """Assistant messages as another process sees them right now (no recovery, no migration)."""
    if not db.exists():
        return []
    conn = sqlite3.connect(str(db), timeout=10)
    try:
        rows = conn.execute(
            f"SELECT id, conversation_id, content, status, thinking_chars FROM messages"
            f" WHERE role = 'assistant' AND {where}"
            " ORDER BY seq",
            tuple(params),
        ).fetchall()
    except sqlite3.OperationalError:  # not created or not migrated yet
        return []
    finally:
        conn.close()
    return [Partial(*r) for r in rows]


def streaming_partial(db: Path, min_chars: int = 1) -> Partial | None:
    """The reply a live process is streaming, once its saved partial has at least min_chars."""
    for p in read_messages(db, "status = 'streaming'"):
        if len(p.content) >= min_chars:
            return p
    return None


def sqlite_integrity(db: Path) -> str:
    conn = sqlite3.connect(str(db), timeout=10)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def kill_hard(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL (no handler, no atexit, no finally) and reap."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover - a kill -9 that does not land
        pass


class PipeReader:
    """Drains a child's pipe on a thread, so the test can look at the output so far."""

    def __init__(self, stream: object) -> None:
        self._stream = stream
        self._chunks: list[bytes] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        read = self._stream.read1  # type: ignore[attr-defined]
        while True:
            try:
                data = read(65536)
            except (OSError, ValueError):
                return
            if not data:
                return
            with self._lock:
                self._chunks.append(data)

    def text(self) -> str:
        with self._lock:
            return b"".join(self._chunks).decode("utf-8", "replace")

    def finish(self, timeout: float = 5) -> str:
        self._thread.join(timeout)
        return self.text()


class PtyChild:
    """A child process on a pseudo-terminal of a fixed size, its screen output drained on a thread.

    The child gets the slave side as stdin/stdout/stderr and its own session (so the pty is its
    controlling terminal, as in a real terminal emulator); the test types by writing to the master.
    """

    def __init__(self, argv: list[str], *, env: dict[str, str], cwd: Path | None = None,
                 cols: int = 100, rows: int = 30) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        full_env = dict(env, TERM="xterm-256color", COLUMNS=str(cols), LINES=str(rows))
        full_env.pop("NO_COLOR", None)
        try:
            self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=full_env,
                                         cwd=cwd, start_new_session=True, close_fds=True)
        finally:
            os.close(slave)  # the child holds its own copy; EOF on the master once it exits
        self._out = bytearray()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        # Keep reading: a full pty buffer would block the child's screen updates.
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO once the child side is closed
                return
            if not data:
                return
            with self._lock:
                self._out += data

    def output(self) -> str:
        with self._lock:
            return self._out.decode("utf-8", "replace")

    def output_size(self) -> int:
        with self._lock:
            return len(self._out)

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def exited(self) -> str | None:
        code = self.proc.poll()
        if code is None:
            return None
        return f"the TUI exited early with code {code}; screen tail: {self.output()[-800:]!r}"

    def kill(self) -> None:
        kill_hard(self.proc)  # type: ignore[arg-type]

    def close(self) -> None:
        self.kill()
        self._thread.join(timeout=5)  # ends with EIO once no process holds the slave side
        try:
            os.close(self.master)
        except OSError:
            pass
