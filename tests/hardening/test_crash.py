"""Crash safety: the real `chatroute ask` and the real TUI (on a pseudo-terminal) are killed with
SIGKILL while a reply streams. Nothing runs on the way down (no handler, no finally, no atexit),
so what survives is exactly what the store had committed.

After each kill: the file passes `PRAGMA integrity_check` (and the search index matches the
messages), the partial reply saved while streaming is there and the next open marks it
interrupted with its text intact, and the next `chatroute ask` and `chatroute costs` work.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chatroute.store import Store
from tests.engine.helpers import OPENAI_KEY, write_config
from tests.fakeserver import FakeServer, Reply
from tests.hardening.crash_support import (
    REPO,
    Partial,
    PipeReader,
    PtyChild,
    chatroute_argv,
    kill_hard,
    read_messages,
    sqlite_integrity,
    streaming_partial,
    wait_until,
)

PROMPT = "tell me a very long story about lighthouses"
# Slow enough that the kill lands mid-stream, fast enough that the 0.5 s partial saves have text.
STREAM = Reply(endless=True, tokens_per_s=60, input_tokens=15, output_tokens=0)
START_TIMEOUT = 30.0  # cold imports on a busy 2-core machine
KILLED_WRITERS = 3


@pytest.fixture
def child_env(chatroute_home: Path, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", "sk-ant-test")
    # One model: the partial's model and the costs are predictable.
    write_config(chatroute_home, fake_server, pool=["openai/gpt-4o-mini"])
    fake_server.script(STREAM)  # the first request streams until its client dies
    return dict(os.environ)


def _wait_mid_stream(db: Path, alive: object) -> Partial:
    """Wait for a saved partial, then for the next periodic save: the stream is live and saving."""
    first = wait_until(lambda: streaming_partial(db), START_TIMEOUT, "the first saved partial", alive=alive)
    return wait_until(
        lambda: next((p for p in read_messages(db, "id = ?", (first.message_id,))
                      if p.status == "streaming" and len(p.content) > len(first.content)), None),
        10, "a second partial save", alive=alive,
    )


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(chatroute_argv(*args), env=env, cwd=REPO, capture_output=True, text=True, timeout=60)


def _assert_as_killed(db: Path, killed: Partial) -> str:
    """Right after the kill, before anything of ours opens the file: sound, and the partial is
    still marked streaming (nothing ran on the way down; recovery is the next open's job).
    Returns the saved partial text."""
    assert sqlite_integrity(db) == "ok"
    [still] = read_messages(db, "id = ?", (killed.message_id,))
    assert still.status == "streaming"
    assert still.content.startswith(killed.content)
    return still.content


def _assert_next_runs_work(db: Path, killed: Partial, saved: str, env: dict[str, str],
                           fake_server: FakeServer) -> None:
    """The next `chatroute ask` continues the same conversation cleanly, sending the partial as
    history; the store is sound with the partial interrupted; `chatroute costs` works."""
    done = _run("ask", "--no-cache", "-c", killed.conversation_id, "and then?", env=env)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "locked" not in done.stderr
    assert done.stdout.strip()
    assert {"role": "assistant", "content": saved} in fake_server.requests[-1].messages

    with Store.open(db) as store:
        assert store.integrity_check() == "ok"  # also compares the search index with the messages
        history = store.history(killed.conversation_id)
        assert [(m.role, m.status) for m in history] == [
            ("user", "complete"), ("assistant", "interrupted"), ("user", "complete"), ("assistant", "complete"),
        ]
        assert history[0].content == PROMPT
        assert history[1].content == saved  # recovery keeps the text as saved
        # The killed turn got an estimated record when the next open recovered it.
        killed_turn, next_turn = store.turns(killed.conversation_id)
        assert (killed_turn.message_id, killed_turn.status, killed_turn.usage_estimated) == (
            killed.message_id, "interrupted", True)
        assert killed_turn.cost_usd and next_turn.status == "ok"

    table = _run("costs", env=env)
    assert table.returncode == 0 and "Traceback" not in table.stderr, table.stderr
    report = _run("costs", "--format", "json", env=env)
    assert report.returncode == 0, report.stderr
    # Both turns are counted, once each: the killed one as an estimate (the provider billed it).
    everything = json.loads(report.stdout)["periods"]["all"]
    assert (everything["turns"], everything["estimated_turns"]) == (2, 1)


def test_sigkill_of_chatroute_ask_mid_stream(child_env: dict[str, str], chatroute_home: Path,
                                             fake_server: FakeServer) -> None:
    db = chatroute_home / "chatroute.db"
    proc = subprocess.Popen(chatroute_argv("ask", "--no-cache", PROMPT), env=child_env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = PipeReader(proc.stdout), PipeReader(proc.stderr)

        def died() -> str | None:
            return None if proc.poll() is None else f"ask exited early ({proc.returncode}): {err.text()[-500:]}"

        live = _wait_mid_stream(db, died)
        # Another process opening the store meanwhile must leave a live stream alone.
        with Store.open(db) as other:
            assert other.get_message(live.message_id).status == "streaming"  # type: ignore[union-attr]
        live = wait_until(
            lambda: next((p for p in read_messages(db, "id = ?", (live.message_id,))
                          if p.status == "streaming" and len(p.content) > len(live.content)), None),
            10, "the stream to keep saving after another open", alive=died,
        )
        wait_until(lambda: len(out.text()) > len(live.content), 5, "stdout ahead of the saved partial", alive=died)
        kill_hard(proc)
    finally:
        kill_hard(proc)
    printed = out.finish()
    assert proc.returncode == -9
    [after] = read_messages(db, "id = ?", (live.message_id,))
    # What the user saw vs what survived: the store is behind by at most one save interval.
    assert printed.startswith(after.content) and after.content
    print(f"\nkilled after {len(printed)} chars on stdout; {len(after.content)} saved, "
          f"{len(printed) - len(after.content)} lost")
    saved = _assert_as_killed(db, live)
    _assert_next_runs_work(db, live, saved, child_env, fake_server)


def test_sigkill_of_the_tui_mid_stream(child_env: dict[str, str], chatroute_home: Path,
                                       fake_server: FakeServer) -> None:
    db = chatroute_home / "chatroute.db"
    tui = PtyChild(chatroute_argv(), env=child_env, cwd=REPO, cols=100, rows=30)
    try:
        wait_until(lambda: "preset:" in tui.output(), START_TIMEOUT, "the TUI's first screen", alive=tui.exited)
        tui.type(PROMPT)
        # The composer echoes what was typed: it has focus and the keys arrived.
        wait_until(lambda: "lighthouses" in tui.output(), 10, "the prompt on screen", alive=tui.exited)
        tui.type("\r")
        live = _wait_mid_stream(db, tui.exited)
        wait_until(lambda: "w3 " in tui.output(), 5, "tokens on screen", alive=tui.exited)
        tui.kill()
        assert tui.proc.returncode == -9
    finally:
        tui.close()

    saved = _assert_as_killed(db, live)

    # The next TUI open recovers the stream: it shows the saved partial, marked interrupted.
    # (It is then killed too, idle: quitting with ctrl+q right after start-up waits for the
    # SDK warm-up thread, seconds on a loaded machine, and is not what this test is about.)
    first_words = " ".join(saved.split()[:3])
    again = PtyChild(chatroute_argv(), env=child_env, cwd=REPO, cols=100, rows=30)
    try:
        # The error line is the recovered turn record's (the open priced the killed turn).
        wait_until(lambda: "stopped while the reply streamed" in again.output() and first_words in again.output(),
                   START_TIMEOUT, "the interrupted partial on the reopened TUI", alive=again.exited)
        assert "Traceback" not in again.output()
    finally:
        again.close()
    [recovered] = read_messages(db, "id = ?", (live.message_id,))
    assert (recovered.status, recovered.content) == ("interrupted", saved)
    _assert_next_runs_work(db, live, saved, child_env, fake_server)


def test_sigkill_of_fast_writers_at_random_moments(child_env: dict[str, str], chatroute_home: Path,
                                                   fake_server: FakeServer) -> None:
    """Writers doing a turn every few ms (store and cache on the same file) are killed at random
    moments, so kills land inside transactions, between the turn's writes, and inside the
    cache's writes. The next open must find a sound file where every turn is all-or-nothing."""
    fake_server.reset()  # instant answers: the process spends its time writing
    rng = random.Random(6)
    delays = sorted(rng.uniform(0.1, 1.2) for _ in range(KILLED_WRITERS))
    writers = [
        subprocess.Popen([sys.executable, "-m", "tests.hardening.crash_engine_loop", "--label", f"k{n}",
                          "--turns", "100000", "--wait"],
                         env=child_env, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
        for n in range(KILLED_WRITERS)
    ]
    try:
        for w in writers:
            assert w.stdout is not None and w.stdout.readline().strip() == b"ready", w.communicate(timeout=30)
        for w in writers:
            assert w.stdin is not None
            w.stdin.write(b"go\n")
            w.stdin.flush()
        start = time.monotonic()
        for w, delay in zip(writers, delays, strict=True):
            time.sleep(max(0.0, start + delay - time.monotonic()))
            assert w.poll() is None, w.communicate(timeout=30)
            kill_hard(w)
    finally:
        for w in writers:
            kill_hard(w)
    assert all(w.returncode == -9 for w in writers)

    db = chatroute_home / "chatroute.db"
    assert sqlite_integrity(db) == "ok"
    with Store.open(db) as store:
        assert store.integrity_check() == "ok"
        c = store.conn
        assert c.execute("SELECT COUNT(*) FROM messages WHERE status = 'streaming'").fetchone()[0] == 0
        turns = c.execute("SELECT COUNT(*) FROM turns").fetchone()[0]
        assert turns >= KILLED_WRITERS  # the writers got going before they were killed
        # All-or-nothing turns: a complete answer has exactly one record; a cut-off one has one
        # estimated record once its request had gone out (its model saved), else none.
        rows = c.execute(
            "SELECT m.status, m.content, (SELECT COUNT(*) FROM turns t WHERE t.message_id = m.id)"
            " FROM messages m WHERE m.role = 'assistant'"
        ).fetchall()
        for status, content, records in rows:
            assert (status, records) in (("complete", 1), ("interrupted", 0), ("interrupted", 1)), (
                status, content, records)
            assert status != "complete" or content.startswith("Echo from gpt-4o-mini:")
        # Every cached answer belongs to a committed turn.
        orphans = c.execute(
            "SELECT COUNT(*) FROM cache_entries e WHERE e.turn_id IS NOT NULL"
            " AND NOT EXISTS (SELECT 1 FROM turns t WHERE t.id = e.turn_id)"
        ).fetchone()[0]
        assert orphans == 0
        # Each killed conversation lost at most its last prompt's answer.
        for conv in store.list_conversations():
            history = store.history(conv.id)
            assert all(m.status == "complete" for m in history[:-2])
    done = _run("ask", "--no-cache", "one more question after the crashes", env=child_env)
    assert done.returncode == 0, done.stderr
    print(f"\n{turns} turns committed by {KILLED_WRITERS} writers killed at {[round(d, 2) for d in delays]} s; "
          f"{sum(1 for r in rows if r[0] == 'interrupted')} answers cut off")


def test_a_dead_writers_stream_is_recovered_even_when_its_pid_lives_on(chatroute_home: Path) -> None:
    """pid reuse: the writer died and its pid now belongs to another process (common in
    containers, where chatroute is pid 1 on every run). Before writer tags carried the process
    start time, such a stream stayed 'streaming' (spinner, no retry) for 10 minutes, or for
    as long as the new process ran when the tag was its own."""
    from chatroute.store.liveness import BOOT_ID, process_start

    db = chatroute_home / "chatroute.db"
    host = socket.gethostname()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        other_start = wait_until(lambda: process_start(other.pid), 10, "the other process's start time")
        writers = {
            "pid reused": f"{host}:{other.pid}:{BOOT_ID}.1",
            "our pid, earlier process": f"{host}:{os.getpid()}:{BOOT_ID}.1",
            "live writer": f"{host}:{other.pid}:{other_start}",
        }
        ids: dict[str, str] = {}
        with Store.open(db) as store:
            conv = store.create_conversation("pid reuse")
            user = store.add_message(conv.id, "user", "q")
            for name, writer in writers.items():
                msg = store.add_message(conv.id, "assistant", f"partial of {name}", user.id, status="streaming")
                store.conn.execute("UPDATE messages SET writer = ? WHERE id = ?", (writer, msg.id))
                ids[name] = msg.id
        with Store.open(db) as store:  # the next open
            status = {name: store.get_message(mid).status for name, mid in ids.items()}  # type: ignore[union-attr]
            assert store.get_message(ids["pid reused"]).content == "partial of pid reused"  # type: ignore[union-attr]
    finally:
        other.kill()
        other.wait()
    assert status == {"pid reused": "interrupted", "our pid, earlier process": "interrupted",
                      "live writer": "streaming"}
