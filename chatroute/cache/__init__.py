"""Answer cache: exact + verified semantic tiers in the app's SQLite DB (see answer_cache.py)."""

from __future__ import annotations

from chatroute.cache.answer_cache import (
    DEFAULT_THRESHOLD,
    AnswerCache,
    CacheHit,
    CacheSettings,
    CacheStats,
)
from chatroute.cache.keys import exact_key, scope_key
from chatroute.cache.text import is_time_sensitive

__all__ = [
    "DEFAULT_THRESHOLD",
    "AnswerCache",
    "CacheHit",
    "CacheSettings",
    "CacheStats",
    "exact_key",
    "is_time_sensitive",
    "scope_key",
]
