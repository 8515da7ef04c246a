"""A full disk mid-stream: the paid answer still reaches stdout whole, one
line says it could not be saved and why, exit 2, no traceback, and the message is not left
'streaming' (marked interrupted with its cost where that still fits, else by the next open).

Run as the repro: `chatroute ask` in a real process with CHATROUTE_HOME on a 3 MB tmpfs that
fills up while the answer streams (needs mount rights, else skipped), and the same process
with the store's writes failing as a full disk makes them (always runs).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine.helpers import ANTHROPIC_KEY, OPENAI_KEY, run_subprocess, write_config
from tests.fakeserver import FakeServer, Reply
from tests.hardening.tmpfs import small_disk

KEYS = {"TEST_OPENAI_KEY": OPENAI_KEY, "TEST_ANTHROPIC_KEY": ANTHROPIC_KEY}
N_TOKENS = 12_000  # under gpt-4o-mini's max output (16,384): the whole answer arrives
ANSWER = "".join(f"w{i % 100} " for i in range(N_TOKENS))
BIG_TOKENS = 75_000  # about 300 KB, streamed over 2.5 s
BIG_ANSWER = "".join(f"w{i % 100} " for i in range(BIG_TOKENS))


def _one_save_error(err: str, db: Path) -> str:
    assert "Traceback" not in err, err
    lines = [x for x in err.splitlines() if x.startswith("chatroute: error:")]
    assert len(lines) == 1, err
    assert "could not be saved" in lines[0] and str(db) in lines[0] and "disk is full" in lines[0], lines[0]
    return lines[0]


def _assistant(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return [tuple(r) for r in conn.execute("SELECT status, content FROM messages WHERE role = 'assistant'")]


def _turns(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM turns").fetchone()[0])


@pytest.mark.parametrize("mode", ["small-writes-fit", "nothing-fits"])
def test_save_failures_mid_stream_keep_the_answer_on_stdout(chatroute_home: Path, fake_server: FakeServer,
                                                            mode: str) -> None:
    write_config(chatroute_home, fake_server)
    db = chatroute_home / "chatroute.db"
    assert run_subprocess("ask", "-m", "openai/gpt-4o-mini", "first", env=KEYS).returncode == 0
    fake_server.script("gpt-4o-mini", Reply(n_tokens=N_TOKENS, tokens_per_s=6_000))
    env = {**os.environ, **KEYS}
    child = subprocess.run([sys.executable, "-m", "tests.hardening.full_disk_runner", mode, "ask", "-m",
                            "openai/gpt-4o-mini", "a long answer"], env=env, capture_output=True, timeout=120)
    err = child.stderr.decode()
    assert child.returncode == 2, err
    assert child.stdout.decode().split() == ANSWER.split()  # every word reached stdout
    _one_save_error(err, db)
    if mode == "small-writes-fit":
        assert _assistant(db)[-1][0] == "interrupted"  # never left streaming
        assert _turns(db) == 2  # its cost is on record
    else:
        assert _assistant(db)[-1][0] == "streaming"
        # The next open sees the writer gone and marks it interrupted, with an estimated turn.
        assert run_subprocess("costs", env=KEYS).returncode == 0
        assert _assistant(db)[-1][0] == "interrupted" and _turns(db) == 2


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    with small_disk(tmp_path / f"full-{uuid.uuid4().hex[:6]}", "3m") as where:
        yield where


def test_real_full_disk_mid_stream(tiny_tmpfs: Path, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tiny_tmpfs
    monkeypatch.setenv("CHATROUTE_HOME", str(home))
    write_config(home, fake_server, extra='[models."openai/gpt-4o-mini"]\nmax_output_tokens = 100000\n')
    db = home / "chatroute.db"
    first = run_subprocess("ask", "-m", "openai/gpt-4o-mini", "first", env=KEYS)
    assert first.returncode == 0, first.stderr.decode()
    # Fill the disk, then free 160 KB: room for the new prompt, not for a 300 KB answer saved
    # every half second as it grows.
    filler = home / "filler"
    with filler.open("wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    os.truncate(filler, max(0, filler.stat().st_size - 160 * 1024))
    fake_server.script("gpt-4o-mini", Reply(n_tokens=BIG_TOKENS, tokens_per_s=30_000))
    child = run_subprocess("ask", "-m", "openai/gpt-4o-mini", "a long answer", env=KEYS, timeout=120)
    err = child.stderr.decode()
    assert child.returncode == 2, err
    assert child.stdout.decode().split() == BIG_ANSWER.split(), err  # every word reached stdout
    _one_save_error(err, db)
    filler.unlink()  # space again: the next open tidies up whatever could not be marked
    assert run_subprocess("costs", env=KEYS).returncode == 0
    statuses = [s for s, _ in _assistant(db)]
    assert statuses[0] == "complete" and statuses[-1] == "interrupted", statuses
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_cache_hit_that_cannot_be_saved_still_gives_its_answer(chatroute_home: Path,
                                                                  fake_server: FakeServer) -> None:
    """A repeat answered from the cache on a full disk: `ask --json` printed
    {"status": "error", "error": "…chatroute.db: database or disk is full"} and nothing of the answer
    (plain `ask` showed it, then the bare error), and the message was left 'streaming'. Now it is
    what a model's answer gets: the answer, `not_saved`, exit 2, and the message marked interrupted
    with its $0 turn record where that still fits."""
    write_config(chatroute_home, fake_server)
    db = chatroute_home / "chatroute.db"
    fake_server.script(Reply(text="Use flexbox on the parent."))
    assert run_subprocess("ask", "How do I center a div in CSS?", env=KEYS).returncode == 0
    env = {**os.environ, **KEYS}
    child = subprocess.run([sys.executable, "-m", "tests.hardening.full_disk_runner", "small-writes-fit", "ask",
                            "--json", "How do I center a div in CSS?"], env=env, capture_output=True, timeout=120)
    err = child.stderr.decode()
    assert child.returncode == 2, err
    out = json.loads(child.stdout)
    assert out.get("cache") == "hit" and out.get("text") == "Use flexbox on the parent.", out
    assert "disk is full" in out["not_saved"] and str(db) in out["not_saved"]
    assert len(fake_server.requests) == 1  # the repeat was the cache's
    assert _assistant(db)[-1][0] == "interrupted"  # never left streaming
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM turns WHERE cache_status = 'hit' AND cost_usd = 0").fetchone()[0] == 1
