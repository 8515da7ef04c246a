"""The chat screen's own writes to the store (rename, delete, pin, the cache switch, showing
another sibling), run off the event loop and bounded.

The store waits for another process's write lock for minutes (a turn being saved must not be
lost). A key press must not: run on the event loop, that wait froze the whole UI and its
StoreBusyError then ended the app. Here a write runs in a thread, waits at most
WRITE_PATIENCE_S, and a failure becomes a notice; the caller updates the screen only once the
write is stored, so what is shown is what is saved."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from textual.screen import Screen

from chatroute.store.connection import StoreBusyError, StoreWaitCancelled
from chatroute.store.waits import NOTICE_AFTER_S
from chatroute.tui.data import Backend, error_line

T = TypeVar("T")

# Another process's own writes take milliseconds, so this covers routine contention; a lock held
# longer belongs to a long job or a stopped process, which the user is better told about than
# made to wait on. Below NOTICE_AFTER_S, so the turn's "Esc stops waiting; your prompt is kept"
# notice never speaks for a rename.
WRITE_PATIENCE_S = min(0.4, NOTICE_AFTER_S * 0.8)
BUSY = "Could not save: the database is busy (another chatroute?) — try again"


@dataclass(frozen=True)
class Saved(Generic[T]):
    """A write that went through, with what it returned (None is a value here, not a failure)."""

    value: T


def _is_busy(exc: BaseException) -> bool:
    return isinstance(exc, (StoreBusyError, StoreWaitCancelled)) or (
        isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc).lower())


async def write_off_loop(screen: Screen[Any], backend: Backend, write: Callable[[], T],
                         what: str) -> Saved[T] | None:
    """Run `write` in a thread with bounded patience. None when it was not saved, after telling
    the user (`what` names the change: "rename to “Notes”")."""
    waits = backend.lock_waits()

    def bounded() -> T:
        with waits.at_most(WRITE_PATIENCE_S):  # thread-local: set in the thread that waits
            return write()

    try:
        return Saved(await asyncio.to_thread(bounded))
    except Exception as exc:  # never a traceback for a key press: say what was not saved
        detail = BUSY if _is_busy(exc) else f"Could not save: {error_line(exc)}"
        screen.notify(f"{detail}. Not done: {what}.", title="Not saved", severity="error", timeout=8,
                      markup=False)
        return None
