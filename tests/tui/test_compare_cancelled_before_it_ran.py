"""A compare whose streams are stopped in the instant between the engine writing their answers
(each `streaming`, empty) and their workers' first step: each answer is settled all the same,
not left `streaming` for as long as the TUI runs. Real engine and store, official SDKs, the fake
provider."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path
from typing import Any

import pytest

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.data import Backend
from chatroute.tui.screens.chat import ChatScreen
from chatroute.tui.screens.compare import CompareScreen
from chatroute.tui.widgets.composer import Composer
from tests.fakeserver import FakeServer, Reply
from tests.tui.helpers import open_compare_ticking, settle, until

SIZE = (120, 40)
MODELS = ["openai/gpt-4o-mini", "openai/gpt-4o"]


# The column's code never ran: Textual cancelled its worker before the first step, as asked.
@pytest.mark.filterwarnings("ignore:coroutine 'CompareColumn.consume' was never awaited:RuntimeWarning")
async def test_streams_stopped_before_they_ran_are_not_left_streaming(
        real_engine: Engine, fake_server: FakeServer, chatroute_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for model in MODELS:
        fake_server.script(model.split("/", 1)[1], Reply(text="An answer. " * 50, tokens_per_s=200))
    compare = Backend.compare
    app = ChatrouteApp(real_engine)

    async def compare_then_stop(self: Backend, *args: Any) -> Any:
        streams = await compare(self, *args)
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        # Esc's first instant (it cancels the compare's workers at once), landing after the
        # screen started a worker for each stream and before any of them ran a step.
        asyncio.get_running_loop().call_soon(screen.workers.cancel_group, screen, "compare")
        return streams

    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        monkeypatch.setattr(Backend, "compare", compare_then_stop)
        app.screen.query_one(Composer).insert("Tell me about lighthouses.")
        await open_compare_ticking(pilot, app, MODELS)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: real_engine.store.list_conversations() != [], "the compare to be stored")
        await settle(pilot, app)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ChatScreen), "Esc to close the compare")
        await settle(pilot, app)
        conv = real_engine.store.list_conversations()[0]
        question = real_engine.store.history(conv.id)[0]
        answers = real_engine.store.children(question.id)
        assert len(answers) == 2
        assert [m.status for m in answers if m.status == "streaming"] == [], [(m.model, m.status) for m in answers]
        assert fake_server.requests == []  # nothing was sent, so nothing is billed
    gc.collect()  # the never-awaited column coroutines, warned of here, under the filter above
