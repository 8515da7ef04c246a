"""The answer cache's tables in the app's SQLite file, and the write transaction its own
connection uses (see answer_cache.py)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

SCHEMA = [
    """
    CREATE TABLE IF NOT EXISTS cache_entries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        exact_key TEXT NOT NULL UNIQUE,
        scope TEXT NOT NULL,
        prompt TEXT NOT NULL,
        vector BLOB,
        text TEXT NOT NULL,
        model TEXT,
        pinned_model TEXT,
        turn_id TEXT,
        meta TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL,
        last_used_at REAL NOT NULL,
        hits INTEGER NOT NULL DEFAULT 0,
        penalties INTEGER NOT NULL DEFAULT 0
    )
    """,
    "CREATE INDEX IF NOT EXISTS idx_cache_entries_lru ON cache_entries(last_used_at)",
    "CREATE TABLE IF NOT EXISTS cache_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS cache_stats (key TEXT PRIMARY KEY, value REAL NOT NULL)",
    "INSERT OR IGNORE INTO cache_meta VALUES ('version', 0), ('deletes', 0), ('count', 0)",
    # How many times the cache was cleared: counts a process held from before a clear are dropped.
    "INSERT OR IGNORE INTO cache_meta VALUES ('clears', 0)",
    # Counters kept by triggers so every process sees them, whoever wrote.
    """
    CREATE TRIGGER IF NOT EXISTS cache_entries_ai AFTER INSERT ON cache_entries BEGIN
        UPDATE cache_meta SET value = value + 1 WHERE key IN ('version', 'count');
    END
    """,
    """
    CREATE TRIGGER IF NOT EXISTS cache_entries_ad AFTER DELETE ON cache_entries BEGIN
        UPDATE cache_meta SET value = value + 1 WHERE key IN ('version', 'deletes');
        UPDATE cache_meta SET value = value - 1 WHERE key = 'count';
    END
    """,
]


def db_path_of(target: Any) -> str:
    if isinstance(target, (str, Path)):
        return str(target)
    for attr in ("path", "db_path", "database"):  # a Store, duck-typed
        value = getattr(target, attr, None)
        if isinstance(value, (str, Path)):
            return str(value)
    raise TypeError(f"AnswerCache needs a database path or a Store, got {type(target).__name__}")


class Tx:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error), re-entrant within one thread."""

    def __init__(self, conn: sqlite3.Connection, lock: threading.RLock) -> None:
        self._conn = conn
        self._lock = lock
        self._outer = False

    def __enter__(self) -> Tx:
        self._lock.acquire()
        try:
            self._outer = not self._conn.in_transaction
            if self._outer:
                self._conn.execute("BEGIN IMMEDIATE")
        except BaseException:
            # __exit__ is not called when __enter__ raises (a database locked past the busy
            # timeout): kept, the lock would block every later use of this cache from other threads.
            self._lock.release()
            raise
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if self._outer:
                if exc_type is None:
                    self._conn.execute("COMMIT")
                elif self._conn.in_transaction:  # a full disk's failure may have rolled it back already
                    self._conn.execute("ROLLBACK")
        finally:
            self._lock.release()
