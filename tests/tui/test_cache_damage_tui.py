"""A damaged answer cache in the TUI, through the real Engine, Store and cache against the fake
provider: every answer still streams from a model, and the user is told once what is wrong and
how to rebuild the cache. Before, every lookup missed silently, turn after turn."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from tests.engine.test_cache_damage import garble_the_schema_entry
from tests.fakeserver import FakeServer
from tests.tui.helpers import assistants, settle, type_and_send

SIZE = (120, 40)
PROMPT = "How do I center a div in CSS?"


def _drop_a_column(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("ALTER TABLE cache_entries DROP COLUMN penalties")


# An entry of the cache's in the schema garbled made SQLite refuse the whole file: the TUI did not
# start ('chatroute cannot open its database … restore a backup or move it away').
@pytest.mark.parametrize(("damage", "reason"), [
    (_drop_a_column, "cache_entries has no column penalties"),
    (garble_the_schema_entry, "malformed database schema (idx_cache_entries_lru)"),
], ids=["column missing", "index schema entry garbled"])
async def test_a_damaged_cache_is_said_once_and_answers_still_stream(
        real_engine: Engine, fake_server: FakeServer, chatroute_home: Path,
        damage: Callable[[Path], None], reason: str) -> None:
    app = ChatrouteApp(real_engine, close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, PROMPT)
    db = chatroute_home / "chatroute.db" if (chatroute_home / "chatroute.db").exists() \
        else next(chatroute_home.rglob("chatroute.db"))
    damage(db)

    app = ChatrouteApp(Engine.open(), close_engine=True)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        for i in range(2):
            await pilot.press("ctrl+n")
            await settle(pilot, app)
            before = len(fake_server.requests)
            await type_and_send(pilot, PROMPT)
            answer = assistants(app)[-1]
            assert len(fake_server.requests) == before + 1 and answer.text.endswith(PROMPT), i
        said = [n for n in app._notifications if n.title == "Answer cache"]
        assert [n.severity for n in said] == ["warning"]  # once, however many turns
        assert str(said[0].message) == (
            f"The answer cache is damaged ({reason}): no answer is served from it "
            "or kept in it. `chatroute cache clear` rebuilds it; your conversations and costs are kept.")
