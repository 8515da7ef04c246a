"""Waiting for another process's write lock: bounded, cancellable, and said out loud.

SQLite's own busy handler sleeps inside one C call that neither Ctrl+C nor
`sqlite3.Connection.interrupt()` can cut short, so each attempt gets a short busy timeout
and the waiting happens here, in Python, where a cancellation (Esc, Ctrl+C, a closing app)
ends it within one poll and a client can be told what it is waiting for.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# Past this much waiting, the client's on_wait callback is told (once per operation): long
# enough that a routine wait for another process's short write stays silent, short enough that
# a wait is never mistaken for a hang.
NOTICE_AFTER_S = 0.5
MAX_POLL_S = 0.25


class LockWaits:
    """The waiting policy of one Store: shared by every thread that uses it."""

    def __init__(self, patience_s: float) -> None:
        self.patience_s = patience_s
        # Called with a line saying what is awaited, then with None once the wait ends.
        self.on_wait: Callable[[str | None], None] | None = None
        self._cond = threading.Condition()
        self._generation = 0
        self._local = threading.local()

    def cancel(self) -> None:
        """End every wait in progress (in any thread) at its next poll: they raise `cancelled`."""
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    @contextmanager
    def at_most(self, seconds: float) -> Iterator[None]:
        """Waits in this thread give up after `seconds` (a best-effort write while stopping)."""
        before = getattr(self._local, "limit", None)
        self._local.limit = seconds
        try:
            yield
        finally:
            self._local.limit = before

    def limit(self) -> float:
        limit = getattr(self._local, "limit", None)
        return self.patience_s if limit is None else min(limit, self.patience_s)

    def run(self, attempt: Callable[[], object], is_busy: Callable[[BaseException], bool], *,
            notice: Callable[[], str], busy_error: Callable[[float, BaseException], BaseException],
            cancelled: Callable[[], BaseException]) -> object:
        """`attempt()` until it stops failing with a busy error, the patience runs out
        (`busy_error`) or `cancel()` is called (`cancelled`). `notice()` makes the line for
        on_wait (it may look up who holds the lock, so only once the wait is long)."""
        with self._cond:
            generation = self._generation
        started = time.monotonic()
        limit = self.limit()
        delay = 0.01
        told = False
        try:
            while True:
                try:
                    return attempt()
                except Exception as exc:
                    if not is_busy(exc):
                        raise
                    waited = time.monotonic() - started
                    if waited >= limit:
                        raise busy_error(limit, exc) from exc
                    if not told and waited >= NOTICE_AFTER_S and self.on_wait is not None:
                        told = True
                        self.on_wait(notice())
                    with self._cond:
                        if self._cond.wait_for(lambda: self._generation != generation,
                                               timeout=min(delay * (0.5 + random.random()), limit - waited)):
                            raise cancelled() from None
                    delay = min(delay * 2, MAX_POLL_S)
        finally:
            if told and self.on_wait is not None:
                self.on_wait(None)
