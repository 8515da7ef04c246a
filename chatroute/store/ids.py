"""Ids and timestamps used by every table.

Ids are 32 hex chars: 48 bits of Unix milliseconds then 80 bits that start random and
count up within a millisecond (like UUIDv7), so sorting by id ~ sorting by creation time
and ids from concurrent processes do not collide.
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import UTC, date, datetime, timedelta

_lock = threading.Lock()
_last_ms = 0
_last_rand = 0
_RAND_BITS = 80


def new_id() -> str:
    global _last_ms, _last_rand
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            # Same (or a backwards-stepped) clock tick: keep ordering by counting up.
            ms = _last_ms
            rand = (_last_rand + 1) & ((1 << _RAND_BITS) - 1)
        else:
            # Leave headroom so the in-millisecond counter never wraps in practice.
            rand = secrets.randbits(_RAND_BITS - 1)
        _last_ms, _last_rand = ms, rand
    return f"{ms:012x}{rand:020x}"


def utc_now() -> str:
    """Now as ISO-8601 UTC with milliseconds and a Z: one fixed width, so strings sort as times."""
    return format_ts(datetime.now(UTC))


def format_ts(dt: datetime) -> str:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)  # naive datetimes are taken as UTC
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def normalize_ts(value: str | datetime | None) -> str:
    """Any ISO timestamp (or None -> now) in the canonical sortable form."""
    if value is None:
        return utc_now()
    if isinstance(value, datetime):
        return format_ts(value)
    try:
        return format_ts(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return value  # keep what we were given rather than lose it


def ts_bound(value: str | date | datetime | None, *, utc_offset_minutes: int = 0) -> str | None:
    """A `since`/`until` bound as a canonical UTC string.

    A bare date means the start of that day in the caller's offset (UTC by default).
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return format_ts(value)
    if isinstance(value, date):
        start = datetime(value.year, value.month, value.day, tzinfo=UTC)
        return format_ts(start - timedelta(minutes=utc_offset_minutes))
    if len(value) == 10:  # "YYYY-MM-DD"
        return ts_bound(date.fromisoformat(value), utc_offset_minutes=utc_offset_minutes)
    return normalize_ts(value)
