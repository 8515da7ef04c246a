"""SQLite history: conversations, message trees with sibling replies, turn records, search and
spend. See db.Store."""

from __future__ import annotations

from chatroute.store.connection import StoreBusyError
from chatroute.store.db import Store, StoreError
from chatroute.store.ids import new_id, utc_now
from chatroute.store.records import (
    Conversation,
    Preference,
    SearchHit,
    SpendRow,
    StoredMessage,
    TurnRecord,
    UsageRow,
)

__all__ = [
    "Conversation",
    "Preference",
    "SearchHit",
    "SpendRow",
    "Store",
    "StoreBusyError",
    "StoreError",
    "StoredMessage",
    "TurnRecord",
    "UsageRow",
    "new_id",
    "utc_now",
]
