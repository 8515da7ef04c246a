"""Turn records: one row per request a turn made (model, usage, cost, timings, route), written
with the message they answer in one transaction."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from dataclasses import fields

from chatroute.store.connection import StoreBase, chunks
from chatroute.store.ids import normalize_ts, utc_now
from chatroute.store.records import MESSAGE_STATUSES, TurnRecord

_TURN_COLS_NO_ROUTE = ", ".join(f.name for f in fields(TurnRecord) if f.name != "route")
_KEYLIKE = re.compile(r"\b(sk-(?:ant-|proj-)?[A-Za-z0-9_\-]{12,}|AIza[0-9A-Za-z_\-]{20,})")


def redact_secrets(text: str | None) -> str | None:
    """Belt and braces for error strings: provider errors sometimes echo a key back."""
    if not text:
        return text
    return _KEYLIKE.sub(lambda m: m.group(0)[:6] + "…[redacted]", text)


class TurnQueries(StoreBase):
    """Writing and reading turn records (a part of Store)."""

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
    ) -> bool:
        """The final write of a turn: message text + status and its turn record, in ONE
        transaction. `status` is a message status (complete|interrupted|error); a turn status
        ('ok') is accepted as 'complete'.

        False when the message is gone: its conversation was deleted (by another process) while
        the turn was answered. The record is written all the same, as a deleted conversation's
        turns are kept: the provider billed the request."""
        if status == "ok":
            status = "complete"
        if status not in MESSAGE_STATUSES or status == "streaming":
            raise ValueError(f"bad final message status {status!r}")
        now = utc_now()

        def run(c: sqlite3.Connection) -> bool:
            row = c.execute("SELECT conversation_id FROM messages WHERE id = ?", (message_id,)).fetchone()
            if row is None:
                if record is not None:
                    record.message_id = None
                    if record.conversation_id is not None and c.execute(
                            "SELECT 1 FROM conversations WHERE id = ?", (record.conversation_id,)).fetchone() is None:
                        record.conversation_id = None
                    self._insert_turn(c, record)
                return False
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
            return True

        return self._write(run)

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
        for chunk in chunks(message_ids):
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
