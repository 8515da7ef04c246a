"""F4 and Ctrl+O with nothing to compare or pick: they say why, as Enter does, rather than open a
picker with an empty list (F4's then answered Enter with `Pick 2–4 models (you picked 0)`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.screens.chat import ChatScreen
from tests.engine.helpers import OPENAI_KEY, write_config
from tests.fakeserver import FakeServer
from tests.tui.helpers import recording_notices, settle


@pytest.mark.parametrize("key", ["f4", "ctrl+o"])
async def test_with_no_models_compare_and_the_model_picker_say_the_next_step(chatroute_home: Path, key: str) -> None:
    app = ChatrouteApp(Engine.open())
    notes = recording_notices(app)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        said = len(notes)
        await pilot.press(key)
        await settle(pilot, app)
        assert isinstance(app.screen, ChatScreen), type(app.screen).__name__
        [note] = notes[said:]
        assert note.startswith("No models to use: set OPENAI_API_KEY or ANTHROPIC_API_KEY"), note
        assert str(chatroute_home / "config.toml") in note


async def test_compare_with_one_model_says_it_needs_two(chatroute_home: Path, fake_server: FakeServer,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    write_config(chatroute_home, fake_server, pool=["openai/gpt-4o-mini"])
    app = ChatrouteApp(Engine.open())
    notes = recording_notices(app)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        said = len(notes)
        await pilot.press("f4")
        await settle(pilot, app)
        assert isinstance(app.screen, ChatScreen), type(app.screen).__name__
        [note] = notes[said:]
        assert "Compare needs 2 models or more; there is 1 to use (openai/gpt-4o-mini)" in note
        assert "router.pool" in note and str(chatroute_home / "config.toml") in note
