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
from textual.widgets.input import Selection

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


def run_start(text: str, index: int) -> int:
    """`index`, moved left past the bidirectional controls just before it."""
    while index > 0 and text[index - 1] in BIDI_CONTROLS:
        index -= 1
    return index


def left_of_drawn(text: str, index: int) -> int:
    """Where one drawn character left of `index` begins, the controls before it taken with it
    (0 at the start). A control takes no cell: a step onto one would move nothing on screen."""
    index = run_start(text, index)
    return run_start(text, index - 1) if index > 0 else 0


def right_of_drawn(text: str, index: int) -> int | None:
    """Past the controls at `index` and the drawn character after them, and past controls that
    end the text, which go with no character; None when only controls are left."""
    while index < len(text) and text[index] in BIDI_CONTROLS:
        index += 1
    if index == len(text):
        return None
    index += 1
    return len(text) if all(c in BIDI_CONTROLS for c in text[index:]) else index


class PlainInput(Input):
    """An input whose value never holds a bidirectional control: pasted, typed or given."""

    def validate_value(self, value: str) -> str:
        return without_bidi_controls(value)

    def replace(self, text: str, start: int, end: int) -> None:
        # Dropped before the edit, so the cursor lands after what was inserted, not past it.
        super().replace(without_bidi_controls(text), start, end)


class PromptInput(Input):
    """An input whose value is sent as written, controls and all, but drawn without them; its
    border says they are there, as the composer's does, since nothing else on screen would. As in
    the composer, Left, Right, Backspace and Delete take a run of them with the drawn character
    after it, so each press moves or removes something the user sees."""

    def action_cursor_left(self, select: bool = False) -> None:
        if not BIDI_CONTROL.search(self.value):
            return super().action_cursor_left(select)
        start, end = self.selection
        if select:
            self.selection = Selection(start, left_of_drawn(self.value, end))
        elif self.selection.is_empty:
            self.cursor_position = left_of_drawn(self.value, self.cursor_position)
        else:
            self.cursor_position = min(start, end)

    def action_cursor_right(self, select: bool = False) -> None:
        if not BIDI_CONTROL.search(self.value) or self._suggestion:
            return super().action_cursor_right(select)
        start, end = self.selection
        if select:
            self.selection = Selection(start, self._right_of(end))
        elif self.selection.is_empty:
            self.cursor_position = self._right_of(self.cursor_position)
        else:
            self.cursor_position = max(start, end)

    def action_delete_left(self) -> None:
        if not BIDI_CONTROL.search(self.value) or not self.selection.is_empty:
            return super().action_delete_left()
        self.delete(left_of_drawn(self.value, self.cursor_position), self.cursor_position)

    def action_delete_right(self) -> None:
        if not BIDI_CONTROL.search(self.value) or not self.selection.is_empty:
            return super().action_delete_right()
        self.delete(self.cursor_position, self._right_of(self.cursor_position))

    def _right_of(self, index: int) -> int:
        after = right_of_drawn(self.value, index)
        return len(self.value) if after is None else after

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input is self:
            self.border_subtitle = bidi_note(self.value)

    def on_mount(self) -> None:
        self.border_subtitle = bidi_note(self.value)

    def render_line(self, y: int) -> Strip:
        return drawn_without_bidi_controls(super().render_line(y))
