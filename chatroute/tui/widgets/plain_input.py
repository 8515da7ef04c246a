"""One-line inputs that never draw bidirectional controls (U+202A–U+202E, U+2066–U+2069): pasted
into a line, they reorder what the terminal shows of it, so it reads otherwise than it holds.

What the user writes to the app itself (a search, a conversation's title) never wants them, so
`PlainInput` drops them as they come in. A prompt is sent as written, so `PromptInput` keeps them
in its value and only leaves them out of what it draws, as the composer does. Either way the line
is laid out the same: the controls take no cells.
"""

from __future__ import annotations

from rich.segment import Segment
from textual.strip import Strip
from textual.widgets import Input

from chatroute.safetext import BIDI_CONTROL, BIDI_CONTROLS, bidi_marker

_NOT_DRAWN = str.maketrans(dict.fromkeys(BIDI_CONTROLS))


def without_bidi_controls(text: str) -> str:
    return text.translate(_NOT_DRAWN) if BIDI_CONTROL.search(text) else text


def bidi_note(text: str) -> str:
    """What a prompt input's border says of the controls it sends but does not draw, or ""."""
    controls = BIDI_CONTROL.findall(text)
    if not controls:
        return ""
    kinds = " ".join(bidi_marker(c) for c in sorted(set(controls)))
    return f"{len(controls)} bidirectional control{'' if len(controls) == 1 else 's'} {kinds} sent, not drawn"


def drawn_without_bidi_controls(strip: Strip) -> Strip:
    """A rendered line without its bidirectional controls; its cells are the same, since the
    controls take none."""
    if not BIDI_CONTROL.search(strip.text):
        return strip
    return Strip([Segment(seg.text.translate(_NOT_DRAWN), seg.style, seg.control) for seg in strip],
                 strip.cell_length)


class PlainInput(Input):
    """An input whose value never holds a bidirectional control: pasted, typed or given."""

    def validate_value(self, value: str) -> str:
        return without_bidi_controls(value)

    def replace(self, text: str, start: int, end: int) -> None:
        # Dropped before the edit, so the cursor lands after what was inserted, not past it.
        super().replace(without_bidi_controls(text), start, end)


class PromptInput(Input):
    """An input whose value is sent as written, controls and all, but drawn without them; its
    border says they are there, as the composer's does, since nothing else on screen would."""

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input is self:
            self.border_subtitle = bidi_note(self.value)

    def on_mount(self) -> None:
        self.border_subtitle = bidi_note(self.value)

    def render_line(self, y: int) -> Strip:
        return drawn_without_bidi_controls(super().render_line(y))
