"""Served requests streaming now: what `chatroute serve` has been sent back for each, saved as
it streams, so a server that is killed (SIGKILL, a crash, lost power) before it writes a
request's record leaves enough for the next open to write an estimated one. A served request
keeps no text, so a row holds counts only: the model, the input's expected size (or the size the
provider reported), and how much text and thinking had streamed.

A row is written first at a request's first partial save (PARTIAL_SAVE_INTERVAL_S after it was
sent), so a request's first moment costs no write, and it is deleted in the transaction that
writes the request's record: a request is counted by its record or by its row, never both.

The table holds only these transient rows, so it is created on first use rather than by a
migration: an older chatroute opening the file is not refused for it."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from chatroute.store.connection import StoreBase
from chatroute.store.ids import normalize_ts, utc_now
from chatroute.store.liveness import STALE_STREAMING_AFTER, writer_gone
from chatroute.store.records import RecoveredStream, ReportedInput, TurnRecord

_TABLE = """CREATE TABLE IF NOT EXISTS served_streams (
    id TEXT PRIMARY KEY,          -- one served request
    owner TEXT NOT NULL,          -- the serving process's writer tag: host:pid:start
    model TEXT NOT NULL,          -- the model streaming now (a fail-over replaces it)
    client TEXT,
    route_kind TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,  -- the provider's count when it gave one, else the router's estimate
    cached_tokens INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    output_chars INTEGER NOT NULL DEFAULT 0,  -- text and thinking streamed so far
    updated_at TEXT NOT NULL
)"""

RECOVERED_REASON = "recovered at the next open: chatroute serve stopped while the answer streamed"


@dataclass(frozen=True)
class ServedProgress:
    """A served request's partial save."""

    stream_id: str
    model: str
    client: str | None
    route_kind: str
    input: ReportedInput  # reported by the provider, or the estimate as input alone
    output_chars: int


def _missing(exc: sqlite3.OperationalError) -> bool:
    return "no such table" in str(exc)


class ServedStreamQueries(StoreBase):
    """Saving served requests' progress and recovering those a stopped server left (a part of Store)."""

    _served_ready = False

    def save_served(self, p: ServedProgress, *, ended: Callable[[], bool] | None = None) -> None:
        """Save `p`, unless `ended()` says, under the write lock, that its request's record is
        being or has been written (a save that comes after that record would outlive it)."""

        def run(c: sqlite3.Connection) -> None:
            if ended is not None and ended():
                return
            if not self._served_ready:
                c.execute(_TABLE)
                self._served_ready = True
            c.execute("INSERT OR REPLACE INTO served_streams (id, owner, model, client, route_kind, input_tokens,"
                      " cached_tokens, cache_write_tokens, output_chars, updated_at)"
                      " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      (p.stream_id, self._writer, p.model, p.client, p.route_kind, p.input.input, p.input.cached,
                       p.input.cache_write, p.output_chars, utc_now()))

        self._write(run)

    def add_served_turn(self, record: TurnRecord, stream_id: str) -> TurnRecord:
        """Write a served request's record, and drop its partial save in the same transaction."""

        def run(c: sqlite3.Connection) -> None:
            self._insert_turn(c, record)  # type: ignore[attr-defined]  # TurnQueries, beside it in Store
            if self._served_ready:  # this process has saved a stream: the table is there
                try:
                    c.execute("DELETE FROM served_streams WHERE id = ?", (stream_id,))
                except sqlite3.OperationalError as exc:
                    if not _missing(exc):  # made in a transaction that was rolled back
                        raise

        self._write(run)
        return record

    def recover_served_streams(self, price: Callable[[RecoveredStream], TurnRecord | None] | None) -> int:
        """Write an estimated, interrupted record for each request a stopped server left
        streaming, and drop its row; how many. Safe with live servers: their rows are kept."""
        try:
            rows = self._rows("SELECT id, owner, model, client, route_kind, input_tokens, cached_tokens,"
                              " cache_write_tokens, output_chars, updated_at FROM served_streams")
        except sqlite3.OperationalError as exc:
            if _missing(exc):
                return 0  # no server has saved a stream in this file
            raise
        host = socket.gethostname()
        cutoff = normalize_ts(datetime.now(UTC) - STALE_STREAMING_AFTER)
        stale = [r for r in rows if r["owner"] != self._writer
                 and writer_gone(r["owner"], r["updated_at"], host=host, cutoff=cutoff)]
        if not stale:
            return 0
        records = {r["id"]: _recovered(r, price) for r in stale}

        def run(c: sqlite3.Connection) -> int:
            n = 0
            for stream_id, record in records.items():
                # Under the write lock: of several processes opening at once, one records it.
                if c.execute("DELETE FROM served_streams WHERE id = ?", (stream_id,)).rowcount:
                    self._insert_turn(c, record)  # type: ignore[attr-defined]
                    n += 1
            return n

        return self._write(run)


def _recovered(row: dict[str, object], price: Callable[[RecoveredStream], TurnRecord | None] | None) -> TurnRecord:
    stream = RecoveredStream(
        message_id=None, conversation_id=None, model=str(row["model"]), text="", request=(), system=None,
        ended_at=str(row["updated_at"]),
        # No text is kept: what streamed counts as characters, as the thinking's length does.
        thinking_chars=int(row["output_chars"] or 0),  # type: ignore[call-overload]
        reported_input=ReportedInput(int(row["input_tokens"] or 0), int(row["cached_tokens"] or 0),  # type: ignore[call-overload]
                                     int(row["cache_write_tokens"] or 0)),  # type: ignore[call-overload]
        route_kind=str(row["route_kind"]),
    )
    record = None
    if price is not None:
        try:
            record = price(stream)
        except Exception:  # noqa: BLE001 - a pricing problem must never block opening the store
            record = None
    if record is None:
        record = stream.rough_record()
    record.client = str(row["client"]) if row["client"] is not None else None
    record.route = {"reason": RECOVERED_REASON}
    record.error = f"{record.model}: chatroute serve stopped while the answer streamed — cost estimated"
    return record
