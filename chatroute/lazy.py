"""A process-wide value built on first use: the shipped models (router weights, embedders, the
cache's verifier) load in tens to hundreds of milliseconds, so nothing pays for one it does not
use, and nothing pays twice."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Lazy(Generic[T]):
    """`get()` builds the value once, even when threads ask at the same moment (the TUI's workers
    and the server's requests do). A build that raises is not kept: the next `get()` tries again,
    so a file fixed on disk is picked up without a restart."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._value: T | None = None

    def get(self) -> T:
        value = self._value
        if value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._build()
                value = self._value
        return value
