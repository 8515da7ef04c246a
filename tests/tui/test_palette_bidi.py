"""Textual's command palette (Ctrl+P, and its Theme picker) drew bidirectional controls pasted
into its search line as they were, so the line read reordered, while every input of the
app's own already left them out; and a theme of the user's named with a control, an escape or
markup was listed in it as the terminal or the markup made it read. Driven as a user does:
Ctrl+P, a bracketed paste, keys, Enter."""

from __future__ import annotations

import re
from pathlib import Path

from textual import events
from textual.app import App
from textual.command import CommandInput, CommandList, CommandPalette
from textual.pilot import Pilot

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from tests.tui.helpers import palette_matches, settle, until

SIZE = (100, 30)
# The embeddings, overrides and isolates, and the marks LRM, RLM and ALM.
HIDDEN = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"


def drawn(app: App) -> str:
    screen = str(app.screen._compositor.render_full_update().render_segments(app.console))
    return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", screen)  # its text only: styles split a line


def hidden_drawn(app: App) -> list[str]:
    return [hex(ord(c)) for c in drawn(app) if c in HIDDEN]


async def open_palette(pilot: Pilot) -> CommandPalette:
    await pilot.press("ctrl+p")
    await until(pilot, lambda: isinstance(pilot.app.screen, CommandPalette), "the command palette")
    palette = pilot.app.screen
    assert isinstance(palette, CommandPalette)
    await until(pilot, lambda: palette.has_class("-ready"), "the palette's list")
    return palette


async def test_the_palette_drops_pasted_and_typed_bidi_controls_and_says_so(chatroute_home: Path) -> None:
    app = ChatrouteApp(Engine.open(), close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        palette = await open_palette(pilot)
        line = palette.query_one(CommandInput)
        assert line.has_focus
        pilot.app.post_message(events.Paste("Theme: \u202echatroute-\u2066light\u2069"))
        await pilot.pause()
        await pilot.press("\u200f")  # typed, it never went in: Textual types only printable keys
        await pilot.pause()
        assert line.value == "Theme: chatroute-light"
        assert line.cursor_position == len(line.value)
        assert hidden_drawn(app) == []
        note = "3 bidirectional controls <U+202E> <U+2066> <U+2069> dropped"
        assert str(line.border_subtitle) == note
        assert note in drawn(app)
        # The search is of what is left, so it still finds the command, and Enter runs it.
        shown = palette.query_one(CommandList)
        await until(pilot, lambda: shown.highlighted_option is not None
                    and str(shown.highlighted_option.prompt).startswith("Theme: chatroute-light"),
                    "the command the line names")
        await pilot.press("enter")
        await settle(pilot, app)
        assert app.theme == "chatroute-light"

        # Textual's Theme picker (the palette's "Theme" command) is the same palette.
        app.action_change_theme()
        await until(pilot, lambda: isinstance(app.screen, CommandPalette), "the theme picker")
        picker = app.screen
        assert isinstance(picker, CommandPalette)
        pilot.app.post_message(events.Paste("nor\u202ed"))
        await pilot.pause()
        assert picker.query_one(CommandInput).value == "nord"
        assert hidden_drawn(app) == []


async def test_a_theme_named_with_controls_or_markup_is_not_listed(chatroute_home: Path) -> None:
    themes = chatroute_home / "themes"
    themes.mkdir()
    (themes / "evil.toml").write_text('name = "chatroute-\u202eevil [b]bold[/b] \\u001b]0;PWN\\u0007"\n'
                                      'primary = "#ff0000"\n', encoding="utf-8")
    (themes / "mine.toml").write_text('name = "chatroute-mine"\nprimary = "#00ff00"\n', encoding="utf-8")
    app = ChatrouteApp(Engine.open(), close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        palette = await open_palette(pilot)
        await palette_matches(pilot, palette, "theme: chatroute")
        listed = [str(o.prompt).split("\n")[0] for o in palette.query_one(CommandList).options]
        assert "Theme: chatroute-mine" in listed
        assert not [name for name in listed if "evil" in name]
        screen = drawn(app)
        assert "PWN" not in screen and "evil" not in screen and hidden_drawn(app) == []
        assert not [name for name in app.available_themes if "evil" in name]
