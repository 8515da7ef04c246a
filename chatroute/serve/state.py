"""The live state of a running `chatroute serve`, for the TUI: a small JSON file in the data
folder (where it listens, since when, what it served, how many requests are running), removed
when the server stops. A file left by a killed server is ignored: its process is gone."""

from __future__ import annotations

import asyncio
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
                                      "active": 0, "interrupted": 0, "errors": 0, "cost_usd": 0.0,
                                      "last_request_at": None}
        self._written = 0.0
        self._due: asyncio.TimerHandle | None = None
        self._stopped = False

    def start(self) -> None:
        self._write()

    def began(self) -> None:
        self.state["active"] += 1
        self._changed()

    def ended(self) -> None:
        self.state["active"] = max(0, self.state["active"] - 1)
        self._changed()

    def served(self, record: TurnRecord, final: bool) -> None:
        """A record written for a request: its end (`final`: answered, failed, or stopped part-way,
        a client's hang-up included), or an attempt billed before a reroute, which adds its cost
        to the request's without counting another request."""
        s = self.state
        s["cost_usd"] += record.cost_usd or 0.0
        if final:
            s["requests"] += 1
            s["interrupted"] += record.status == "interrupted"
            s["errors"] += record.status == "error"
            s["last_request_at"] = record.created_at
        self._changed()

    def stop(self) -> None:
        self._stopped = True
        if self._due is not None:
            self._due.cancel()
            self._due = None
        try:
            # Only our own file: a server started since in the same folder keeps its state.
            if json.loads(self.path.read_text(encoding="utf-8")).get("pid") == self.state["pid"]:
                self.path.unlink()
        except (OSError, ValueError, AttributeError):
            pass

    def _changed(self) -> None:
        if self._stopped or self._due is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._write()  # no server loop (tests, tools): nothing to wait for
            return
        # Written by the loop when it is next free, not inline: a request's start must not pay
        # for a file write before its first token. At most once a second, and held back, not
        # dropped: the last requests of a burst stayed out of the file until a later one wrote it.
        wait = max(0.0, self._written + WRITE_EVERY_S - time.monotonic())
        self._due = loop.call_later(wait, self._write_due)

    def _write_due(self) -> None:
        self._due = None
        self._write()

    def _write(self) -> None:
        if self._stopped:
            return  # after stop() a write would bring back the file of a server that is gone
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
