"""Textual's command palette, with a search line that never holds a bidirectional control.

A control pasted or typed into Textual's own palette input was drawn as it was, so the line read
reordered, as the app's own inputs did before plain_input.py. The palette's line is a search of
command names, and no name holds a control or a directional mark: they are dropped as they come
in, as the history search drops them, and the line's border says how many were dropped, so a
paste that carried them does not pass unnoticed. The app opens this palette wherever Textual
would open its own: Ctrl+P, and the palette's Theme picker.
"""

from __future__ import annotations

import re
from typing import Any

from textual.app import ComposeResult
from textual.command import CommandInput, CommandPalette

from chatroute.safetext import BIDI_CONTROLS, bidi_marker

# The embeddings, overrides and isolates, and the marks (LRM, RLM, ALM): a search of command
# names has no use for a mark either, and one would make the search find nothing.
DROPPED = BIDI_CONTROLS + "\u200e\u200f\u061c"
_DROPPED = re.compile(f"[{DROPPED}]")
_NOT_KEPT = str.maketrans(dict.fromkeys(DROPPED))


class PaletteInput(CommandInput):
    """The palette's search line: bidirectional controls and marks dropped, pasted, typed or
    given, and counted in its border while the palette is open."""

    DEFAULT_CSS = """
    PaletteInput { border-subtitle-color: $text-warning; }
    """

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._dropped: list[str] = []

    def _drop(self, text: str) -> str:
        found = _DROPPED.findall(text)
        if not found:
            return text
        self._dropped += found
        kinds = " ".join(bidi_marker(c) for c in sorted(set(self._dropped)))
        n = len(self._dropped)
        self.border_subtitle = f"{n} bidirectional control{'' if n == 1 else 's'} {kinds} dropped"
        return text.translate(_NOT_KEPT)

    def validate_value(self, value: str) -> str:
        return self._drop(value)

    def replace(self, text: str, start: int, end: int) -> None:
        # Dropped before the edit, so the cursor lands after what was inserted, not past it.
        super().replace(self._drop(text), start, end)


class SafeCommandPalette(CommandPalette):
    """Textual's palette with PaletteInput in place of its CommandInput, the rest unchanged."""

    def compose(self) -> ComposeResult:
        for widget in super().compose():
            if type(widget) is CommandInput:
                widget = PaletteInput(placeholder=widget.placeholder, select_on_focus=False)
            yield widget
