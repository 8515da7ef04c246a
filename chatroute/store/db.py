"""The SQLite store: conversations and message trees here; turn records, search, spend and
preferences in the modules of Store's mixins (turns.py, search.py, spend.py, preferences.py),
the connection and its transactions in connection.py.

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
import socket
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from chatroute.fsutil import private_dir
from chatroute.store.branch import HAS_TEXT_GLOB, HistoryTail, tail_start, text_chars, unanswered, walk
from chatroute.store.connection import StoreBase, T, chunks
from chatroute.store.dbfile import DatabaseFileError, StoreError, WalWatch, check_file, explain, private_db_file
from chatroute.store.ids import new_id, normalize_ts, utc_now
from chatroute.store.liveness import STALE_STREAMING_AFTER, writer_gone
from chatroute.store.migrations import MIGRATIONS, SCHEMA_VERSION
from chatroute.store.preferences import PreferenceQueries
from chatroute.store.records import (
    MESSAGE_STATUSES,
    Conversation,
    RecoveredStream,
    ReportedInput,
    StoredMessage,
    TurnRecord,
)
from chatroute.store.reservations import ReservationQueries
from chatroute.store.search import SearchQueries
from chatroute.store.served import ServedStreamQueries
from chatroute.store.spend import SpendQueries
from chatroute.store.turns import TurnQueries
from chatroute.textsize import text_weight, weighted_length

if TYPE_CHECKING:
    from chatroute.config import Config

__all__ = ["HistoryTail", "Store", "StoreError", "tail_start"]

BUSY_TIMEOUT_MS = 100  # per attempt: the wait itself is LockWaits', which can be cancelled

_MESSAGE_COLS = "id, conversation_id, parent_id, role, content, model, status, active, created_at, updated_at"
# A message's characters as the history counts them (text_chars), its one parameter HAS_TEXT_GLOB:
# GLOB settles at the first character that is not blank: a text is not scanned to its end.
_TEXT_CHARS = "CASE WHEN content GLOB ? THEN length(content) ELSE 0 END"


class Store(TurnQueries, SearchQueries, SpendQueries, PreferenceQueries, ReservationQueries, ServedStreamQueries,
            StoreBase):
    """Open with `Store.open(path)`; use as a context manager or call `close()`.

    Conversations and message trees are here; the connection and transactions are in
    store/connection.py, and turn records, search, spend, preferences and budget reservations in
    the modules of their mixins (store/turns.py, search.py, spend.py, preferences.py, reservations.py)."""

    # How a stream abandoned after the open is priced when it is found (see open).
    _price_recovered: Callable[[RecoveredStream], TurnRecord | None] | None = None

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
        on_wait: Callable[[str | None], None] | None = None,
    ) -> Store:
        """Open (creating parent dirs and the file if needed), migrate, and recover streams
        left 'streaming' by killed processes. `path=None` uses the configured data dir.

        `price_recovered` turns each recovered stream into its estimated turn record (a client
        with the catalogue counts tokens and prices them); without it the store estimates
        characters / 4 and leaves the cost unknown. `anthropic_providers`: the configured
        providers of kind "anthropic" (whose stored token counts migration 4 restates).
        `on_wait` is told when opening waits for another process's lock (a migration or a
        recovery needs to write), with the line to show, and stays the store's (see LockWaits)."""
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
        store.waits.on_wait = on_wait
        store._price_recovered = price_recovered
        try:
            store._read_schema()
            store._refuse_newer()  # before WAL is switched on: a newer file is not touched at all
            store._configure()
            store._migrate(anthropic_providers)
            if recover_stale:
                store.mark_stale_streaming_interrupted(price_recovered)
                store.recover_served_streams(price_recovered)
            store._wal = WalWatch.start(path)
        except sqlite3.Error as exc:
            conn.close()
            raise (explain(path, exc) or exc) from None
        except BaseException:
            conn.close()
            raise
        return store

    @classmethod
    def open_for(cls, config: Config, path: str | os.PathLike[str] | None = None, **kwargs: Any) -> Store:
        """`open` with what the config tells the migrations: the providers of kind "anthropic"
        under any name (migration 4 restates their stored input). Any command may be the first
        to open the file after an upgrade, so every client with a config opens it this way."""
        names = [name for name, provider in config.providers.items() if provider.kind == "anthropic"]
        return cls.open(path, anthropic_providers=names, **kwargs)

    def _read_schema(self) -> None:
        """SQLite reads every schema entry before the first statement. One of the answer cache's
        it cannot read (cache/damage.py: schema_fault_is_the_caches) need not cost the
        conversations and the ledger: this connection reads the schema past that entry, so
        they work as before. The cache, on its own connection, meets the fault and says so
        once, and `chatroute cache clear` rebuilds it. Any other entry refuses the file."""
        try:
            self.conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone()
        except sqlite3.DatabaseError as exc:
            from chatroute.cache.damage import schema_fault_is_the_caches  # only here: the cache package loads numpy

            if not schema_fault_is_the_caches(self.path, exc):
                raise
            # No statement of the store writes the schema; the cache's tables it leaves alone
            # (_drop_cached_answers), as their index is not kept without its entry.
            self.conn.execute("PRAGMA writable_schema = ON")
            self.cache_schema_fault = str(exc)

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

    def conversations_starting_with(self, prefix: str, *, limit: int = 5) -> list[Conversation]:
        """Conversations whose id starts with `prefix` (lower-case hex), oldest first: a range
        scan of the primary key, so a short prefix costs no more than an exact id."""
        if not prefix or any(ch not in "0123456789abcdef" for ch in prefix):
            return []
        high = prefix[:-1] + chr(ord(prefix[-1]) + 1)  # "f" + 1 is "g", still above every hex id
        rows = self._rows("SELECT * FROM conversations WHERE id >= ? AND id < ? ORDER BY id LIMIT ?",
                          (prefix, high, int(limit)))
        return [Conversation.from_row(r) for r in rows]

    def list_conversations(self, *, include_archived: bool = False, limit: int | None = None,
                           after: tuple[str, str] | None = None) -> list[Conversation]:
        """Most recently active first. `after`: the (updated_at, id) of the last one a previous
        page listed; this page goes on below it. Keyed, not an offset: a conversation active
        since moves above the pages read, never into a later one twice."""
        where = [] if include_archived else ["archived = 0"]
        params: tuple[str, ...] = ()
        if after is not None:
            where.append("(updated_at, id) < (?, ?)")
            params = after
        cond = f"WHERE {' AND '.join(where)}" if where else ""
        lim = f" LIMIT {int(limit)}" if limit else ""
        rows = self._rows(f"SELECT * FROM conversations {cond} ORDER BY updated_at DESC, id DESC{lim}", params)
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

    def set_pin(self, conversation_id: str, model: str | None) -> None:
        """Pin a model for this conversation (None unpins). Survives restarts."""
        self._update_conversation(conversation_id, pinned_model=model)

    def set_cache_enabled(self, conversation_id: str, enabled: bool) -> int | None:
        """Switch the conversation's answer cache. Off, it neither reads the cache nor adds to it,
        and the answers the cache already stored from it are deleted (as when it is deleted): they
        were served on to other conversations and to `chatroute serve`'s clients. Returns how
        many were deleted, None when the cache is damaged and they could not be (switched all
        the same)."""

        def run(c: sqlite3.Connection) -> None:
            cur = c.execute("UPDATE conversations SET cache_enabled = ?, updated_at = ? WHERE id = ?",
                            (int(enabled), utc_now(), conversation_id))
            if cur.rowcount == 0:
                raise StoreError(f"no conversation {conversation_id}")

        if enabled:
            self._write(run)
            return 0
        return self._dropping_cached_answers(conversation_id, run)[1]

    def pinned_models(self) -> list[str]:
        """The models pinned in conversations that are not archived (distinct)."""
        rows = self._read(lambda c: c.execute(
            "SELECT DISTINCT pinned_model FROM conversations WHERE pinned_model IS NOT NULL AND archived = 0"
        ).fetchall())
        return [r[0] for r in rows]

    def set_archived(self, conversation_id: str, archived: bool = True) -> None:
        self._update_conversation(conversation_id, archived=int(archived))

    def delete_conversation(self, conversation_id: str) -> bool:
        """Deletes the conversation, its messages and preference signals, and the answers the
        cache stored from it (in the same file: a deleted conversation's text was served on to
        other conversations for weeks). Its turn records stay (conversation_id set NULL) so spend
        history remains true; they hold no text."""

        def run(c: sqlite3.Connection) -> bool:
            # Children before parents is not needed (ON DELETE CASCADE on parent_id), but one
            # DELETE of all rows lets SQLite do it in a single pass.
            c.execute("DELETE FROM messages WHERE conversation_id = ?", (conversation_id,))
            return c.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,)).rowcount > 0

        return self._dropping_cached_answers(conversation_id, run)[0]

    def _dropping_cached_answers(self, conversation_id: str,
                                 fn: Callable[[sqlite3.Connection], T]) -> tuple[T, int | None]:
        """fn, in one transaction with the deletion of the answers the cache stored from the
        conversation's turns (first: before the turns lose their conversation id); fn's result and
        how many were deleted. A damaged cache (cache/damage.py) must not keep a conversation from
        being switched off or deleted: SQLite fails the whole transaction once it meets a damaged
        page, so fn is then run alone, and the count is None; the entries go when `chatroute
        cache clear` rebuilds the cache."""

        def run(c: sqlite3.Connection) -> tuple[T, int | None]:
            deleted = _drop_cached_answers(c, conversation_id, self.cache_schema_fault)
            return fn(c), deleted

        try:
            return self._write(run)
        except _CacheDamaged:
            return self._write(fn), None

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
        msg = self._new_message(conversation_id, role, content, parent_id, status, model=model, active=active)
        self._write(lambda c: self._insert_message(c, msg))
        return msg

    def add_question_and_answer(self, conversation_id: str, prompt: str | None, parent_id: str | None, *,
                                question: StoredMessage | None = None) -> tuple[StoredMessage, StoredMessage]:
        """A turn's user message (unless `question`, a regenerate's, is given) and its empty,
        streaming answer, in one transaction: another process reading the conversation never
        sees the question without its answer, and would otherwise take it for part of its own
        history (two questions in a row)."""
        ask = question or self._new_message(conversation_id, "user", prompt or "", parent_id)
        answer = self._new_message(conversation_id, "assistant", "", ask.id, "streaming")

        def run(c: sqlite3.Connection) -> None:
            if question is None:
                self._insert_message(c, ask)
            self._insert_message(c, answer)

        self._write(run)
        return ask, answer

    def _new_message(self, conversation_id: str, role: str, content: str, parent_id: str | None,
                     status: str = "complete", *, model: str | None = None, active: bool = True) -> StoredMessage:
        if status not in MESSAGE_STATUSES:
            raise ValueError(f"bad message status {status!r}")
        now = utc_now()
        return StoredMessage(id=new_id(), conversation_id=conversation_id, parent_id=parent_id, role=role,
                             content=content, model=model, status=status, active=active, created_at=now,
                             updated_at=now)

    def _insert_message(self, c: sqlite3.Connection, msg: StoredMessage) -> None:
        conversation_id, parent_id = msg.conversation_id, msg.parent_id
        if parent_id is not None:
            row = c.execute("SELECT conversation_id FROM messages WHERE id = ?", (parent_id,)).fetchone()
            if row is None or row[0] != conversation_id:
                raise StoreError(f"parent message {parent_id} is not in conversation {conversation_id}")
        if msg.active:
            self._deactivate_siblings(c, conversation_id, parent_id)
        writer = self._writer if msg.status == "streaming" else None
        c.execute(
            "INSERT INTO messages (id, conversation_id, parent_id, role, content, model, status, active, writer,"
            " created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (msg.id, conversation_id, parent_id, msg.role, msg.content, msg.model, msg.status, int(msg.active),
             writer, msg.created_at, msg.updated_at),
        )
        c.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (msg.created_at, conversation_id))

    @staticmethod
    def _deactivate_siblings(c: sqlite3.Connection, conversation_id: str, parent_id: str | None) -> None:
        if parent_id is None:
            c.execute(
                "UPDATE messages SET active = 0 WHERE conversation_id = ? AND parent_id IS NULL AND active = 1",
                (conversation_id,),
            )
        else:
            c.execute("UPDATE messages SET active = 0 WHERE parent_id = ? AND active = 1", (parent_id,))

    def update_message_text(self, message_id: str, text: str, status: str = "streaming", *,
                            thinking_chars: int = 0, reported_input: ReportedInput | None = None) -> None:
        """Save a partial reply while streaming (call every ~0.5 s): a cheap one-row UPDATE
        (plus re-indexing that row for search). `thinking_chars`: how much thinking the model
        streamed so far, and `reported_input`: the input the provider reported when the stream
        started; a recovery after a crash prices both. The thinking length is replaced, not
        kept at its largest: an R1 distill's start held as thinking may turn out to be text,
        then saved in `text`, and counted twice had its thinking length stayed."""
        if status not in MESSAGE_STATUSES:
            raise ValueError(f"bad message status {status!r}")
        writer = self._writer if status == "streaming" else None
        reported = json.dumps(reported_input.to_dict()) if reported_input is not None else None
        self._write(
            lambda c: c.execute(
                "UPDATE messages SET content = ?, status = ?, writer = ?, updated_at = ?,"
                " thinking_chars = ?, reported_input = ifnull(?, reported_input) WHERE id = ?",
                (text, status, writer, utc_now(), thinking_chars, reported, message_id),
            )
        )

    def set_message_model(self, message_id: str, model: str, route_kind: str | None = None) -> None:
        """Say which model a streaming reply goes to, and who chose it, before the request is
        sent: if the process dies mid-stream, the next open can still count what that model
        billed, as the user's choice or the router's."""
        self._write(lambda c: c.execute("UPDATE messages SET model = ?, route_kind = ? WHERE id = ?",
                                        (model, route_kind, message_id)))

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
        return [StoredMessage.from_row(by_parent[p]) for p in walk(by_parent)]

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
        return [by_parent[p] for p in walk(by_parent)]

    def history_tail(self, conversation_id: str, max_chars: float | None = None, *, per_message_chars: float = 0.0,
                     upto: str | None = None) -> HistoryTail:
        """The most recent whole turns of a branch that weigh at most `max_chars` (see
        tail_start; None: all of it), with the bodies of those messages only. The branch is the
        shown one, or with `upto` the ancestry of that message (a regenerate answers an older
        question). The walk fetches ids, roles, models and lengths, not the text: on a 10k-turn
        conversation about a sixth of what history() costs, and the bodies fetched stay as few
        as the budget allows."""
        # Rows of (parent_id, id, role, model, characters, status, bytes), root first.
        if upto is None:
            rows = self._read(lambda c: c.execute(
                f"SELECT parent_id, id, role, model, {_TEXT_CHARS}, status, length(CAST(content AS BLOB))"
                " FROM messages WHERE conversation_id = ? AND active = 1",
                (HAS_TEXT_GLOB, conversation_id)).fetchall())
            by_parent = {r[0]: r for r in rows}
            branch: list[Any] = []
            key: str | None = None
            while key in by_parent and len(branch) < len(rows):  # the bound guards against a cycle
                row = by_parent[key]
                branch.append(row)
                key = row[1]
        else:
            branch = self._read(lambda c: c.execute(
                f"""
                WITH RECURSIVE up(parent_id, id, role, model, chars, status, bytes, depth) AS (
                    SELECT parent_id, id, role, model, {_TEXT_CHARS}, status, length(CAST(content AS BLOB)), 0
                      FROM messages WHERE id = ? AND conversation_id = ?
                    UNION ALL
                    SELECT m.parent_id, m.id, m.role, m.model, {_TEXT_CHARS.replace("content", "m.content")}, m.status,
                           length(CAST(m.content AS BLOB)), up.depth + 1
                      FROM up JOIN messages m ON m.id = up.parent_id
                )
                SELECT parent_id, id, role, model, chars, status, bytes FROM up ORDER BY depth DESC
                """, (HAS_TEXT_GLOB, upto, conversation_id, HAS_TEXT_GLOB)).fetchall())
        # At the end of the shown branch, a turn still being answered (by another process: this
        # one asks after its own turns end) is not history yet: its question has no answer to
        # send with it. The new turn branches where that one did.
        # A writer gone since this store opened (a killed `ask`) left an interrupted answer, as
        # the next open would mark it: its question and partial text are history.
        if (upto is None and branch and branch[-1][2] == "assistant" and branch[-1][5] == "streaming"
                and not self._abandoned(branch[-1][1])):
            branch.pop()
            if branch and branch[-1][2] == "user":
                branch.pop()
        outline = [(r[2], r[4] or 0) for r in branch]
        skipped = unanswered(outline)
        # Weighed as the router estimates a text (a character outside ASCII counts more), from
        # the lengths first: they never weigh a text more than text_weight does, so the tail
        # they give holds the one text_weight gives, and only its bodies are read and weighed.
        outline = [(role, 0 if i in skipped or not chars else weighted_length(chars, r[6] or 0))
                   for i, ((role, chars), r) in enumerate(zip(outline, branch, strict=True))]
        start = tail_start(outline, max_chars, per_message_chars)
        messages = self.messages_by_id([r[1] for i, r in enumerate(branch) if i >= start and i not in skipped])
        if max_chars is not None and messages:
            weights = {m.id: text_weight(m.content) for m in messages}
            exact = [(role, weights.get(r[1], chars) if chars else 0)
                     for (role, chars), r in zip(outline[start:], branch[start:], strict=True)]
            cut = {r[1] for r in branch[start:start + tail_start(exact, max_chars, per_message_chars)]}
            messages = [m for m in messages if m.id not in cut]
        return HistoryTail(
            messages=messages,
            total_turns=sum(1 for role, chars in outline if role == "user" and chars),
            leaf_id=branch[-1][1] if branch else None,
            current_model=next((r[3] for r in reversed(branch) if r[2] == "assistant" and r[3]), None),
        )

    def messages_by_id(self, ids: Sequence[str]) -> list[StoredMessage]:
        """These messages, in the order given (unknown ids are skipped)."""
        found: dict[str, StoredMessage] = {}
        for chunk in chunks(ids):
            marks = ", ".join("?" for _ in chunk)
            for r in self._rows(f"SELECT {_MESSAGE_COLS} FROM messages WHERE id IN ({marks})", chunk):
                found[r["id"]] = StoredMessage.from_row(r)
        return [found[i] for i in ids if i in found]

    def sibling_positions(self, ids: Sequence[str]) -> dict[str, tuple[int, int]]:
        """For each answer that has others to switch to: (1-based position among them, how many),
        in replies() order. One query for a whole page of messages instead of one each."""
        out: dict[str, tuple[int, int]] = {}
        for chunk in chunks(ids, 250):  # each id is bound twice
            marks = ", ".join("?" for _ in chunk)

            def pairs(c: sqlite3.Connection, chunk: Sequence[str] = chunk, marks: str = marks) -> list[Any]:
                # An answer's others are the answers to every question asked at its question's
                # point (replies()); another message's, its siblings.
                return c.execute(
                    f"""
                    SELECT m.id, s.id, s.seq, 0 FROM messages m
                      JOIN messages s ON s.conversation_id = m.conversation_id AND s.parent_id IS m.parent_id
                     WHERE m.id IN ({marks}) AND m.role != 'assistant'
                    UNION ALL
                    SELECT m.id, a.id, q2.seq, a.seq FROM messages m
                      JOIN messages q ON q.id = m.parent_id
                      JOIN messages q2 ON q2.conversation_id = q.conversation_id AND q2.parent_id IS q.parent_id
                                      AND q2.role = q.role
                      JOIN messages a ON a.parent_id = q2.id AND a.role = 'assistant'
                     WHERE m.id IN ({marks}) AND m.role = 'assistant'
                     ORDER BY 1, 3, 4
                    """,
                    [*chunk, *chunk],
                ).fetchall()

            rows = self._read(pairs)
            groups: dict[str, list[str]] = {}
            for mid, sid, *_ in rows:
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

    def replies(self, message_id: str) -> list[StoredMessage]:
        """The answers a reader switches between at this point ([ / ] in the TUI), this one
        included: its siblings (regenerated, compared), and where another question was asked at
        the same point (two turns at once, from two processes) the answers to it too, in the
        order asked. A message that is not an answer: its siblings."""
        rows = self._rows(
            f"""
            SELECT {", ".join("a." + c.strip() for c in _MESSAGE_COLS.split(","))} FROM messages m
              JOIN messages q ON q.id = m.parent_id
              JOIN messages q2 ON q2.conversation_id = q.conversation_id AND q2.parent_id IS q.parent_id
                              AND q2.role = q.role
              JOIN messages a ON a.parent_id = q2.id AND a.role = 'assistant'
             WHERE m.id = ? AND m.role = 'assistant'
             ORDER BY q2.seq, a.seq
            """,
            (message_id,),
        )
        return [StoredMessage.from_row(r) for r in rows] or self.siblings(message_id)

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

    def _abandoned(self, message_id: str) -> bool:
        """Whether the stream of `message_id` has no live writer; if so it is recovered now."""
        rows = self._rows("SELECT writer, updated_at FROM messages WHERE id = ? AND status = 'streaming'",
                          (message_id,))
        if not rows:
            return True  # ended since it was read
        cutoff = normalize_ts(datetime.now(UTC) - STALE_STREAMING_AFTER)
        writer = rows[0]["writer"]
        if writer == self._writer or not writer_gone(writer, rows[0]["updated_at"], host=socket.gethostname(),
                                                     cutoff=cutoff):
            return False
        self.mark_stale_streaming_interrupted(self._price_recovered)
        return True

    def mark_stale_streaming_interrupted(
        self, price: Callable[[RecoveredStream], TurnRecord | None] | None = None
    ) -> int:
        """Turn 'streaming' messages whose writer process is gone into 'interrupted', keeping
        their text. Called at open; safe with other live processes (their streams are kept).
        Returns how many were recovered.

        A recovered reply whose model was saved and that has no turn record of it gets an estimated
        one (status 'interrupted', usage_estimated): the provider billed the request and what
        streamed, and the process that would have written the record is gone. `price` makes
        it (see Store.open); without it, or if it fails, characters / 4 and an unknown cost."""
        host = socket.gethostname()
        cutoff = normalize_ts(datetime.now(UTC) - STALE_STREAMING_AFTER)
        rows = self._rows("SELECT id, writer, updated_at FROM messages WHERE status = 'streaming'")
        # Our own live streams (a second Store in this process) are never stale.
        stale = [r["id"] for r in rows if r["writer"] != self._writer
                 and writer_gone(r["writer"], r["updated_at"], host=host, cutoff=cutoff)]
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
                # Of this model: a routed turn may already hold the record of a billed attempt
                # that failed over to the model that was streaming.
                if done and record is not None and c.execute(
                    "SELECT 1 FROM turns WHERE message_id = ? AND model = ? LIMIT 1", (mid, record.model)
                ).fetchone() is None:
                    self._insert_turn(c, record)
            return n

        return self._write(run)

    def _recovered_record(
        self, message_id: str, price: Callable[[RecoveredStream], TurnRecord | None] | None
    ) -> TurnRecord | None:
        """The estimated turn record of an abandoned stream, or None when no request was sent
        (no model saved: it stopped before routing decided, or it was a cache hit)."""
        # The message with what its partial saves kept of the billing (thinking, reported input).
        rows = self._rows(f"SELECT {_MESSAGE_COLS}, thinking_chars, reported_input, route_kind FROM messages"
                          " WHERE id = ?",
                          (message_id,))
        if not rows:
            return None
        msg = StoredMessage.from_row(rows[0])
        if msg.role != "assistant" or not msg.model:
            return None
        conv = self.get_conversation(msg.conversation_id)
        branch = self.path_to(msg.parent_id) if msg.parent_id else []
        # As history_tail sends it: a question whose answer has no text is left out.
        skipped = unanswered([(m.role, text_chars(m.content)) for m in branch])
        sent = [m for i, m in enumerate(branch) if i not in skipped]
        stream = RecoveredStream(
            message_id=msg.id, conversation_id=msg.conversation_id, model=msg.model, text=msg.content,
            request=tuple((m.role, m.content) for m in sent if m.role in ("user", "assistant") and m.content),
            system=conv.system_prompt if conv is not None else None, ended_at=msg.updated_at,
            thinking_chars=int(rows[0]["thinking_chars"] or 0),
            reported_input=ReportedInput.from_json(rows[0]["reported_input"]),
            route_kind=rows[0]["route_kind"],
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
    # ------------------------------------------------------------------ export

    def export_conversation(self, conversation_id: str, fmt: Literal["markdown", "json"] = "markdown") -> str:
        from chatroute.store.export import export_conversation

        return export_conversation(self, conversation_id, fmt)


class _CacheDamaged(Exception):
    """The cache's tables are damaged (cache/damage.py): its entries could not be deleted."""


def _drop_cached_answers(c: sqlite3.Connection, conversation_id: str, damaged_schema: str | None) -> int:
    """Delete the answers the cache stored from this conversation's turns; how many. The cache's
    own triggers tell its other processes, whose indexes drop the entries at their next lookup."""
    if not c.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'cache_entries'").fetchone():
        return 0
    if damaged_schema is not None:
        raise _CacheDamaged(damaged_schema)
    try:
        return c.execute("DELETE FROM cache_entries WHERE turn_id IN (SELECT id FROM turns WHERE conversation_id = ?)",
                         (conversation_id,)).rowcount
    except sqlite3.DatabaseError as exc:
        from chatroute.cache.damage import is_damage  # only here: the cache package loads numpy

        if is_damage(exc):
            raise _CacheDamaged(str(exc)) from exc
        raise
