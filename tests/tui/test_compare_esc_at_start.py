"""Esc pressed the moment a compare starts, while the engine is still importing the providers'
SDKs (before any stream exists), stops the compare: no request is sent, nothing is billed, and
nothing streams out of sight. Real engine and store, official SDKs, the fake provider."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from pathlib import Path

import pytest
from textual.widgets import Input, SelectionList

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.screens.chat import ChatScreen
from chatroute.tui.widgets.composer import Composer
from tests.fakeserver import FakeServer, Reply
from tests.tui.helpers import open_compare_ticking, settle, until

SIZE = (120, 40)
MODELS = ["openai/gpt-4o-mini", "openai/gpt-4o"]
IMPORT_S = 3.0  # the longest a first SDK import is let take here


def _slow_first_import(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Event]:
    """The providers' first import made slow, as on a cold start: (importing, imported). An
    import holds the thread that makes it, until the test sets `imported` (or IMPORT_S)."""
    prepare = engine.prepare_providers
    importing, imported = threading.Event(), threading.Event()

    def slow_prepare(names: Iterable[str]) -> None:
        importing.set()
        imported.wait(IMPORT_S)
        prepare(names)

    monkeypatch.setattr(engine, "prepare_providers", slow_prepare)
    return importing, imported


async def test_esc_during_the_first_sdk_import_stops_the_compare(
        real_engine: Engine, fake_server: FakeServer, chatroute_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for model in MODELS:
        fake_server.script(model.split("/", 1)[1], Reply(text="An answer. " * 50, tokens_per_s=200))
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)  # start-up's own warming done
        importing, imported = _slow_first_import(real_engine, monkeypatch)
        app.screen.query_one(Composer).insert("Tell me about lighthouses.")
        await open_compare_ticking(pilot, app, MODELS)
        await pilot.press("ctrl+s")
        await until(pilot, importing.is_set, "the compare to start importing")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ChatScreen), "Esc to close the compare")
        imported.set()
        await settle(pilot, app)
        await asyncio.sleep(0.5)  # a stream started after the import would be sending by now
        await settle(pilot, app)
        assert isinstance(app.screen, ChatScreen)
        assert fake_server.requests == []  # nothing sent, so nothing billed
        assert real_engine.store.list_conversations() == []  # nor stored
        assert app.screen.query_one(Composer).text == "Tell me about lighthouses."  # still there to send


async def test_ctrl_c_during_the_first_sdk_import_stops_the_compare_and_keeps_the_picker(
        real_engine: Engine, fake_server: FakeServer, chatroute_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl+C stops a compare as Esc does, and keeps the screen: pressed while the compare was
    still starting it only tried to copy (nothing selected: nothing), and the answers went out."""
    for model in MODELS:
        fake_server.script(model.split("/", 1)[1], Reply(text=f"{model} on lighthouses."))
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        importing, imported = _slow_first_import(real_engine, monkeypatch)
        app.screen.query_one(Composer).insert("Tell me about lighthouses.")
        compare = await open_compare_ticking(pilot, app, MODELS)
        await pilot.press("ctrl+s")
        await until(pilot, importing.is_set, "the compare to start importing")
        await pilot.press("ctrl+c")
        await until(pilot, lambda: not compare.has_class("-running"), "Ctrl+C to stop the compare")
        imported.set()
        await settle(pilot, app)
        await asyncio.sleep(0.5)  # a stream started after the import would be sending by now
        await settle(pilot, app)
        assert fake_server.requests == []  # nothing sent, so nothing billed
        assert real_engine.store.list_conversations() == []  # nor stored
        # The picker as it was, to start again.
        assert app.screen is compare and compare.columns == []
        assert sorted(compare.query_one(SelectionList).selected) == sorted(MODELS)
        assert compare.query_one(Input).value == "Tell me about lighthouses."
        assert any("Stopped before anything was sent" in str(n.message) for n in app._notifications)
        await pilot.press("ctrl+s")  # `imported` is set: the import no longer waits
        await until(pilot, lambda: [c.status for c in compare.columns] == ["ok", "ok"], "the answers")
        assert [c.text for c in compare.columns] == [f"{m} on lighthouses." for m in MODELS]
        await pilot.press("1")
        await until(pilot, lambda: isinstance(app.screen, ChatScreen), "the pick to close the compare")
        await settle(pilot, app)
        assert app.screen.query_one(Composer).text == ""  # asked, so no longer a draft
