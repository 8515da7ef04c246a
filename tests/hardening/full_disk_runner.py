"""`chatroute ask` in a process whose database writes fail as on a full disk once the answer
streams: `python -m tests.hardening.full_disk_runner MODE ask ...`.

MODE "small-writes-fit": the partial and final saves of the answer fail, smaller writes (the
status, the turn record) still succeed. MODE "nothing-fits": every write after the turn started fails.
MODE "no-reservation": the turn's budget reservation fails, then the close of its message.
"""

from __future__ import annotations

import sqlite3
import sys
from typing import Any

from chatroute.cli import main
from chatroute.store.db import Store
from chatroute.store.reservations import ReservationQueries


def _full(*_: Any, **__: Any) -> None:
    raise sqlite3.OperationalError("database or disk is full")


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "no-reservation":
        ReservationQueries.reserve = _full  # type: ignore[method-assign]
    else:
        Store.update_message_text = _full  # type: ignore[method-assign]
    Store.finish_turn = _full  # type: ignore[method-assign]
    if mode == "nothing-fits":
        Store.close_unsaved = _full  # type: ignore[method-assign]
    sys.exit(main(sys.argv[2:]))
