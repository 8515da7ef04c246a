"""One turn, end to end: the only place that sequences cache, router, providers and store.

`Engine` (core.py) is the front door every client uses; the jobs it sequences live beside it:

    core.py        set-up, and run_turn: one turn in order
    history.py     the history window a turn sends
    route.py       the pin, override and default; the router's decision; the size check
    budget.py      the spending caps as a turn meets them
    cache_path.py  a turn answered from, and stored into, the answer cache
    answer.py      streaming an answer, with fail-over before the first token
    records.py     the turn record, the final write, and what is learned from a turn
    compare.py     one prompt to several models
    common.py      limits, the storage error and text helpers they share
"""

from chatroute.engine.common import (
    CACHE_PARAMS,
    NO_MODELS_HELP,
    PARTIAL_SAVE_INTERVAL_S,
    STOP_SAVE_WAIT_S,
    STORAGE_ERRORS,
    TITLE_CHARS,
    StorageError,
)
from chatroute.engine.core import PREFS_RESET_FILE, Engine, preferences_reset_at
from chatroute.engine.history import HistoryWindow
from chatroute.engine.records import Attempt as _Attempt
from chatroute.engine.records import error_line as _error_line
from chatroute.format import short_model as _short

__all__ = [
    "CACHE_PARAMS",
    "NO_MODELS_HELP",
    "PARTIAL_SAVE_INTERVAL_S",
    "PREFS_RESET_FILE",
    "STOP_SAVE_WAIT_S",
    "STORAGE_ERRORS",
    "TITLE_CHARS",
    "Engine",
    "HistoryWindow",
    "StorageError",
    "_Attempt",
    "_error_line",
    "_short",
    "preferences_reset_at",
]
