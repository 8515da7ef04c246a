"""The model picker (Ctrl+O) on a small terminal, operated with the keys alone: every model of a
real pool reachable, the highlighted one whole on screen with its prices and its health note, the
keys on one line, and Enter picking it. At 40x12 the list showed about one and a half models, its
bottom edge under the keys, ↓ moved the highlight to models nobody could see, and the keys took
three lines."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from rich.text import Text
from textual.geometry import Region
from textual.widgets import OptionList, Static

from chatroute.tui.app import ChatrouteApp
from chatroute.tui.screens.models import ModelPicker
from tests.tui.fake_engine import MODELS, FakeEngine
from tests.tui.helpers import settle, type_and_send
from tests.tui.test_costs_layout import screen_text

# A pool as OpenAI, Anthropic, OpenRouter, Groq and a local server give it: long names with
# slashes of their own, a date or a quantisation at the end that tells two apart.
IDS = ["openai/gpt-4o-mini", "openai/gpt-4o", "anthropic/claude-3-5-haiku-20241022",
       "openrouter/anthropic/claude-3-5-haiku-20241022", "openrouter/meta-llama/llama-3.3-70b-instruct",
       "groq/llama-3.3-70b-versatile", "ollama/qwen2.5:7b-instruct-q4_K_M", "ollama/llama3.2:3b"]
POOL = [replace(MODELS[0], id=model, provider=model.split("/")[0], name=model.split("/", 1)[1],
                input_cost_per_mtok=0.1 * (i + 1), ability=0.9 - 0.01 * i) for i, model in enumerate(IDS)]
NOTES = {"openrouter/anthropic/claude-3-5-haiku-20241022": "disabled (provider: authentication failed)",
         "groq/llama-3.3-70b-versatile": "cooling 5 min"}


def shown_option(app: ChatrouteApp, options: OptionList) -> tuple[int | None, str]:
    """The option drawn in the list's visible rows, if one only, and its text as drawn there
    (the rows joined with no whitespace, so however it wrapped it reads as the option's text)."""
    region = options.scrollable_content_region  # on screen; not its scrollbar
    rows = screen_text(app).split("\n")
    drawn: dict[int, str] = {}
    for y in range(region.y, region.bottom):
        index = app.screen.get_style_at(region.x, y).meta.get("option")
        if index is not None:
            drawn[index] = drawn.get(index, "") + rows[y][region.x:region.right]
    highlighted = options.highlighted
    return highlighted, re.sub(r"\s", "", drawn.get(highlighted, "")) if highlighted is not None else ""


@pytest.mark.parametrize("size", [(40, 12), (80, 24)])
async def test_every_model_is_reachable_and_read_whole(engine: FakeEngine, size: tuple[int, int],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "models", lambda: list(POOL))
    monkeypatch.setattr(engine, "unavailable", lambda: dict(NOTES))
    app = ChatrouteApp(engine)
    async with app.run_test(size=size) as pilot:
        await settle(pilot, app)
        await pilot.press("ctrl+o")
        await settle(pilot, app)
        screen = app.screen
        assert isinstance(screen, ModelPicker)
        options = screen.query_one(OptionList)
        [hint] = screen.query(".hint").results(Static)
        dialog = options.parent
        assert dialog is not None
        # The list and the keys lie inside the dialog, on the screen, the keys not over the list.
        visible = dialog.region.intersection(screen.region)
        assert visible.contains_region(options.region), (options.region, dialog.region)
        assert visible.contains_region(hint.region) and hint.region.height > 0, hint.region
        assert options.region.bottom <= hint.region.y, (options.region, hint.region)
        keys = screen_text(app).split("\n")[hint.region.y:hint.region.bottom]
        keys_read = " ".join(row[hint.region.x:hint.region.right].strip() for row in keys)
        assert re.search(r"(enter|⏎) next turn", keys_read) and "p pin" in keys_read and "esc" in keys_read, keys_read
        if size == (40, 12):
            assert hint.region.height == 1, keys_read
        # Down the list with the keys: each model in turn is highlighted, drawn whole, its name,
        # its prices and why routing skips it now (if it does) on screen.
        for i, model in enumerate(IDS):
            if i:
                await pilot.press("down")
                await pilot.pause()
            prompt = options.get_option_at_index(i).prompt
            assert isinstance(prompt, Text)
            highlighted, drawn = shown_option(app, options)
            assert highlighted == i
            assert drawn == re.sub(r"\s", "", prompt.plain), (model, drawn, prompt.plain)
            assert model in drawn and f"in${0.1 * (i + 1):.2f}" in drawn, (model, drawn)
            if model in NOTES:
                assert re.sub(r"\s", "", NOTES[model]) in drawn, (model, drawn)
        await pilot.press("enter")
        await settle(pilot, app)
        assert not isinstance(app.screen, ModelPicker)
        await type_and_send(pilot, "Three tips for naming branches?")
        assert engine.calls[-1]["override"] == IDS[-1]


async def test_the_highlight_stays_whole_when_the_terminal_shrinks(engine: FakeEngine,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Opened in a large terminal, then the pane is made small: the list fits again and the
    highlighted model is whole, and p pins it."""
    monkeypatch.setattr(engine, "models", lambda: list(POOL))
    monkeypatch.setattr(engine, "unavailable", lambda: dict(NOTES))
    app = ChatrouteApp(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        await pilot.press("ctrl+o", "down", "down", "down")
        await settle(pilot, app)
        await pilot.resize_terminal(40, 12)
        await settle(pilot, app)
        options = app.screen.query_one(OptionList)
        highlighted, drawn = shown_option(app, options)
        assert highlighted == 3
        assert drawn == re.sub(r"\s", "", str(options.get_option_at_index(3).prompt)), drawn
        assert Region(0, 0, 40, 12).contains_region(options.region), options.region
        await pilot.press("p")
        await settle(pilot, app)
    assert engine.store.list_conversations()[0].pinned_model == IDS[3]
