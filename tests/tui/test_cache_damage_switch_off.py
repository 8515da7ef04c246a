"""A damaged answer cache does not keep a conversation from having its cache switched off, or
from being deleted. Both delete the answers the cache stored from the conversation, in the same
transaction; with a page of the cache's index overwritten that delete fails ('database disk image
is malformed'), and it took the switch, or the whole deletion, with it."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from textual.pilot import Pilot

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from tests.engine.test_cache_damage import _overwrite_the_exact_key_index
from tests.fakeserver import FakeServer
from tests.tui.helpers import answer_question, run_palette_command, settle, subtitle, type_and_send, until

SIZE = (120, 40)
PROMPT = "How do I center a div in CSS?"


def _db(home: Path) -> Path:
    return home / "chatroute.db" if (home / "chatroute.db").exists() else next(home.rglob("chatroute.db"))


async def _a_cached_answer_then_damage(real_engine: Engine, home: Path) -> str:
    app = ChatrouteApp(real_engine, close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, PROMPT)
        cid = app.screen.conversation_id  # type: ignore[attr-defined]
    with sqlite3.connect(_db(home)) as conn:
        assert conn.execute("SELECT count(*) FROM cache_entries").fetchone()[0] == 1
    _overwrite_the_exact_key_index(_db(home))
    assert cid is not None
    return cid


@asynccontextmanager
async def _reopened(cid: str) -> AsyncIterator[tuple[ChatrouteApp, Pilot]]:
    """A new TUI on the damaged file, showing the conversation."""
    app = ChatrouteApp(Engine.open(), close_engine=True)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        await app.chat_screen().open_conversation(cid)
        await settle(pilot, app)
        yield app, pilot


async def test_a_damaged_cache_does_not_stop_the_switch_off(
        real_engine: Engine, fake_server: FakeServer, chatroute_home: Path) -> None:
    cid = await _a_cached_answer_then_damage(real_engine, chatroute_home)
    async with _reopened(cid) as (app, pilot):
        engine = app.engine
        await run_palette_command(pilot, "toggle answer cache")
        await until(pilot, lambda: "cache off" in subtitle(app), "the conversation's cache switched off")
        said = [(n.severity, str(n.message)) for n in app._notifications if "Answer cache off" in str(n.message)]
        assert said == [("warning", "Answer cache off for this conversation; its cached answers could not be "
                                    "deleted: the answer cache is damaged. `chatroute cache clear` rebuilds it")]
        assert engine.store.get_conversation(cid).cache_enabled is False  # type: ignore[union-attr]


async def test_a_damaged_cache_does_not_stop_a_conversations_deletion(
        real_engine: Engine, fake_server: FakeServer, chatroute_home: Path) -> None:
    cid = await _a_cached_answer_then_damage(real_engine, chatroute_home)
    async with _reopened(cid) as (app, pilot):
        engine = app.engine
        app.screen.query_one("#conversations").focus()
        await pilot.press("delete")
        await answer_question(pilot, "y")
        await until(pilot, lambda: engine.store.get_conversation(cid) is None, "the conversation deleted")
        assert not [n for n in app._notifications if n.severity == "error"]
