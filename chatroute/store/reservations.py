"""Budget reservations: what the turns streaming now, in every process sharing the database, are
expected to cost. The ledger holds only finished turns; a turn reserves its expected cost before
it is sent and releases it once its record is written, so processes deciding at once (the TUI,
`serve`, several `chatroute ask`) count each other's turns against the caps.

A reservation is taken in one BEGIN IMMEDIATE transaction with the check that it still fits
(the ledger's spend and the others' reservations read under the write lock), so two processes
cannot both take the last of a cap. One left behind no longer counts once its owner is gone: a
process on this machine that has exited (its pid gone, or now another process's), or, whatever
the owner, once its expiry has passed (the owner sets it past the longest its turn can run).

The table holds only these transient rows, so it is created on first use rather than by a
migration: an older chatroute opening the file is not refused for it."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from chatroute.store.connection import StoreBase
from chatroute.store.ids import format_ts
from chatroute.store.liveness import process_gone

_TABLE = """CREATE TABLE IF NOT EXISTS budget_reservations (
    id INTEGER PRIMARY KEY,
    owner TEXT NOT NULL,       -- the owner process's writer tag: host:pid:start
    cost_usd REAL NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
)"""

Row = tuple[int, str, float, str]  # id, owner, cost_usd, expires_at


def _open_rows(c: sqlite3.Connection) -> list[Row]:
    try:
        return c.execute("SELECT id, owner, cost_usd, expires_at FROM budget_reservations ORDER BY id").fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []  # no process has reserved anything in this file yet
        raise


class ReservationQueries(StoreBase):
    """Taking, releasing and summing budget reservations (a part of Store)."""

    _reservations_ready = False
    # Releases that could not be written at once (the lock was busy): done by the next reserve.
    _unreleased: frozenset[int] = frozenset()

    def _split(self, rows: list[Row]) -> tuple[list[Row], list[int]]:
        """The reservations that count, and the ids of those left behind (see the module)."""
        host, now = socket.gethostname(), format_ts(datetime.now(UTC))
        gone: dict[str, bool] = {self._writer: False}
        live, stale = [], []
        for row in rows:
            _, owner, _, expires_at = row
            if owner not in gone:
                gone[owner] = process_gone(owner, host=host)
            if gone[owner] or expires_at < now:
                stale.append(row[0])
            else:
                live.append(row)
        return live, stale

    @staticmethod
    def _sum(rows: list[Row], but: int | None) -> float:
        # One summation order (by id) for the decision and the check under the lock, so the
        # same rows give the same figure to the last bit.
        return sum(cost for rid, _, cost, _ in rows if rid != but)

    def reserved_usd(self, *, but: int | None = None) -> float:
        """What the reservations that count add up to; `but`: leave that one out."""
        live, _ = self._split(self._read(_open_rows))
        return self._sum(live, but)

    def reserve(self, cost_usd: float, *, expires_after_s: float,
                fits: Callable[[float], bool] | None = None, replacing: int | None = None) -> int | None:
        """Reserve `cost_usd` until `release_reservation` (or the expiry), and return its id.
        `fits(reserved)` is asked under the write lock with what the others' reservations add
        up to; when it says no, nothing is reserved and None is returned. `replacing`: a
        reservation of this process's the new one takes the place of, in the same transaction
        (a turn failing over to another model): not counted by `fits`, and kept if it says no."""
        now = datetime.now(UTC)
        unreleased = self._unreleased

        def run(c: sqlite3.Connection) -> int | None:
            if not self._reservations_ready:
                c.execute(_TABLE)
            live, stale = self._split(_open_rows(c))
            done = [*stale, *sorted(unreleased)]
            if done:
                c.executemany("DELETE FROM budget_reservations WHERE id = ?", [(rid,) for rid in done])
                live = [row for row in live if row[0] not in done]
            if fits is not None and not fits(self._sum(live, replacing)):
                return None
            if replacing is not None:
                c.execute("DELETE FROM budget_reservations WHERE id = ?", (replacing,))
            cur = c.execute("INSERT INTO budget_reservations (owner, cost_usd, created_at, expires_at)"
                            " VALUES (?, ?, ?, ?)",
                            (self._writer, float(cost_usd), format_ts(now),
                             format_ts(now + timedelta(seconds=expires_after_s))))
            return int(cur.lastrowid or 0)

        rid = self._write(run)
        self._reservations_ready = True
        self._unreleased = self._unreleased - unreleased
        return rid

    def lower_reservation(self, rid: int, by_usd: float, together: Callable[[], object]) -> None:
        """Take `by_usd` off reservation `rid` in one transaction with `together`, the write of
        what that part stood for (a billed attempt's record in the ledger): the cost counts in
        the reservation until it counts in the ledger, never in neither and never twice."""

        def run(c: sqlite3.Connection) -> None:
            together()  # its own writes join this transaction
            c.execute("UPDATE budget_reservations SET cost_usd = MAX(0.0, cost_usd - ?) WHERE id = ?",
                      (float(by_usd), rid))

        self._write(run)

    def release_reservation(self, rid: int) -> None:
        """The turn's record is written: its reservation stops counting. One attempt, so a
        turn's end never waits out another process's lock; a busy lock leaves it to the next
        reserve (and to the expiry, should none come)."""
        try:
            with self._lock:
                self.conn.execute("DELETE FROM budget_reservations WHERE id = ?", (rid,))
        except sqlite3.Error:
            self._unreleased = self._unreleased | {rid}
