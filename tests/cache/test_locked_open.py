"""An answer cache opened while another process holds chatroute.db's write lock past the busy
timeout (a stopped `chatroute`, a long write) is opened all the same, and usable from any thread
once the lock is free. Before, the failed BEGIN kept the cache's own thread lock: the TUI's
warm-up thread opened the cache, and the first lookup on the UI thread waited for it forever
(tests/hardening/test_lock_holder.py's TUI test hung)."""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from chatroute.cache import AnswerCache, CacheSettings
from chatroute.cache.tables import Tx
from tests.cache.fakes import fake_embed

Q = "How do I reverse a list in Python?"


def test_a_transaction_that_cannot_begin_leaves_the_lock_free(tmp_path: Path) -> None:
    db = tmp_path / "chatroute.db"
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    conn = sqlite3.connect(db, timeout=0, isolation_level=None, check_same_thread=False)
    lock = threading.RLock()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        with Tx(conn, lock):
            pass
    taken: list[bool] = []
    other = threading.Thread(target=lambda: taken.append(lock.acquire(timeout=2)))
    other.start()
    other.join()
    assert taken == [True]
    holder.close()
    conn.close()


def test_a_cache_opened_while_the_database_is_locked_is_usable_from_another_thread(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "chatroute.db"
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("PRAGMA journal_mode = WAL")  # as chatroute's store leaves the file
    holder.execute("BEGIN IMMEDIATE")
    real_connect = sqlite3.connect
    # The cache's 10 s busy timeout, as if it had run out with the lock still held.
    monkeypatch.setattr("chatroute.cache.answer_cache.sqlite3.connect",
                        lambda *a, **kw: _NoBusyWait(real_connect(*a, **kw)))
    # Opened on a worker thread that stays alive afterwards, as the TUI's warm-up thread does.
    with ThreadPoolExecutor(max_workers=1) as warm_up:
        cache = warm_up.submit(AnswerCache, db, fake_embed, CacheSettings()).result()
        holder.rollback()
        holder.close()
        done: list[object] = []
        turn = threading.Thread(target=lambda: done.append(cache.lookup(None, [], Q, {}, count=False)), daemon=True)
        turn.start()
        turn.join(timeout=5)
        assert done == [None], "the lookup still waits for the lock the failed open took"
    cache.close()


class _NoBusyWait:
    """A connection whose busy timeout stays 0 whatever the cache asks for."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
        if sql.strip().upper().startswith("PRAGMA BUSY_TIMEOUT"):
            sql = "PRAGMA busy_timeout = 0"
        return self._conn.execute(sql, *args)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> object:
        return getattr(self._conn, name)
