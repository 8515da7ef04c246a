"""Standard output that cannot take the output: a reader gone (`| head -1`, `| true`) or a full disk.

The real `chatroute` runs in a child process with its stdout a pipe whose reader has closed, or
/dev/full. A closed pipe ends the command quietly (the reader asked for no more), with no
traceback and no "Exception ignored" from the interpreter's own flush at exit; a full disk is
one error line and exit 2. A turn being streamed when the write fails stays saved, interrupted,
with its partial text.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import IO

import pytest

from tests.fakeserver import FakeServer, Reply

SLOW_REPLY = Reply(text=" ".join(f"w{i}" for i in range(40)), tokens_per_s=20)  # about 2 s
COMMANDS = [
    ["costs"],
    ["costs", "--format", "csv"],
    ["models", "--json"],
    ["route", "hello there"],
    ["cache", "stats", "--json"],
    ["ask", "--json", "-m", "openai/gpt-4o-mini", "hello there"],
]


def _start(args: list[str], stdout: int | IO[bytes], *, buffered: bool) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    # Python's default: stdout buffered, so what is left is flushed (and fails) only at exit.
    env.pop("PYTHONUNBUFFERED", None)
    if not buffered:
        env["PYTHONUNBUFFERED"] = "1"
    return subprocess.Popen([sys.executable, "-m", "chatroute", *args], env=env, stdout=stdout,
                            stderr=subprocess.PIPE)


def _messages(home: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(home / "chatroute.db") as db:
        return [tuple(r) for r in db.execute("SELECT role, status, content FROM messages ORDER BY seq")]


def _to_closed_pipe(args: list[str], *, buffered: bool) -> tuple[int, str]:
    """Run with stdout a pipe nobody reads any more, as `chatroute ... | true` does."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        child = _start(args, write_end, buffered=buffered)
    finally:
        os.close(write_end)
    _, err = child.communicate(timeout=60)
    return child.returncode, err.decode()


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_a_closed_pipe_ends_the_command_quietly(configured: FakeServer, args: list[str]) -> None:
    code, err = _to_closed_pipe(args, buffered=True)
    assert (code, err) == (0, ""), err


def test_a_closed_pipe_unbuffered_fails_at_the_first_print_and_ends_quietly(configured: FakeServer) -> None:
    code, err = _to_closed_pipe(["costs"], buffered=False)
    assert (code, err) == (0, ""), err


needs_dev_full = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")


@needs_dev_full
@pytest.mark.parametrize("args", [COMMANDS[0], COMMANDS[2], COMMANDS[-1]], ids=lambda a: " ".join(a[:2]))
def test_a_full_disk_under_stdout_is_one_error_line(configured: FakeServer, args: list[str]) -> None:
    with open("/dev/full", "wb") as full:
        child = _start(args, full, buffered=True)
        _, raw = child.communicate(timeout=60)
    err = raw.decode()
    assert child.returncode == 2, err
    assert err == "chatroute: error: cannot write the output: No space left on device\n"


def test_a_reader_leaving_mid_answer_keeps_the_turn_saved(configured: FakeServer, chatroute_home: Path) -> None:
    configured.script("gpt-4o-mini", SLOW_REPLY)
    child = _start(["ask", "-m", "openai/gpt-4o-mini", "tell me"], subprocess.PIPE, buffered=True)
    assert child.stdout is not None and child.stderr is not None
    assert child.stdout.read(2) == b"w0"  # `| head -c2`: the first words arrive, then the reader leaves
    child.stdout.close()
    err = child.stderr.read().decode()
    assert child.wait(timeout=60) == 0 and err == ""
    stored = _messages(chatroute_home)
    assert [(role, status) for role, status, _ in stored] == [("user", "complete"), ("assistant", "interrupted")]
    partial = stored[1][2]
    assert partial.startswith("w0") and len(partial) < len(SLOW_REPLY.text or "")


@needs_dev_full
def test_a_full_disk_mid_answer_says_so_and_keeps_the_turn_saved(configured: FakeServer,
                                                                 chatroute_home: Path) -> None:
    configured.script("gpt-4o-mini", SLOW_REPLY)
    with open("/dev/full", "wb") as full:
        child = _start(["ask", "-m", "openai/gpt-4o-mini", "tell me"], full, buffered=True)
        _, raw = child.communicate(timeout=60)
    err = raw.decode()
    assert child.returncode == 2
    assert err == "chatroute: error: cannot write the output: No space left on device\n"
    stored = _messages(chatroute_home)
    assert [(role, status) for role, status, _ in stored] == [("user", "complete"), ("assistant", "interrupted")]
    assert stored[1][2].startswith("w0")
