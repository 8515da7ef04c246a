"""`chatroute` in a process whose ledger writes fail as on a full disk: every Store.add_turn
and add_served_turn raises SQLite's "database or disk is full"
(`python -m tests.serve.ledger_full_runner serve ...`)."""

from __future__ import annotations

import sqlite3
import sys
from typing import Any

from chatroute.cli import main
from chatroute.store.db import Store


def _full(*_: Any, **__: Any) -> None:
    raise sqlite3.OperationalError("database or disk is full")


if __name__ == "__main__":
    Store.add_turn = _full  # type: ignore[method-assign]
    Store.add_served_turn = _full  # type: ignore[method-assign]
    sys.exit(main(sys.argv[1:]))
