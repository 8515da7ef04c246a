"""store/liveness.py: whose streaming message is abandoned."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from chatroute.store.liveness import parse_writer, process_start, writer_gone, writer_tag

HOST = socket.gethostname()
CUTOFF = "2026-01-01T00:00:00.000000Z"
RECENT = "2026-06-01T00:00:00.000000Z"
OLD = "2025-06-01T00:00:00.000000Z"


def test_own_tag_names_this_process_and_parses_back() -> None:
    host, pid, start = parse_writer(writer_tag())
    assert (host, pid) == (HOST, str(os.getpid())) and start == process_start(os.getpid())
    assert parse_writer("box:42") == ("box", "42", None)  # a tag from before start times


def test_which_writers_are_gone() -> None:
    me = writer_tag()
    assert not writer_gone(me, RECENT, host=HOST, cutoff=CUTOFF)
    assert writer_gone(me, OLD, host=HOST, cutoff=CUTOFF)  # alive but silent that long: hung
    assert writer_gone(None, RECENT, host=HOST, cutoff=CUTOFF)  # no writer recorded
    # another host cannot be checked: only staleness decides
    assert not writer_gone("elsewhere:1", RECENT, host=HOST, cutoff=CUTOFF)
    assert writer_gone("elsewhere:1", OLD, host=HOST, cutoff=CUTOFF)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert writer_gone(f"{HOST}:{child.pid}", RECENT, host=HOST, cutoff=CUTOFF)  # the process exited
