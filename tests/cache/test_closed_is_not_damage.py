"""A cache used after it was closed (a lookup or warm-up racing the app's shutdown, or serve's
stop during a long warm-up) is not a damaged cache. Before, the closed connection's error was
read as damage: the user would have been told to run `chatroute cache clear`, which deletes every
cached answer, for a file with nothing wrong in it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from chatroute.cache import AnswerCache, CacheSettings
from chatroute.cache.damage import is_damage
from tests.cache.fakes import fake_embed

Q = "How do I reverse a list in Python?"


def test_a_lookup_warm_up_or_store_after_close_is_not_reported_as_damage(tmp_path: Path) -> None:
    cache = AnswerCache(tmp_path / "chatroute.db", fake_embed, CacheSettings())
    told: list[str] = []
    cache.on_damaged = told.append
    cache.store(None, [], Q, {}, None, "use reversed()", "openai/gpt-4o", "turn-1", "stop")
    cache.close()
    assert cache.lookup(None, [], Q, {}) is None
    cache.warm()
    assert cache.store(None, [], "Another question?", {}, None, "x", "openai/gpt-4o", "turn-2", "stop") is None
    assert told == [] and cache.damaged is None

    reopened = AnswerCache(tmp_path / "chatroute.db", fake_embed, CacheSettings())
    try:
        hit = reopened.lookup(None, [], Q, {})
        assert hit is not None and hit.text == "use reversed()"  # the file was never damaged
    finally:
        reopened.close()


def test_damage_is_still_damage() -> None:
    assert is_damage(sqlite3.DatabaseError("database disk image is malformed"))
    assert is_damage(sqlite3.OperationalError("no such column: penalties"))
    assert not is_damage(sqlite3.ProgrammingError("Cannot operate on a closed database."))
    assert not is_damage(sqlite3.OperationalError("database is locked"))
