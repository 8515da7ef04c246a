"""The compare picker: the pool's cheapest and strongest models picked to start with, and a
picked box that reads differently from an empty one (not by colour alone)."""

from __future__ import annotations

import re

from chatroute.tui.app import ChatrouteApp
from chatroute.tui.screens.compare import CompareScreen, ModelChecklist
from tests.tui.fake_engine import FakeEngine
from tests.tui.test_costs_layout import screen_text


def marks(app: ChatrouteApp) -> dict[str, str]:
    """model -> what its box shows on screen."""
    return {m.group(2): m.group(1) for m in re.finditer(r"▐(.)▌ (\S+)", screen_text(app))}


async def test_picker_preselects_cheapest_and_strongest_with_distinct_marks(engine: FakeEngine) -> None:
    app = ChatrouteApp(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f4")
        await pilot.pause()
        assert isinstance(app.screen, CompareScreen)
        checklist = app.screen.query_one(ModelChecklist)
        # the fake pool: qwen2.5 is free (cheapest), gpt-4o has the highest ability
        assert sorted(checklist.selected) == ["ollama/qwen2.5:7b", "openai/gpt-4o"]
        assert marks(app) == {"openai/gpt-4o-mini": " ", "openai/gpt-4o": "✓",
                              "anthropic/claude-3-5-haiku-20241022": " ", "ollama/qwen2.5:7b": "✓"}
        # space toggles, and the mark follows
        checklist.focus()
        checklist.highlighted = 0
        await pilot.press("space")
        await pilot.pause()
        assert marks(app)["openai/gpt-4o-mini"] == "✓"


async def test_a_digit_picks_right_after_ctrl_s(engine: FakeEngine) -> None:
    """Started with ctrl+s from the list, focus went to the prompt field, hidden with the rest
    of the set-up, which took 1–4 as text: no answer could be picked by its key."""
    from chatroute.tui.screens.chat import ChatScreen
    from tests.tui.helpers import assistants, settle

    app = ChatrouteApp(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        app.screen.query_one("#composer").insert("When to visit Lisbon?")  # type: ignore[attr-defined]
        await pilot.press("f4")
        await pilot.pause()
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert isinstance(app.screen, CompareScreen)
        second = app.screen.columns[1].model
        await pilot.press("2")
        await settle(pilot, app)
        assert isinstance(app.screen, ChatScreen)
        [(_, picked)] = engine.picks
        assert assistants(app)[-1].message_id == picked
        assert assistants(app)[-1].text == f"Answer from {second}."
