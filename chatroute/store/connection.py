"""The connection a Store is built on: one sqlite3 connection shared between threads, and
the transactions and lock waits every query goes through (the rules are in store/db.py's
docstring). The query mixins (turns, search, spend, preferences) and Store itself subclass
StoreBase."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self, TypeVar

from chatroute.store.dbfile import StoreError, WalWatch
from chatroute.store.liveness import writer_tag
from chatroute.store.lockholder import lock_holder
from chatroute.store.waits import LockWaits

if TYPE_CHECKING:
    import sqlite_utils

T = TypeVar("T")


def chunks(ids: Sequence[str], size: int = 500) -> Iterator[list[str]]:
    """Bound the number of SQL variables per statement (older SQLite builds allow 999)."""
    for i in range(0, len(ids), size):
        yield list(ids[i : i + size])


class StoreBusyError(StoreError):
    """Another process held the write lock for longer than we are willing to wait."""

    exit_code = 2  # a local condition the user settles (exit 1 means a provider failed)


class StoreWaitCancelled(StoreError):
    """A wait for another process's lock was cancelled (Esc, Ctrl+C): nothing was written."""

    exit_code = 130


def _is_busy(exc: BaseException) -> bool:
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    msg = str(exc).lower()
    return "locked" in msg or "busy" in msg


class StoreBase:
    """A connection with its lock, transactions and lock waits; see Store for the queries."""

    def __init__(self, conn: sqlite3.Connection, path: Path, *, busy_retry_s: float = 300.0) -> None:
        self.conn = conn
        self.path = path
        self._db: sqlite_utils.Database | None = None
        self.waits = LockWaits(busy_retry_s)
        self._lock = threading.RLock()
        self._writer = writer_tag()
        self._wal: WalWatch | None = None  # set once open; None for a store built by hand
        # A schema entry of the answer cache's SQLite cannot read, read past (Store._read_schema).
        self.cache_schema_fault: str | None = None

    @property
    def db(self) -> sqlite_utils.Database:
        """A sqlite-utils view of the same connection (schema helpers, ad-hoc queries).
        Write through `transaction()` so the locking rules of store/db.py hold."""
        if self._db is None:
            import sqlite_utils

            self._db = sqlite_utils.Database(self.conn, execute_plugins=False, recursive_triggers=False)
        return self._db

    def close(self) -> None:
        with self._lock:
            try:
                # Bounded so closing never stalls on a big file.
                self.conn.execute("PRAGMA analysis_limit = 400")
                self.conn.execute("PRAGMA optimize")
            except sqlite3.Error:
                pass
            self.conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def integrity_check(self) -> str:
        """'ok' when the file is sound and the search index matches the messages (used by
        crash and concurrency tests); otherwise the first problem found."""

        def run(c: sqlite3.Connection) -> str:
            result = str(c.execute("PRAGMA integrity_check").fetchone()[0])
            if result != "ok":
                return result
            try:  # rank=1: also compare the index with the external content table
                c.execute("INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)")
            except sqlite3.DatabaseError as exc:
                return f"messages_fts: {exc}"
            return "ok"

        return self._read(run)

    @property
    def busy_retry_s(self) -> float:
        return self.waits.patience_s

    def cancel_waits(self) -> None:
        """End any wait for another process's lock now (in every thread): it raises
        StoreWaitCancelled. The operations that waited wrote nothing."""
        self.waits.cancel()

    def _retry(self, fn: Callable[[], T]) -> T:
        """Run fn, retrying while SQLite reports BUSY/LOCKED, for up to busy_retry_s (a lock
        held that long belongs to a stopped or stuck process). Never holds self._lock while
        waiting, so other threads (the UI) keep reading meanwhile."""

        def notice() -> str:
            holder = lock_holder(self.path)
            who = holder.describe() if holder else "another process"
            stopped = f"; it is stopped (kill -CONT {holder.pid} resumes it)" if holder and holder.stopped else ""
            return f"waiting for {who} to release the database lock ({self.path.name}){stopped}"

        def busy_error(limit: float, exc: BaseException) -> BaseException:
            holder = lock_holder(self.path)
            if holder is None:
                return StoreBusyError(f"{self.path}: database stayed locked by another process for over "
                                      f"{limit:.0f} s; close other chatroute windows and retry")
            return StoreBusyError(f"{self.path}: {holder.describe()} held the database lock for over "
                                  f"{limit:.0f} s; {holder.advice()}")

        def cancelled() -> BaseException:
            return StoreWaitCancelled(f"{self.path}: stopped waiting for another process's lock; nothing was saved")

        return self.waits.run(fn, _is_busy, notice=notice, busy_error=busy_error,  # type: ignore[return-value]
                              cancelled=cancelled)

    def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run fn inside one BEGIN IMMEDIATE transaction, retrying the whole transaction on
        BUSY. Nested calls join the outer transaction."""
        with self._lock:
            if self.conn.in_transaction:
                return fn(self.conn)

        def attempt() -> T:
            with self._lock:
                if self.conn.in_transaction:  # this thread's own, begun meanwhile
                    return fn(self.conn)
                self._check_wal()
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    result = fn(self.conn)
                    self.conn.execute("COMMIT")
                    self._check_wal()  # the commit went to a deleted -wal: say so now
                    return result
                except BaseException:
                    if self.conn.in_transaction:
                        self.conn.execute("ROLLBACK")
                    raise

        return self._retry(attempt)

    def _check_wal(self) -> None:
        if self._wal is not None:
            self._wal.check()

    def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def attempt() -> T:
            with self._lock:
                return fn(self.conn)

        return self._retry(attempt)

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside see the database as the first of them found it (one WAL snapshot), so a
        report made of many queries agrees with itself while other processes write. Other
        threads' reads on this connection wait until it ends; keep it to reads."""
        with self._lock:
            if self.conn.in_transaction:
                yield
                return
            self.conn.execute("BEGIN")  # deferred: the first read takes the snapshot
            try:
                yield
            finally:
                if self.conn.in_transaction:
                    self.conn.execute("COMMIT")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction for other modules sharing this DB (cache, health).

        Only BEGIN is retried on BUSY (the body cannot be replayed), which is enough in WAL
        mode: once BEGIN IMMEDIATE succeeds this connection holds the write lock.
        """
        with self._lock:
            if self.conn.in_transaction:
                yield self.conn
                return

        def begin() -> None:
            self._lock.acquire()
            try:
                self._check_wal()
                self.conn.execute("BEGIN IMMEDIATE")
            except BaseException:
                self._lock.release()
                raise

        self._retry(begin)  # returns holding self._lock, released below
        try:
            try:
                yield self.conn
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
            else:
                self.conn.execute("COMMIT")
        finally:
            self._lock.release()

    def _rows(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        def run(c: sqlite3.Connection) -> list[dict[str, Any]]:
            cur = c.execute(sql, params)
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

        return self._read(run)
