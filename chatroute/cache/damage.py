"""A damaged answer cache: what counts as damage, what the user is told, and the rebuild that
`chatroute cache clear` does. The cache's tables share the app's SQLite file with the
conversations and the ledger, so a rebuild touches only the cache's own tables."""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

from chatroute.cache.tables import SCHEMA

# The cache's tables and the columns it reads and writes; the indexes and triggers go with them.
TABLES = ("cache_entries", "cache_meta", "cache_stats")
COLUMNS = frozenset({"id", "exact_key", "scope", "prompt", "vector", "text", "model", "pinned_model", "turn_id",
                     "meta", "created_at", "last_used_at", "hits", "penalties"})
_OBJECTS = frozenset({*TABLES, "idx_cache_entries_lru", "cache_entries_ai", "cache_entries_ad",
                      "sqlite_autoindex_cache_entries_1", "sqlite_autoindex_cache_meta_1",
                      "sqlite_autoindex_cache_stats_1"})
# Another process holding the lock, a stop, or the file's own trouble (a full disk, a read-only
# file), which the store reports as such: not damage to the cache's tables.
_PASSING = ("locked", "busy", "interrupted", "full", "readonly", "read-only", "disk i/o", "unable to open")


def is_damage(exc: sqlite3.Error) -> bool:
    if isinstance(exc, (sqlite3.ProgrammingError, sqlite3.InterfaceError)):
        return False  # a connection already closed (a race with shutdown) or misused: not the file's
    text = str(exc).lower()
    return not any(word in text for word in _PASSING)


_SCHEMA_FAULT = re.compile(r"malformed database schema \((?P<name>[^)]*)\)")


def schema_fault_is_the_caches(path: Path | str, exc: sqlite3.Error) -> bool:
    """Whether SQLite refused the whole file ('malformed database schema (NAME)') for a schema
    entry of the cache's alone: SQLite reads every entry before any statement, so one garbled
    entry of the cache's (a torn write of the schema's page) stops every query on the
    conversations too. SQLite names only the first entry it cannot read, so the rest is proved
    sound by SQLite itself: on a connection of its own, the cache's entries are removed inside a
    transaction, the schema read again strictly, and the transaction rolled back (the file is
    left as it was)."""
    found = _SCHEMA_FAULT.search(str(exc))
    if found is None or found.group("name") not in _OBJECTS:
        return False
    conn = sqlite3.connect(str(path), timeout=10.0, isolation_level=None)
    try:
        conn.execute("PRAGMA writable_schema = ON")  # the schema read despite its bad entry
        conn.execute("BEGIN IMMEDIATE")
        try:
            _delete_entries(conn)
            conn.execute("PRAGMA writable_schema = RESET")  # read again, strictly, without them
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return True
        except sqlite3.DatabaseError:
            return False
        finally:
            _roll_back(conn)
    except sqlite3.Error:
        return False  # locked past the wait, or unreadable: the file is refused as before
    finally:
        # Its schema in memory is the probe's, not the file's: the connection is not used again.
        conn.close()


def missing_columns(conn: sqlite3.Connection) -> list[str]:
    """The columns cache_entries lacks (a table made by hand, or altered)."""
    have = {str(row[1]) for row in conn.execute("PRAGMA table_info(cache_entries)")}
    return sorted(COLUMNS - have) if have else []


def find(conn: sqlite3.Connection) -> str | None:
    """Damage a lookup or a store would meet, found without reading the entries themselves: the
    counters' tables checked whole (PRAGMA quick_check of each, a page or two), and every page of
    cache_entries' two indexes read (a walk of each; a page that is no b-tree page stops it).
    The entries' own pages are left out: quick_check(cache_entries) reads every one of them, too
    slow for a command that shows counters. Raises sqlite3.DatabaseError for what stops a read; the first
    problem quick_check reports is returned."""
    for table in ("cache_meta", "cache_stats"):
        problem = str(conn.execute(f"PRAGMA quick_check({table})").fetchone()[0])
        if problem != "ok":
            return problem
    conn.execute("SELECT count(*) FROM cache_entries INDEXED BY sqlite_autoindex_cache_entries_1 "
                 "WHERE exact_key > ''").fetchone()
    conn.execute("SELECT count(*) FROM cache_entries INDEXED BY idx_cache_entries_lru "
                 "WHERE last_used_at > -1e308").fetchone()
    return None


def notice(reason: str) -> str:
    """What the user is told, once: what is wrong, what it costs them, and the way out."""
    return (f"the answer cache is damaged ({reason}): no answer is served from it or kept in it. "
            "`chatroute cache clear` rebuilds it; your conversations and costs are kept")


def recovered_notice() -> str:
    """What the user is told, once, when a process that found the cache damaged sees it rebuilt."""
    return ("the answer cache works again (rebuilt by `chatroute cache clear`): answers are served from it "
            "and kept in it")


def rebuild(conn: sqlite3.Connection) -> None:
    """Drop the cache's tables and make them anew, in one transaction: whatever was wrong with
    them (a column missing, a table gone, unreadable rows) goes with them. Entry ids go on
    from where they were and the clears count moves on, so another process that holds the
    cache open (the TUI, serve) catches up as after any clear. A table whose pages are
    damaged cannot even be dropped: its entries are then unlinked from the schema and the
    file rewritten (VACUUM) without them."""
    seq = _read_or_none(conn, "SELECT seq FROM sqlite_sequence WHERE name = 'cache_entries'")
    # The counters other processes compare with what their index reflects: each moves on.
    moved = {key: _read_or_none(conn, f"SELECT value FROM cache_meta WHERE key = '{key}'")
             for key in ("version", "deletes", "clears")}
    try:
        _drop_and_create(conn, seq, moved)
    except sqlite3.DatabaseError as exc:
        if not is_damage(exc):
            raise
        _unlink(conn)
        conn.execute("VACUUM")
        _drop_and_create(conn, seq, moved)


def _read_or_none(conn: sqlite3.Connection, sql: str) -> int | None:
    try:
        row = conn.execute(sql).fetchone()
    except sqlite3.DatabaseError:
        return None
    return row[0] if row is not None and isinstance(row[0], int) else None


def _drop_and_create(conn: sqlite3.Connection, seq: int | None, moved: dict[str, int | None]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        for table in TABLES:
            conn.execute(f"DROP TABLE IF EXISTS {table}")
        for sql in SCHEMA:
            conn.execute(sql)
        if seq is not None:
            conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('cache_entries', ?)", (seq,))
        fallback = int(time.time())  # unreadable before: a value no process can have seen
        for key, value in moved.items():
            conn.execute("UPDATE cache_meta SET value = ? WHERE key = ?",
                         (fallback if value is None else value + 1, key))
        conn.execute("COMMIT")
    except BaseException:
        _roll_back(conn)
        raise


def _unlink(conn: sqlite3.Connection) -> None:
    """Remove the cache's objects from the schema without reading their pages (SQLite's own way
    out for a table it cannot drop); the VACUUM that follows leaves their pages behind."""
    conn.execute("PRAGMA writable_schema = ON")
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            _delete_entries(conn)
            # Tells every connection (this one too) that the schema changed under it.
            version = int(conn.execute("PRAGMA schema_version").fetchone()[0])
            conn.execute(f"PRAGMA schema_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            _roll_back(conn)
            raise
    finally:
        conn.execute("PRAGMA writable_schema = OFF")


def _roll_back(conn: sqlite3.Connection) -> None:
    """Roll back the transaction a failure left open. A COMMIT refused for a full disk (or a
    statement failing so) has rolled it back already, and a ROLLBACK then raises 'cannot
    rollback - no transaction is active' in place of the failure that says what is wrong."""
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _delete_entries(conn: sqlite3.Connection) -> None:
    """The cache's entries out of sqlite_master (writable_schema on, in a transaction)."""
    marks = ",".join("?" * len(_OBJECTS))
    conn.execute(f"DELETE FROM sqlite_master WHERE name IN ({marks}) OR tbl_name IN ({marks})",
                 (*_OBJECTS, *_OBJECTS))
