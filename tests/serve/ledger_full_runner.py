"""`chatroute` in a process whose ledger writes fail as on a full disk
(`python -m tests.serve.ledger_full_runner serve ...`): by default every Store.add_turn and
add_served_turn raises SQLite's "database or disk is full"; with FULL_WRITES=reserve in the
environment, a budget reservation's write does instead, and with FULL_WRITES=move only the write
that moves a reservation to the model a request fails over to."""

from __future__ import annotations

import os
import sqlite3
import sys
from typing import Any

from chatroute.cli import main
from chatroute.store.db import Store
from chatroute.store.reservations import ReservationQueries


def _full(*_: Any, **__: Any) -> None:
    raise sqlite3.OperationalError("database or disk is full")


_reserve = ReservationQueries.reserve


def _full_on_move(self: ReservationQueries, *args: Any, **kwargs: Any) -> int | None:
    if kwargs.get("replacing") is not None:
        _full()
    return _reserve(self, *args, **kwargs)


if __name__ == "__main__":
    if os.environ.get("FULL_WRITES") == "reserve":
        ReservationQueries.reserve = _full  # type: ignore[method-assign,assignment]
    elif os.environ.get("FULL_WRITES") == "move":
        ReservationQueries.reserve = _full_on_move  # type: ignore[method-assign]
    else:
        Store.add_turn = _full  # type: ignore[method-assign]
        Store.add_served_turn = _full  # type: ignore[method-assign]
    sys.exit(main(sys.argv[1:]))
