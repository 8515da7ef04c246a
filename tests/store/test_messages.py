from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from chatroute.store import Store, TurnRecord


def _chain(store: Store) -> tuple[str, list[str]]:
    c = store.create_conversation()
    ids: list[str] = []
    parent = None
    for i in range(4):
        m = store.add_message(c.id, "user" if i % 2 == 0 else "assistant", f"m{i}", parent)
        ids.append(m.id)
        parent = m.id
    return c.id, ids


def test_history_follows_active_branch(store: Store) -> None:
    conv, ids = _chain(store)
    assert [m.content for m in store.history(conv)] == ["m0", "m1", "m2", "m3"]

    # Re-run the first reply: a sibling of m1 that becomes active; history ends there.
    alt = store.add_message(conv, "assistant", "m1-alt", ids[0], model="other/model")
    assert [m.content for m in store.history(conv)] == ["m0", "m1-alt"]
    assert [m.content for m in store.siblings(ids[1])] == ["m1", "m1-alt"]
    assert [m.active for m in store.siblings(alt.id)] == [False, True]

    # Switch back: the old branch, with its own descendants, is shown again.
    store.set_active(ids[1])
    assert [m.content for m in store.history(conv)] == ["m0", "m1", "m2", "m3"]
    store.set_active(alt.id)
    assert [m.content for m in store.history(conv)] == ["m0", "m1-alt"]


def test_set_active_deep_message_activates_its_ancestors(store: Store) -> None:
    conv, ids = _chain(store)
    store.add_message(conv, "assistant", "m1-alt", ids[0])
    store.set_active(ids[3])  # a leaf on the hidden branch
    assert [m.content for m in store.history(conv)] == ["m0", "m1", "m2", "m3"]
    assert [m.content for m in store.path_to(ids[2])] == ["m0", "m1", "m2"]


def test_compare_siblings_inactive_then_pick(store: Store) -> None:
    conv, ids = _chain(store)
    replies = [
        store.add_message(conv, "assistant", f"answer {k}", ids[2], model=k, active=(k == "a"))
        for k in ("a", "b", "c")
    ]
    assert len(store.siblings(replies[0].id)) == 4  # m3 + three compare answers
    assert store.history(conv)[-1].content == "answer a"
    store.set_active(replies[2].id)
    assert store.history(conv)[-1].content == "answer c"
    # Continuing from the pick.
    store.add_message(conv, "user", "follow up", replies[2].id)
    assert [m.content for m in store.history(conv)][-2:] == ["answer c", "follow up"]


def test_root_siblings(store: Store) -> None:
    c = store.create_conversation()
    a = store.add_message(c.id, "user", "first try")
    b = store.add_message(c.id, "user", "second try")
    assert [m.content for m in store.history(c.id)] == ["second try"]
    assert [m.id for m in store.siblings(a.id)] == [a.id, b.id]
    store.set_active(a.id)
    assert [m.content for m in store.history(c.id)] == ["first try"]


def test_long_history_is_in_order(store: Store) -> None:
    c = store.create_conversation()
    parent = None
    for i in range(300):
        parent = store.add_message(c.id, "user" if i % 2 == 0 else "assistant", f"{i}", parent).id
    assert [m.content for m in store.history(c.id)] == [str(i) for i in range(300)]


def test_streaming_partial_then_finish_in_one_write(store: Store) -> None:
    c = store.create_conversation()
    u = store.add_message(c.id, "user", "tell me")
    a = store.add_message(c.id, "assistant", "", u.id, status="streaming", model="m")
    store.update_message_text(a.id, "Once upon")
    m = store.get_message(a.id)
    assert m is not None and (m.content, m.status) == ("Once upon", "streaming")
    assert [h.message_id for h in store.search("upon")] == [a.id]  # partial text is searchable
    rec = TurnRecord(conversation_id=None, message_id=None, model="m2", provider="p", cost_usd=None)
    store.finish_turn(a.id, "Once upon a time", "complete", rec)
    m = store.get_message(a.id)
    assert m is not None and (m.content, m.status, m.model) == ("Once upon a time", "complete", "m2")
    t = store.turn_for_message(a.id)
    assert t is not None and t.conversation_id == c.id and t.cost_usd is None
    assert [h.message_id for h in store.search("upon")] == [a.id]


def test_finish_turn_is_atomic(store: Store) -> None:
    c = store.create_conversation()
    a = store.add_message(c.id, "assistant", "", status="streaming")
    store.update_message_text(a.id, "partial")
    bad = TurnRecord(conversation_id=c.id, message_id="no-such-message", model="m", provider="p")
    with pytest.raises(sqlite3.IntegrityError):
        store.finish_turn(a.id, "final", "complete", bad)  # FK violation inside the transaction
    m = store.get_message(a.id)
    assert m is not None and (m.content, m.status) == ("partial", "streaming")
    assert store.turns(c.id) == []


_KILLED_WRITER = textwrap.dedent(
    """
    import os, sys, time
    from chatroute.store import Store
    s = Store.open(sys.argv[1])
    c = s.create_conversation("crash")
    u = s.add_message(c.id, "user", "write a long story")
    a = s.add_message(c.id, "assistant", "", u.id, status="streaming", model="m")
    text = ""
    for i in range(5):
        text += f"chunk{i} "
        s.update_message_text(a.id, text)
    print(a.id, flush=True)
    time.sleep(60)  # killed here, mid-stream
    """
)


def test_killed_writer_leaves_interrupted_partial_on_reopen(db_path: Path) -> None:
    Store.open(db_path).close()
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(db_path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    msg_id = proc.stdout.readline().strip()
    # While the writer lives, another process opening the store must not touch its stream.
    with Store.open(db_path) as s:
        assert s.get_message(msg_id).status == "streaming"  # type: ignore[union-attr]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with Store.open(db_path) as s:
        assert s.integrity_check() == "ok"
        m = s.get_message(msg_id)
        assert m is not None
        assert m.status == "interrupted"
        assert m.content == "chunk0 chunk1 chunk2 chunk3 chunk4 "
        assert [h.message_id for h in s.search("chunk4")] == [msg_id]
        # The next run starts cleanly: it can continue the conversation.
        s.add_message(m.conversation_id, "user", "go on", m.id)


def test_stale_detection_rules(store: Store) -> None:
    c = store.create_conversation()
    mine = store.add_message(c.id, "assistant", "mine", status="streaming")
    live = store.add_message(c.id, "assistant", "live", status="streaming")
    dead = store.add_message(c.id, "assistant", "dead", status="streaming")
    orphan = store.add_message(c.id, "assistant", "orphan", status="streaming")
    host = socket.gethostname()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with store.transaction() as conn:
        conn.execute("UPDATE messages SET writer = ? WHERE id = ?", (f"{host}:{os.getppid()}", live.id))
        conn.execute("UPDATE messages SET writer = ? WHERE id = ?", (f"{host}:{gone.pid}", dead.id))
        conn.execute("UPDATE messages SET writer = NULL WHERE id = ?", (orphan.id,))
    assert store.mark_stale_streaming_interrupted() == 2
    status = {m.content: m.status for m in store.siblings(mine.id)}
    assert status == {"mine": "streaming", "live": "streaming", "dead": "interrupted", "orphan": "interrupted"}
    # A live pid that has not saved anything for ages is treated as abandoned (pid reuse).
    with store.transaction() as conn:
        conn.execute("UPDATE messages SET updated_at = '2000-01-01T00:00:00.000Z' WHERE id = ?", (live.id,))
    assert store.mark_stale_streaming_interrupted() == 1
    assert store.get_message(live.id).status == "interrupted"  # type: ignore[union-attr]
