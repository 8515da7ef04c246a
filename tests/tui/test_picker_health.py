"""The model picker (Ctrl+O) says which models routing skips now and why: one cooling down after
a 429, one whose provider refused its key. Picking it still works (a pin is the user's call), but
the user sees what will happen. Real engine and store, official SDKs, the fake provider."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import OptionList

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.screens.models import ModelPicker
from tests.fakeserver import FakeServer, Fault
from tests.tui.helpers import settle, type_and_send

SIZE = (160, 40)


def picker_rows(app: ChatrouteApp) -> dict[str, str]:
    options = app.screen.query_one(OptionList)
    rows = {}
    for i in range(options.option_count):
        option = options.get_option_at_index(i)
        prompt = option.prompt
        rows[str(option.id)] = prompt.plain if isinstance(prompt, Text) else str(prompt)
    return rows


async def test_the_picker_shows_a_cooling_and_a_disabled_model(real_engine: Engine, fake_server: FakeServer) -> None:
    fake_server.script("gpt-4o-mini", Fault(status=429, retry_after=300))
    fake_server.script("gpt-4o", Fault(status=429, retry_after=300))
    fake_server.script("claude-haiku-4-5", Fault(status=401))
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "Give me three tips for writing clear commit messages.")
        await settle(pilot, app)
        await pilot.press("ctrl+o")
        await settle(pilot, app)
        assert isinstance(app.screen, ModelPicker)
        rows = picker_rows(app)
    assert "cooling" in rows["openai/gpt-4o-mini"] and "min" in rows["openai/gpt-4o-mini"], rows
    assert "disabled" in rows["anthropic/claude-haiku-4-5"], rows
