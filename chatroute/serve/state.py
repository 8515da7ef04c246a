"""The live state of a running `chatroute serve`, for the TUI: a small JSON file in the data
folder (where it listens, since when, what it served), removed when the server stops. A file
left by a killed server is ignored: its process is gone."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatroute.fsutil import atomic_write
from chatroute.store.ids import utc_now

if TYPE_CHECKING:
    from chatroute.store.records import TurnRecord

STATE_FILE = "serve-state.json"
WRITE_EVERY_S = 1.0  # at most one rewrite a second, however many requests finish


class LiveState:
    def __init__(self, data_dir: Path, url: str) -> None:
        self.path = data_dir / STATE_FILE
        self.state: dict[str, Any] = {"pid": os.getpid(), "url": url, "started_at": utc_now(), "requests": 0,
                                      "interrupted": 0, "errors": 0, "cost_usd": 0.0, "last_request_at": None}
        self._written = 0.0

    def start(self) -> None:
        self._write()

    def served(self, record: TurnRecord) -> None:
        s = self.state
        s["requests"] += 1
        s["interrupted"] += record.status == "interrupted"
        s["errors"] += record.status == "error"
        s["cost_usd"] += record.cost_usd or 0.0
        s["last_request_at"] = record.created_at
        if time.monotonic() - self._written >= WRITE_EVERY_S:
            self._write()

    def stop(self) -> None:
        try:
            self.path.unlink()
        except OSError:
            pass

    def _write(self) -> None:
        self._written = time.monotonic()
        try:
            atomic_write(self.path, json.dumps(self.state), durable=False)
        except OSError:
            pass  # the state file is informative only


def read_live_state(data_dir: Path) -> dict[str, Any] | None:
    """The running server's state, or None when none runs."""
    try:
        state = json.loads((data_dir / STATE_FILE).read_text(encoding="utf-8"))
        pid = int(state["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except OSError:
        pass  # alive, owned by someone else
    return state if isinstance(state, dict) else None
