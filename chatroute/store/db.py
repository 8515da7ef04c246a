"""The SQLite store: conversations, message trees, turn records, preferences, search, spend.

Several processes may share one database (a TUI plus a few `chatroute ask`), so:
- WAL journal: readers never block the writer and the writer never blocks readers;
- every write is one short BEGIN IMMEDIATE transaction (the write lock is taken up front, so
  there is no read-to-write upgrade that could fail with SQLITE_BUSY mid-transaction);
- a short busy_timeout per attempt; the waiting for another process's lock happens in
  Python (store/waits.py, up to `busy_retry_s`) where it can be cancelled and reported,
  instead of surfacing "database is locked";
- synchronous=NORMAL: in WAL mode a killed process loses nothing that was committed.

sqlite-utils (an import of ~150 ms, numpy included) is loaded only when needed: to run
migrations, or when another module asks for `store.db`. Hot paths use the sqlite3 connection
directly, which keeps `chatroute ask` start-up short.

The connection is in autocommit mode (isolation_level=None), so nothing opens a transaction
behind our back; a threading.RLock makes one Store safe to share between threads (Textual
workers, asyncio.to_thread).
"""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from chatroute.fsutil import private_dir
from chatroute.store import spend as _spend
from chatroute.store.dbfile import DatabaseFileError, StoreError, WalWatch, check_file, explain, private_db_file
from chatroute.store.ids import new_id, normalize_ts, utc_now
from chatroute.store.migrations import MIGRATIONS, SCHEMA_VERSION
from chatroute.store.records import (
    MESSAGE_STATUSES,
    PREFERENCE_KINDS,
    Conversation,
    Preference,
    RecoveredStream,
    SearchHit,
    SpendRow,
    StoredMessage,
    TurnRecord,
    UsageRow,
)
from chatroute.store.search import fts_query, make_snippet, query_terms
from chatroute.store.waits import LockWaits

if TYPE_CHECKING:
    import sqlite_utils

T = TypeVar("T")

BUSY_TIMEOUT_MS = 100  # per attempt: the wait itself is LockWaits', which can be cancelled
# A 'streaming' message whose writer has not touched it for this long is treated as abandoned
# even if we cannot tell whether its process is alive (other host, pid reuse).
STALE_STREAMING_AFTER = timedelta(minutes=10)
# search() ranks (bm25) the most recent this-many matches; see Store.search.
SEARCH_RANK_WINDOW = 5000

_MESSAGE_COLS = "id, conversation_id, parent_id, role, content, model, status, active, created_at, updated_at"
_TURN_COLS_NO_ROUTE = ", ".join(f.name for f in fields(TurnRecord) if f.name != "route")
_KEYLIKE = re.compile(r"\b(sk-(?:ant-|proj-)?[A-Za-z0-9_\-]{12,}|AIza[0-9A-Za-z_\-]{20,})")


def _walk(by_parent: dict[str | None, Any]) -> list[str | None]:
    """The parent keys of a branch, root first: None, then each node's id in turn. `by_parent`
    maps a parent id (None for the root) to its active child, as a row dict or a bare id."""
    keys: list[str | None] = []
    key: str | None = None
    seen: set[str] = set()
    while key in by_parent:
        keys.append(key)
        node = by_parent[key]
        key = node if isinstance(node, str) else node["id"]
        if key in seen:  # guards against a cycle
            break
        seen.add(key)
    return keys


# The roles a request carries; a message of another role, or an empty one, is never sent.
SENT_ROLES = ("user", "assistant")


def tail_start(outline: Sequence[tuple[str, int]], max_chars: float | None, per_message_chars: float = 0.0) -> int:
    """Where the longest tail of whole turns that weighs at most `max_chars` begins, in
    `outline` ((role, characters) per message of a branch, oldest first): 0 when all of it
    fits, else the index of a user message (a turn is never cut in half, so the request never
    opens on an answer without its question), or len(outline) when not even the last turn
    fits. A sent message weighs its characters plus `per_message_chars` (the framing a
    token estimate adds per message); one that is never sent weighs nothing."""
    if max_chars is None:
        return 0
    used = 0.0
    start = len(outline)
    for i in range(len(outline) - 1, -1, -1):
        role, chars = outline[i]
        if chars and role in SENT_ROLES:
            used += chars + per_message_chars
            if used > max_chars:
                return start
        if role == "user":
            start = i
    return 0


@dataclass(frozen=True)
class HistoryTail:
    """The end of a branch that fits a budget (see Store.history_tail), and what a turn needs
    to know about the rest of it without reading it."""

    messages: list[StoredMessage]  # the tail, oldest first: whole turns only
    total_turns: int  # user messages on the whole branch
    leaf_id: str | None  # the branch's last message: the parent of the next one
    current_model: str | None  # the model of the branch's latest answer that has one

    @property
    def sent_turns(self) -> int:
        return sum(1 for m in self.messages if m.role == "user" and m.content)


def _chunks(ids: Sequence[str], size: int = 500) -> Iterator[list[str]]:
    """Bound the number of SQL variables per statement (older SQLite builds allow 999)."""
    for i in range(0, len(ids), size):
        yield list(ids[i : i + size])


class StoreBusyError(StoreError):
    """Another process held the write lock for longer than we are willing to wait."""


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


def _writer_tag() -> str:
    """Identifies the process writing a streaming message, so a later open can tell a live
    stream from one abandoned by a killed process: host:pid, plus when that process started
    where we can tell (so a pid reused after the writer died is not mistaken for it)."""
    pid = os.getpid()
    started = _process_start(pid)
    return f"{socket.gethostname()}:{pid}" + (f":{started}" if started else "")


def _parse_writer(writer: str) -> tuple[str, str, str | None]:
    """host, pid, start (None for tags written before the start was recorded)."""
    parts = writer.rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit():
        return parts[0], parts[1], parts[2]
    host, _, pid = writer.rpartition(":")
    return host, pid, None


def _read_boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            return fh.read().strip()[:8]
    except OSError:
        return ""


_BOOT_ID = _read_boot_id()


def _process_start(pid: int) -> str | None:
    """When process `pid` started (Linux: boot id and start time in clock ticks), or None where
    /proc is not available. Containers make pid reuse common: chatroute as the entrypoint is
    pid 1 in every run, under the same hostname when one is set."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            ticks = fh.read().rsplit(b")", 1)[1].split()[19]  # field 22, starttime
    except (OSError, IndexError):
        return None
    return f"{_BOOT_ID}.{ticks.decode()}"


def _pid_alive(pid: int) -> bool:
    if sys.platform == "win32":
        return True  # os.kill(pid, 0) would terminate it on Windows; rely on staleness instead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists but belongs to someone else
    try:  # a killed child not yet reaped by its parent is a zombie: dead for our purposes
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def redact_secrets(text: str | None) -> str | None:
    """Belt and braces for error strings: provider errors sometimes echo a key back."""
    if not text:
        return text
    return _KEYLIKE.sub(lambda m: m.group(0)[:6] + "…[redacted]", text)


class Store:
    """Open with `Store.open(path)`; use as a context manager or call `close()`."""

    def __init__(self, conn: sqlite3.Connection, path: Path, *, busy_retry_s: float = 300.0) -> None:
        self.conn = conn
        self.path = path
        self._db: sqlite_utils.Database | None = None
        self.waits = LockWaits(busy_retry_s)
        self._lock = threading.RLock()
        self._writer = _writer_tag()
        self._wal: WalWatch | None = None  # set once open; None for a store built by hand

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        busy_retry_s: float = 300.0,
        recover_stale: bool = True,
        price_recovered: Callable[[RecoveredStream], TurnRecord | None] | None = None,
        anthropic_providers: Sequence[str] = (),
    ) -> Store:
        """Open (creating parent dirs and the file if needed), migrate, and recover streams
        left 'streaming' by killed processes. `path=None` uses the configured data dir.

        `price_recovered` turns each recovered stream into its estimated turn record (a client
        with the catalogue counts tokens and prices them); without it the store estimates
        characters / 4 and leaves the cost unknown. `anthropic_providers`: the configured
        providers of kind "anthropic" (whose stored token counts migration 4 restates)."""
        if path is None:
            from chatroute.paths import resolve_paths

            path = resolve_paths().database
        path = Path(path).expanduser()
        check_file(path)  # before anything is created or tightened: a bad file is left as it was
        private_dir(path.parent)
        private_db_file(path)
        try:
            conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                   check_same_thread=False)
        except sqlite3.Error as exc:
            raise (explain(path, exc) or exc) from None
        store = cls(conn, path, busy_retry_s=busy_retry_s)
        try:
            store._refuse_newer()  # before WAL is switched on: a newer file is not touched at all
            store._configure()
            store._migrate(anthropic_providers)
            if recover_stale:
                store.mark_stale_streaming_interrupted(price_recovered)
            store._wal = WalWatch.start(path)
        except sqlite3.Error as exc:
            conn.close()
            raise (explain(path, exc) or exc) from None
        except BaseException:
            conn.close()
            raise
        return store

    @property
    def db(self) -> sqlite_utils.Database:
        """A sqlite-utils view of the same connection (schema helpers, ad-hoc queries).
        Write through `transaction()` so the locking rules above hold."""
        if self._db is None:
            import sqlite_utils

            self._db = sqlite_utils.Database(self.conn, execute_plugins=False, recursive_triggers=False)
        return self._db

    def _configure(self) -> None:
        c = self.conn
        c.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        # Switching to WAL needs a moment of exclusive access; another process opening the
        # same fresh file may hold it, hence the retry. Once WAL, it is persistent.
        mode = self._retry(lambda: c.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        if str(mode).lower() != "wal":
            raise StoreError(f"{self.path}: could not enable WAL journal mode (got {mode!r})")
        c.execute("PRAGMA synchronous = NORMAL")
        c.execute("PRAGMA foreign_keys = ON")
        c.execute("PRAGMA temp_store = MEMORY")

    def _refuse_newer(self) -> None:
        current = self.schema_version()
        if current > SCHEMA_VERSION:
            raise DatabaseFileError(
                self.path, f"has schema version {current}, newer than this chatroute understands "
                f"({SCHEMA_VERSION}); upgrade chatroute (nothing was changed in it)"
            )

    def _migrate(self, anthropic_providers: Sequence[str] = ()) -> None:
        self._refuse_newer()
        current = self.schema_version()
        if current == SCHEMA_VERSION:
            return

        def apply(c: sqlite3.Connection) -> None:
            # Re-read under the write lock: another process may have migrated meanwhile.
            version = c.execute("PRAGMA user_version").fetchone()[0]
            c.execute("CREATE TEMP TABLE IF NOT EXISTS m4_anthropic_providers (name TEXT PRIMARY KEY)")
            c.executemany("INSERT OR IGNORE INTO m4_anthropic_providers VALUES (?)",
                          [(n,) for n in anthropic_providers])
            for i in range(version, SCHEMA_VERSION):
                MIGRATIONS[i](self.db)
                c.execute(f"PRAGMA user_version = {i + 1}")

        self._write(apply)

    def schema_version(self) -> int:
        return int(self._read(lambda c: c.execute("PRAGMA user_version").fetchone()[0]))

    def close(self) -> None:
        with self._lock:
            try:
                # Bounded so closing never stalls on a big file.
                self.conn.execute("PRAGMA analysis_limit = 400")
                self.conn.execute("PRAGMA optimize")
            except sqlite3.Error:
                pass
            self.conn.close()

    def __enter__(self) -> Store:
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

    # ------------------------------------------------------------------ transactions

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

        def busy_error(limit: float, exc: BaseException) -> BaseException:
            return StoreBusyError(f"{self.path}: database stayed locked by another process for over "
                                  f"{limit:.0f} s; close other chatroute windows and retry")

        def cancelled() -> BaseException:
            return StoreWaitCancelled(f"{self.path}: stopped waiting for another process's lock; nothing was saved")

        return self.waits.run(fn, _is_busy, what=self.path.name, busy_error=busy_error,  # type: ignore[return-value]
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

    # ------------------------------------------------------------------ conversations

    def create_conversation(
        self, title: str | None = None, system_prompt: str | None = None, *, pinned_model: str | None = None
    ) -> Conversation:
        now = utc_now()
        conv = Conversation(
            id=new_id(),
            title=title,
            system_prompt=system_prompt,
            pinned_model=pinned_model,
            cache_enabled=True,
            created_at=now,
            updated_at=now,
            archived=False,
        )
        self._write(
            lambda c: c.execute(
                "INSERT INTO conversations"
                " (id, title, system_prompt, pinned_model, cache_enabled, created_at, updated_at, archived)"
                " VALUES (?, ?, ?, ?, 1, ?, ?, 0)",
                (conv.id, title, system_prompt, pinned_model, now, now),
            )
        )
        return conv

    def get_conversation(self, conversation_id: str) -> Conversation | None:
        rows = self._rows("SELECT * FROM conversations WHERE id = ?", (conversation_id,))
        return Conversation.from_row(rows[0]) if rows else None

    def list_conversations(self, *, include_archived: bool = False, limit: int | None = None) -> list[Conversation]:
        """Most recently active first."""
        where = "" if include_archived else "WHERE archived = 0"
        lim = f" LIMIT {int(limit)}" if limit else ""
        rows = self._rows(f"SELECT * FROM conversations {where} ORDER BY updated_at DESC, id DESC{lim}")
        return [Conversation.from_row(r) for r in rows]

    def _update_conversation(self, conversation_id: str, **values: Any) -> None:
        sets = ", ".join(f"{k} = ?" for k in values)

        def run(c: sqlite3.Connection) -> None:
            cur = c.execute(
                f"UPDATE conversations SET {sets}, updated_at = ? WHERE id = ?",
                (*values.values(), utc_now(), conversation_id),
            )
            if cur.rowcount == 0:
                raise StoreError(f"no conversation {conversation_id}")

        self._write(run)

    def rename_conversation(self, conversation_id: str, title: str | None) -> None:
        self._update_conversation(conversation_id, title=title)

    def set_system_prompt(self, conversation_id: str, system_prompt: str | None) -> None:
        self._update_conversation(conversation_id, system_prompt=system_prompt)

    def set_pin(self, conversation_id: str, model: str | None) -> None:
        """Pin a model for this conversation (None unpins). Survives restarts."""
        self._update_conversation(conversation_id, pinned_model=model)

    def set_cache_enabled(self, conversation_id: str, enabled: bool) -> None:
        self._update_conversation(conversation_id, cache_enabled=int(enabled))

    def pinned_models(self) -> list[str]:
        """The models pinned in conversations that are not archived (distinct)."""
        rows = self._read(lambda c: c.execute(
            "SELECT DISTINCT pinned_model FROM conversations WHERE pinned_model IS NOT NULL AND archived = 0"
        ).fetchall())
        return [r[0] for r in rows]

    def set_archived(self, conversation_id: str, archived: bool = True) -> None:
        self._update_conversation(conversation_id, archived=int(archived))

    def delete_conversation(self, conversation_id: str) -> bool:
        """Deletes the conversation, its messages and preference signals. Its turn records
        stay (conversation_id set NULL) so spend history remains true; they hold no text."""

        def run(c: sqlite3.Connection) -> bool:
            # Children before parents is not needed (ON DELETE CASCADE on parent_id), but one
            # DELETE of all rows lets SQLite do it in a single pass.
            c.execute("DELETE FROM messages WHERE conversation_id = ?", (conversation_id,))
            return c.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,)).rowcount > 0

        return self._write(run)

    # ------------------------------------------------------------------ messages

    def add_message(
        self,
        conversation_id: str,
        role: str,
        content: str,
        parent_id: str | None = None,
        status: str = "complete",
        *,
        model: str | None = None,
        active: bool = True,
    ) -> StoredMessage:
        """Append a message under `parent_id` (None = a root). With `active` (the default) it
        becomes the shown sibling; compare mode can add inactive alternatives."""
        if status not in MESSAGE_STATUSES:
            raise ValueError(f"bad message status {status!r}")
        now = utc_now()
        msg = StoredMessage(
            id=new_id(),
            conversation_id=conversation_id,
            parent_id=parent_id,
            role=role,
            content=content,
            model=model,
            status=status,
            active=active,
            created_at=now,
            updated_at=now,
        )
        writer = self._writer if status == "streaming" else None

        def run(c: sqlite3.Connection) -> None:
            if parent_id is not None:
                row = c.execute("SELECT conversation_id FROM messages WHERE id = ?", (parent_id,)).fetchone()
                if row is None or row[0] != conversation_id:
                    raise StoreError(f"parent message {parent_id} is not in conversation {conversation_id}")
            if active:
                self._deactivate_siblings(c, conversation_id, parent_id)
            c.execute(
                "INSERT INTO messages (id, conversation_id, parent_id, role, content, model, status, active, writer,"
                " created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (msg.id, conversation_id, parent_id, role, content, model, status, int(active), writer, now, now),
            )
            c.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation_id))

        self._write(run)
        return msg

    @staticmethod
    def _deactivate_siblings(c: sqlite3.Connection, conversation_id: str, parent_id: str | None) -> None:
        if parent_id is None:
            c.execute(
                "UPDATE messages SET active = 0 WHERE conversation_id = ? AND parent_id IS NULL AND active = 1",
                (conversation_id,),
            )
        else:
            c.execute("UPDATE messages SET active = 0 WHERE parent_id = ? AND active = 1", (parent_id,))

    def update_message_text(self, message_id: str, text: str, status: str = "streaming") -> None:
        """Save a partial reply while streaming (call every ~0.5 s): a cheap one-row UPDATE
        (plus re-indexing that row for search)."""
        if status not in MESSAGE_STATUSES:
            raise ValueError(f"bad message status {status!r}")
        writer = self._writer if status == "streaming" else None
        self._write(
            lambda c: c.execute(
                "UPDATE messages SET content = ?, status = ?, writer = ?, updated_at = ? WHERE id = ?",
                (text, status, writer, utc_now(), message_id),
            )
        )

    def set_message_model(self, message_id: str, model: str) -> None:
        """Say which model a streaming reply goes to, before the request is sent: if the
        process dies mid-stream, the next open can still count what that model billed."""
        self._write(lambda c: c.execute("UPDATE messages SET model = ? WHERE id = ?", (model, message_id)))

    def close_unsaved(self, message_id: str, record: TurnRecord | None = None) -> None:
        """When the final text could not be written (a full disk): mark the message
        interrupted, keeping what the partial saves stored, and add its turn record (the cost)
        if given. Small writes, so they may still fit where the whole answer did not."""

        def run(c: sqlite3.Connection) -> None:
            c.execute("UPDATE messages SET status = 'interrupted', writer = NULL WHERE id = ?", (message_id,))
            if record is not None:
                self._insert_turn(c, record)

        self._write(run)

    def get_message(self, message_id: str) -> StoredMessage | None:
        rows = self._rows(f"SELECT {_MESSAGE_COLS} FROM messages WHERE id = ?", (message_id,))
        return StoredMessage.from_row(rows[0]) if rows else None

    def history(self, conversation_id: str) -> list[StoredMessage]:
        """The shown branch, root to leaf: start at the active root, follow each message's
        active child. One indexed fetch of the conversation's active messages and a walk in
        Python (several times faster than a recursive CTE on a 10k-turn conversation)."""
        rows = self._rows(
            f"SELECT {_MESSAGE_COLS} FROM messages WHERE conversation_id = ? AND active = 1", (conversation_id,)
        )
        by_parent = {r["parent_id"]: r for r in rows}
        return [StoredMessage.from_row(by_parent[p]) for p in _walk(by_parent)]

    def history_ids(self, conversation_id: str) -> list[str]:
        """The ids of history(), without the text: what a viewer needs to page through a long
        conversation (about a quarter of history()'s time on 10k turns; bodies come from
        messages_by_id for the part on screen)."""
        rows = self._read(
            lambda c: c.execute(
                "SELECT parent_id, id FROM messages WHERE conversation_id = ? AND active = 1", (conversation_id,)
            ).fetchall()
        )
        by_parent: dict[str | None, str] = dict(rows)
        return [by_parent[p] for p in _walk(by_parent)]

    def history_tail(self, conversation_id: str, max_chars: float | None = None, *, per_message_chars: float = 0.0,
                     upto: str | None = None) -> HistoryTail:
        """The most recent whole turns of a branch that weigh at most `max_chars` (see
        tail_start; None: all of it), with the bodies of those messages only. The branch is the
        shown one, or with `upto` the ancestry of that message (a regenerate answers an older
        question). The walk fetches ids, roles, models and lengths, not the text: on a 10k-turn
        conversation about a sixth of what history() costs, and the bodies fetched stay as few
        as the budget allows."""
        # Rows of (parent_id, id, role, model, characters), root first.
        if upto is None:
            rows = self._read(lambda c: c.execute(
                "SELECT parent_id, id, role, model, length(content) FROM messages"
                " WHERE conversation_id = ? AND active = 1", (conversation_id,)).fetchall())
            by_parent = {r[0]: r for r in rows}
            branch: list[Any] = []
            key: str | None = None
            while key in by_parent and len(branch) < len(rows):  # the bound guards against a cycle
                row = by_parent[key]
                branch.append(row)
                key = row[1]
        else:
            branch = self._read(lambda c: c.execute(
                """
                WITH RECURSIVE up(parent_id, id, role, model, chars, depth) AS (
                    SELECT parent_id, id, role, model, length(content), 0 FROM messages
                     WHERE id = ? AND conversation_id = ?
                    UNION ALL
                    SELECT m.parent_id, m.id, m.role, m.model, length(m.content), up.depth + 1
                      FROM up JOIN messages m ON m.id = up.parent_id
                )
                SELECT parent_id, id, role, model, chars FROM up ORDER BY depth DESC
                """, (upto, conversation_id)).fetchall())
        outline = [(r[2], r[4] or 0) for r in branch]
        start = tail_start(outline, max_chars, per_message_chars)
        return HistoryTail(
            messages=self.messages_by_id([r[1] for r in branch[start:]]),
            total_turns=sum(1 for role, chars in outline if role == "user" and chars),
            leaf_id=branch[-1][1] if branch else None,
            current_model=next((r[3] for r in reversed(branch) if r[2] == "assistant" and r[3]), None),
        )

    def messages_by_id(self, ids: Sequence[str]) -> list[StoredMessage]:
        """These messages, in the order given (unknown ids are skipped)."""
        found: dict[str, StoredMessage] = {}
        for chunk in _chunks(ids):
            marks = ", ".join("?" for _ in chunk)
            for r in self._rows(f"SELECT {_MESSAGE_COLS} FROM messages WHERE id IN ({marks})", chunk):
                found[r["id"]] = StoredMessage.from_row(r)
        return [found[i] for i in ids if i in found]

    def sibling_positions(self, ids: Sequence[str]) -> dict[str, tuple[int, int]]:
        """For each message that has siblings: (1-based position among them, how many), in
        siblings() order. One query for a whole page of messages instead of one each."""
        out: dict[str, tuple[int, int]] = {}
        for chunk in _chunks(ids):
            marks = ", ".join("?" for _ in chunk)

            def pairs(c: sqlite3.Connection, chunk: Sequence[str] = chunk, marks: str = marks) -> list[Any]:
                return c.execute(
                    f"""
                    SELECT m.id, s.id FROM messages m
                      JOIN messages s ON s.conversation_id = m.conversation_id AND s.parent_id IS m.parent_id
                     WHERE m.id IN ({marks}) ORDER BY m.id, s.seq
                    """,
                    chunk,
                ).fetchall()

            rows = self._read(pairs)
            groups: dict[str, list[str]] = {}
            for mid, sid in rows:
                groups.setdefault(mid, []).append(sid)
            for mid, sibs in groups.items():
                if len(sibs) > 1:
                    out[mid] = (sibs.index(mid) + 1, len(sibs))
        return out

    def path_to(self, message_id: str) -> list[StoredMessage]:
        """Root-to-message ancestry of any message (e.g. the context for a re-run)."""
        rows = self._rows(
            f"""
            WITH RECURSIVE up(id, parent_id, depth) AS (
                SELECT id, parent_id, 0 FROM messages WHERE id = ?
                UNION ALL
                SELECT m.id, m.parent_id, up.depth + 1 FROM up JOIN messages m ON m.id = up.parent_id
            )
            SELECT {', '.join('messages.' + c.strip() for c in _MESSAGE_COLS.split(','))}
              FROM up JOIN messages ON messages.id = up.id ORDER BY up.depth DESC
            """,
            (message_id,),
        )
        return [StoredMessage.from_row(r) for r in rows]

    def siblings(self, message_id: str) -> list[StoredMessage]:
        """All replies to the same parent as `message_id` (itself included), oldest first."""
        rows = self._rows(
            f"""
            SELECT {_MESSAGE_COLS} FROM messages
             WHERE conversation_id = (SELECT conversation_id FROM messages WHERE id = :id)
               AND parent_id IS (SELECT parent_id FROM messages WHERE id = :id)
             ORDER BY seq
            """,
            {"id": message_id},
        )
        return [StoredMessage.from_row(r) for r in rows]

    def children(self, message_id: str) -> list[StoredMessage]:
        rows = self._rows(f"SELECT {_MESSAGE_COLS} FROM messages WHERE parent_id = ? ORDER BY seq", (message_id,))
        return [StoredMessage.from_row(r) for r in rows]

    def set_active(self, message_id: str) -> None:
        """Show this sibling: it becomes active among its siblings, and so does every ancestor,
        so history() passes through it. Descendants keep their own active choices."""

        def run(c: sqlite3.Connection) -> None:
            chain = c.execute(
                """
                WITH RECURSIVE up(id, conversation_id, parent_id, active) AS (
                    SELECT id, conversation_id, parent_id, active FROM messages WHERE id = ?
                    UNION ALL
                    SELECT m.id, m.conversation_id, m.parent_id, m.active FROM up JOIN messages m ON m.id = up.parent_id
                )
                SELECT id, conversation_id, parent_id FROM up WHERE active = 0
                """,
                (message_id,),
            ).fetchall()
            if not chain and c.execute("SELECT 1 FROM messages WHERE id = ?", (message_id,)).fetchone() is None:
                raise StoreError(f"no message {message_id}")
            for mid, conv_id, parent_id in chain:
                self._deactivate_siblings(c, conv_id, parent_id)
                c.execute("UPDATE messages SET active = 1 WHERE id = ?", (mid,))

        self._write(run)

    def mark_stale_streaming_interrupted(
        self, price: Callable[[RecoveredStream], TurnRecord | None] | None = None
    ) -> int:
        """Turn 'streaming' messages whose writer process is gone into 'interrupted', keeping
        their text. Called at open; safe with other live processes (their streams are kept).
        Returns how many were recovered.

        A recovered reply whose model was saved and that has no turn record gets an estimated
        one (status 'interrupted', usage_estimated): the provider billed the request and what
        streamed, and the process that would have written the record is gone. `price` makes
        it (see Store.open); without it, or if it fails, characters / 4 and an unknown cost."""
        host = socket.gethostname()
        cutoff = normalize_ts(datetime.now(UTC) - STALE_STREAMING_AFTER)
        rows = self._rows("SELECT id, writer, updated_at FROM messages WHERE status = 'streaming'")
        stale: list[str] = []
        for r in rows:
            writer, updated = r["writer"], r["updated_at"]
            if writer == self._writer:
                continue  # our own live stream (a second Store in this process)
            w_host, w_pid, w_start = _parse_writer(writer or "")
            local = w_host == host and w_pid.isdigit()
            if not writer:
                dead = True
            elif local and not _pid_alive(int(w_pid)):
                dead = True
            elif local and w_start and _process_start(int(w_pid)) not in (w_start, None):
                dead = True  # the writer died and its pid now belongs to another process
            else:
                # Another host, a live pid we cannot check further (no /proc, or an old tag),
                # or a hung writer: abandoned once nothing has been saved for STALE_STREAMING_AFTER.
                dead = updated < cutoff
            if dead:
                stale.append(r["id"])
        if not stale:
            return 0
        # Built before the write lock is taken (counting tokens takes a moment). Which process
        # recovers a stream is settled under the lock below, so each gets one record even when
        # several processes open the file at once.
        records = {mid: self._recovered_record(mid, price) for mid in stale}
        now = utc_now()

        def run(c: sqlite3.Connection) -> int:
            n = 0
            for mid in stale:
                done = c.execute(
                    "UPDATE messages SET status = 'interrupted', writer = NULL, updated_at = ?"
                    " WHERE id = ? AND status = 'streaming'",
                    (now, mid),
                ).rowcount
                n += done
                record = records.get(mid)
                if done and record is not None and c.execute(
                    "SELECT 1 FROM turns WHERE message_id = ? LIMIT 1", (mid,)
                ).fetchone() is None:
                    self._insert_turn(c, record)
            return n

        return self._write(run)

    def _recovered_record(
        self, message_id: str, price: Callable[[RecoveredStream], TurnRecord | None] | None
    ) -> TurnRecord | None:
        """The estimated turn record of an abandoned stream, or None when no request was sent
        (no model saved: it stopped before routing decided, or it was a cache hit)."""
        msg = self.get_message(message_id)
        if msg is None or msg.role != "assistant" or not msg.model:
            return None
        conv = self.get_conversation(msg.conversation_id)
        branch = self.path_to(msg.parent_id) if msg.parent_id else []
        stream = RecoveredStream(
            message_id=msg.id, conversation_id=msg.conversation_id, model=msg.model, text=msg.content,
            request=tuple((m.role, m.content) for m in branch if m.role in ("user", "assistant") and m.content),
            system=conv.system_prompt if conv is not None else None, ended_at=msg.updated_at,
        )
        if price is not None:
            try:
                record = price(stream)
            except Exception:  # noqa: BLE001 - a pricing problem must never block opening the store
                record = None
            if record is not None:
                return record
        return stream.rough_record()

    # ------------------------------------------------------------------ turns

    def add_turn(self, record: TurnRecord) -> TurnRecord:
        self._write(lambda c: self._insert_turn(c, record))
        return record

    @staticmethod
    def _insert_turn(c: sqlite3.Connection, record: TurnRecord) -> None:
        record.created_at = normalize_ts(record.created_at)
        record.error = redact_secrets(record.error)
        row = record.to_row()
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        c.execute(f"INSERT INTO turns ({cols}) VALUES ({marks})", tuple(row.values()))

    def finish_turn(
        self, message_id: str, text: str, status: str, record: TurnRecord | None = None
    ) -> None:
        """The final write of a turn: message text + status and its turn record, in ONE
        transaction. `status` is a message status (complete|interrupted|error); a turn status
        ('ok') is accepted as 'complete'."""
        if status == "ok":
            status = "complete"
        if status not in MESSAGE_STATUSES or status == "streaming":
            raise ValueError(f"bad final message status {status!r}")
        now = utc_now()

        def run(c: sqlite3.Connection) -> None:
            row = c.execute("SELECT conversation_id FROM messages WHERE id = ?", (message_id,)).fetchone()
            if row is None:
                raise StoreError(f"no message {message_id}")
            c.execute(
                "UPDATE messages SET content = ?, status = ?, model = COALESCE(?, model), writer = NULL, updated_at = ?"
                " WHERE id = ?",
                (text, status, record.model if record else None, now, message_id),
            )
            if record is not None:
                if record.message_id is None:
                    record.message_id = message_id
                if record.conversation_id is None:
                    record.conversation_id = row[0]
                self._insert_turn(c, record)
            c.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (now, row[0]))

        self._write(run)

    record_turn = finish_turn  # the name INTERFACES.md uses

    def get_turn(self, turn_id: str) -> TurnRecord | None:
        rows = self._rows("SELECT * FROM turns WHERE id = ?", (turn_id,))
        return TurnRecord.from_row(rows[0]) if rows else None

    def turn_for_message(self, message_id: str) -> TurnRecord | None:
        """The latest turn record of an assistant message (for its badge)."""
        rows = self._rows(
            "SELECT * FROM turns WHERE message_id = ? ORDER BY created_at DESC, id DESC LIMIT 1", (message_id,)
        )
        return TurnRecord.from_row(rows[0]) if rows else None

    def turns_for_messages(self, message_ids: Sequence[str]) -> dict[str, TurnRecord]:
        """The latest turn record of each of these assistant messages (for a page of badges)."""
        out: dict[str, TurnRecord] = {}
        for chunk in _chunks(message_ids):
            marks = ", ".join("?" for _ in chunk)
            # Ascending, so a later record of the same message overwrites an earlier one.
            for r in self._rows(f"SELECT * FROM turns WHERE message_id IN ({marks}) ORDER BY created_at, id", chunk):
                out[r["message_id"]] = TurnRecord.from_row(r)
        return out

    def turns(self, conversation_id: str, *, include_route: bool = True) -> list[TurnRecord]:
        """Oldest first. `include_route=False` leaves `route` empty: decoding the route JSON
        is most of the cost when a long conversation only needs its badges."""
        cols = "*" if include_route else _TURN_COLS_NO_ROUTE
        rows = self._rows(
            f"SELECT {cols} FROM turns WHERE conversation_id = ? ORDER BY created_at, id", (conversation_id,)
        )
        return [TurnRecord.from_row(r) for r in rows]

    def recent_turns(self, limit: int = 100) -> list[TurnRecord]:
        rows = self._rows("SELECT * FROM turns ORDER BY created_at DESC, id DESC LIMIT ?", (limit,))
        return [TurnRecord.from_row(r) for r in rows]

    # ------------------------------------------------------------------ search

    def search(self, query: str, limit: int = 50, *, conversation_id: str | None = None) -> list[SearchHit]:
        """Full-text search over message text. Any user input is safe: it becomes quoted
        terms (the last one a prefix), never FTS syntax.

        Ranking: bm25 over the SEARCH_RANK_WINDOW most recent matches. Ranking every match of
        a common word grows with the history (hundreds of ms at 200k turns); a chat search is
        about recent things anyway, and rarer words (fewer matches) are ranked exhaustively.
        """
        match = fts_query(query)
        if match is None:
            return []
        conv_join = "JOIN messages cm ON cm.seq = f.rowid AND cm.conversation_id = :conv" if conversation_id else ""
        rows = self._rows(
            f"""
            SELECT m.id AS message_id, m.conversation_id, c.title, m.role, m.model, m.created_at,
                   m.content, top.rank
              FROM (SELECT seq, rank FROM (
                        SELECT f.rowid AS seq, f.rank AS rank FROM messages_fts f {conv_join}
                         WHERE messages_fts MATCH :match ORDER BY f.rowid DESC LIMIT :window)
                     ORDER BY rank LIMIT :limit) AS top
              JOIN messages m ON m.seq = top.seq
              JOIN conversations c ON c.id = m.conversation_id
             ORDER BY top.rank
            """,
            {"match": match, "limit": int(limit), "window": SEARCH_RANK_WINDOW, "conv": conversation_id},
        )
        terms = query_terms(query)
        return [
            SearchHit(
                message_id=r["message_id"],
                conversation_id=r["conversation_id"],
                conversation_title=r["title"],
                role=r["role"],
                model=r["model"],
                snippet=make_snippet(r["content"], terms),
                created_at=r["created_at"],
                rank=r["rank"],
            )
            for r in rows
        ]

    # ------------------------------------------------------------------ spend

    def spend(
        self,
        by: Literal["day", "model", "conversation", "client"] = "day",
        since: str | date | datetime | None = None,
        until: str | date | datetime | None = None,
        *,
        utc_offset_minutes: int = 0,
    ) -> list[SpendRow]:
        """Spend grouped by UTC day (or local day with utc_offset_minutes), model,
        conversation or client (of `chatroute serve`; key None: chatroute's own chat). Days
        ascend; models and conversations are most expensive first.
        Unknown costs are counted in `unknown_cost_turns`, never summed as 0."""
        return self._read(lambda c: _spend.spend(c, by, since, until, utc_offset_minutes))

    def spend_totals(
        self,
        since: str | date | datetime | None = None,
        until: str | date | datetime | None = None,
        *,
        utc_offset_minutes: int = 0,
    ) -> SpendRow:
        return self._read(lambda c: _spend.totals(c, since, until, utc_offset_minutes))

    def estimated_spend(
        self,
        since: str | date | datetime | None = None,
        until: str | date | datetime | None = None,
        *,
        utc_offset_minutes: int = 0,
    ) -> tuple[int, float | None]:
        """(turns, cost) of the turns whose usage was estimated rather than reported: stopped
        or killed streams, servers that send no counts. They are in spend() and spend_totals()
        too; this says how much of those totals is an estimate."""
        return self._read(lambda c: _spend.estimated(c, since, until, utc_offset_minutes))

    def cache_hits(
        self,
        since: str | date | datetime | None = None,
        until: str | date | datetime | None = None,
        *,
        utc_offset_minutes: int = 0,
    ) -> int:
        """How many turns were answered from the cache (partial index: fast at any size)."""
        from chatroute.store.spend import _where

        where, params = _where(since, until, utc_offset_minutes)
        where = (where + " AND" if where else "WHERE") + " cache_status = 'hit'"
        return int(self._read(lambda c: c.execute(f"SELECT COUNT(*) FROM turns {where}", params).fetchone()[0]))

    def turn_usage(
        self,
        since: str | date | datetime | None = None,
        until: str | date | datetime | None = None,
        *,
        utc_offset_minutes: int = 0,
    ) -> Iterator[UsageRow]:
        """Per-turn usage, oldest first, for baseline pricing ("what if all of it ran on X")."""
        rows = self._read(lambda c: _spend.usage_rows(c, since, until, utc_offset_minutes))
        return map(UsageRow._make, rows)

    # ------------------------------------------------------------------ preferences

    def add_preference(
        self,
        kind: str,
        chosen_model: str | None,
        rejected_models: Iterable[str] = (),
        prompt: str | None = None,
        *,
        conversation_id: str | None = None,
        message_id: str | None = None,
        embedding: bytes | None = None,
    ) -> Preference:
        if kind not in PREFERENCE_KINDS:
            raise ValueError(f"bad preference kind {kind!r}")
        pref = Preference(
            id=new_id(),
            kind=kind,
            chosen_model=chosen_model,
            rejected_models=list(rejected_models),
            prompt=prompt,
            conversation_id=conversation_id,
            message_id=message_id,
            embedding=bytes(embedding) if embedding is not None else None,
            created_at=utc_now(),
        )
        self._write(
            lambda c: c.execute(
                "INSERT INTO preferences (id, kind, chosen_model, rejected_models, prompt, conversation_id, message_id,"
                " embedding, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    pref.id,
                    kind,
                    chosen_model,
                    json.dumps(pref.rejected_models),
                    prompt,
                    conversation_id,
                    message_id,
                    pref.embedding,
                    pref.created_at,
                ),
            )
        )
        return pref

    def preferences(
        self, kind: str | None = None, *, since: str | date | datetime | None = None, limit: int | None = None
    ) -> list[Preference]:
        """Oldest first (the order the router should learn them in)."""
        from chatroute.store.ids import ts_bound

        clauses: list[str] = []
        params: list[str | None] = []
        if kind:
            clauses.append("kind = ?")
            params.append(kind)
        if since is not None:
            clauses.append("created_at >= ?")
            params.append(ts_bound(since))
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        lim = f" LIMIT {int(limit)}" if limit else ""
        rows = self._rows(f"SELECT * FROM preferences {where} ORDER BY created_at, id{lim}", params)
        return [Preference.from_row(r) for r in rows]

    # ------------------------------------------------------------------ export

    def export_conversation(self, conversation_id: str, fmt: Literal["markdown", "json"] = "markdown") -> str:
        from chatroute.store.export import export_conversation

        return export_conversation(self, conversation_id, fmt)
