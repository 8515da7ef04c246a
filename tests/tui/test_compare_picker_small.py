"""The compare picker on a small terminal, operated with the keys alone: every model of a real
pool reachable and its whole name on screen with its tick, the prompt field on screen when Tab
reaches it, and the start key there. At 40x12 the list of eight models ran under the footer (the
last ones, their box's bottom edge and the whole prompt field below the screen, so Tab led to a
field nobody could see) and names were cut ('anthropic/claude-sonnet-4-5-2…')."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from textual.geometry import Region
from textual.widgets import Footer, Input

from chatroute.tui.app import ChatrouteApp
from chatroute.tui.screens.compare import CompareScreen, ModelChecklist
from tests.tui.fake_engine import MODELS, FakeEngine
from tests.tui.helpers import settle
from tests.tui.test_costs_layout import screen_text

# A pool as OpenAI, Anthropic, OpenRouter, Groq and a local server give it: long names, with
# slashes of their own, and dates at the end that tell two models apart.
IDS = ["openai/gpt-4o-mini", "openai/gpt-4o", "openai/gpt-4.1-mini", "anthropic/claude-3-5-haiku-20241022",
       "anthropic/claude-sonnet-4-5-20250929", "openrouter/meta-llama/llama-3.3-70b-instruct",
       "groq/llama-3.3-70b-versatile", "ollama/qwen2.5:7b"]
POOL = [replace(MODELS[0], id=model, provider=model.split("/")[0], name=model.split("/", 1)[1],
                input_cost_per_mtok=0.1 * (i + 1), ability=0.9 - 0.01 * i) for i, model in enumerate(IDS)]


def on_screen(app: ChatrouteApp, region: Region) -> bool:
    """Wholly on the screen, clear of the footer."""
    footer = app.screen.query_one(Footer).region
    return app.screen.region.contains_region(region) and region.bottom <= footer.y


def listed(app: ChatrouteApp, checklist: ModelChecklist) -> dict[str, str]:
    """model -> its tick, for every model drawn whole in the list (a name wrapped onto the next
    lines, under the name, is joined up)."""
    region = checklist.scrollable_content_region  # not its scrollbar
    rows = screen_text(app).split("\n")[region.y:region.bottom]
    names: dict[str, str] = {}
    current: list[str] = []
    for row in (r[region.x:region.right] for r in rows):
        if (start := re.match(r"▐(.)▌ (.*)", row)) is not None:
            current = [start.group(1), start.group(2).strip()]
            names[current[1]] = current[0]
        elif current and row.startswith("    ") and row.strip():
            del names[current[1]]
            current[1] += row.strip()
            names[current[1]] = current[0]
    return names


@pytest.mark.parametrize("size", [(40, 12), (80, 24)])
async def test_the_picker_is_usable_with_a_real_pool(engine: FakeEngine, size: tuple[int, int],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "models", lambda: list(POOL))
    app = ChatrouteApp(engine)
    async with app.run_test(size=size) as pilot:
        await pilot.press("f4")
        await settle(pilot, app)
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        checklist = screen.query_one(ModelChecklist)
        prompt = screen.query_one("#compare-prompt", Input)
        assert checklist.has_focus and on_screen(app, checklist.region), checklist.region
        assert checklist.region.bottom <= prompt.region.y, (checklist.region, prompt.region)  # not under it
        # Down the list: each model in turn is on screen, whole, with its tick as it stands.
        ticks = {model: "✓" if model in checklist.selected else " " for model in IDS}
        for i, model in enumerate(IDS):
            if i:
                await pilot.press("down")
                await pilot.pause()
            assert checklist.highlighted == i
            assert listed(app, checklist).get(model) == ticks[model], (model, listed(app, checklist))
        # Space ticks the last one, and the tick shows.
        await pilot.press("space")
        await pilot.pause()
        assert listed(app, checklist)[IDS[-1]] == "✓"
        picked = list(checklist.selected)
        assert len(picked) == 3
        # Tab reaches the prompt field, on screen, and what is typed there shows.
        await pilot.press("tab")
        await pilot.pause()
        assert prompt.has_focus and on_screen(app, prompt.region), prompt.region
        await pilot.press(*"Lisbon in May?")
        await pilot.pause()
        assert "Lisbon in May?" in screen_text(app)
        assert "^s Start" in screen_text(app)
        # Enter starts the comparison of the ticked models.
        await pilot.press("enter")
        await settle(pilot, app)
        assert engine.compare_calls[-1]["models"] == picked
        assert engine.compare_calls[-1]["prompt"] == "Lisbon in May?"
        assert [c.status for c in screen.columns] == ["ok"] * 3


@pytest.mark.parametrize("width", [8, 10, 11, 12])
async def test_a_terminal_squeezed_to_a_sliver_does_not_end_the_app_in_the_picker(
        engine: FakeEngine, width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tmux pane dragged nearly shut: at 10 columns the list had no width left beside its
    boxes, and measuring its names to that width raised ValueError out of the layout, which
    ended chatroute (the prompt written in the picker with it)."""
    monkeypatch.setattr(engine, "models", lambda: list(POOL))
    app = ChatrouteApp(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f4")
        await settle(pilot, app)
        await pilot.press("tab", *"Lisbon?")
        await pilot.resize_terminal(width, 20)
        await settle(pilot, app)
        await pilot.resize_terminal(80, 24)
        await settle(pilot, app)
        assert app.is_running and isinstance(app.screen, CompareScreen)
        assert app.screen.query_one(Input).value == "Lisbon?"
