"""One-line inputs that never draw bidirectional controls (U+202A–U+202E, U+2066–U+2069): pasted
into a line, they reorder what the terminal shows of it, so it reads otherwise than it holds.

What the user writes to the app itself (a search, a conversation's title) never wants them, so
`PlainInput` drops them as they come in. A prompt is sent as written, so `PromptInput` keeps them
in its value and only leaves them out of what it draws, as the composer does. Either way the line
is laid out the same: the controls take no cells.
"""

from __future__ import annotations

import re

from rich.cells import cell_len
from rich.segment import Segment
from textual.strip import Strip
from textual.widgets import Input
from textual.widgets.input import Selection

from chatroute.safetext import BIDI_CONTROL, BIDI_CONTROLS, bidi_marker
from chatroute.tui.textual_compat import CellIndexInput

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


def cursor_stop(text: str, index: int) -> int:
    """Where a cursor at `index` rests: never between a run of controls and the drawn character
    they go with (at the run's start instead), nor inside controls that end the text, which go with
    no character (past them). Otherwise `index`."""
    start, end = run_start(text, index), index
    while end < len(text) and text[end] in BIDI_CONTROLS:
        end += 1
    if start == end:
        return index
    return len(text) if end == len(text) else start


def drawn_before(text: str, index: int) -> int:
    """How many drawn characters come before `index`."""
    return index - sum(c in BIDI_CONTROLS for c in text[:index])


def index_after_drawn(text: str, drawn: int) -> int:
    """Where the cursor rests with `drawn` drawn characters before it."""
    index = 0
    while drawn > 0 and index < len(text):
        drawn -= text[index] not in BIDI_CONTROLS
        index += 1
    return cursor_stop(text, index)


# Word edges as Textual's TextArea finds them (ctrl+left/right), and word starts as its Input does.
# A control is not a word character, so on the text as held, one splits a word and an edge lands
# between it and its character: the word moves below look for them in the drawn text instead.
_WORD_EDGE = re.compile(r"(?<=\W)(?=\w)|(?<=\w)(?=\W)")
_WORD_START = re.compile(r"(?<=\W)\w")


def word_left(text: str, index: int) -> int:
    """Where ctrl+left takes the cursor in the composer: the last word edge before `index` in the
    drawn text, trailing spaces skipped; the line's start if none."""
    drawn = without_bidi_controls(text)[:drawn_before(text, index)].rstrip()
    edges = [m.start() for m in _WORD_EDGE.finditer(drawn)]
    return index_after_drawn(text, edges[-1] if edges else 0)


def word_right(text: str, index: int) -> int:
    """Where ctrl+right takes the cursor in the composer: past leading spaces to the next word
    edge in the drawn text; the line's end if none."""
    drawn = without_bidi_controls(text)
    at = drawn_before(text, index)
    rest = drawn[at:]
    skipped = len(rest) - len(rest.lstrip())
    edge = _WORD_EDGE.search(rest.lstrip())
    return index_after_drawn(text, at + skipped + edge.start() if edge else len(drawn))


def word_end_right(text: str, index: int) -> int | None:
    """Where the composer's word delete right (alt+delete) stops: past the spaces and the word
    after `index` in the drawn text, as Textual's does on the text as held; None if no word."""
    at = drawn_before(text, index)
    word = re.search(r"\s*\w+", without_bidi_controls(text)[at:])
    return None if word is None else index_after_drawn(text, at + word.end())


def word_start_left(text: str, index: int) -> int:
    """The start of the word before `index` in the drawn text, as the compare prompt's ctrl+left
    and ctrl+w find it; 0 if none."""
    drawn = without_bidi_controls(text)[:drawn_before(text, index)]
    starts = [m.start() for m in _WORD_START.finditer(drawn)]
    return index_after_drawn(text, starts[-1] if starts else 0)


def word_start_right(text: str, index: int) -> int | None:
    """The start of the next word after `index` in the drawn text, as the compare prompt's
    ctrl+right and its word delete find it; None if none."""
    at = drawn_before(text, index)
    start = _WORD_START.search(without_bidi_controls(text)[at:])
    return None if start is None else index_after_drawn(text, at + start.start())


class PlainInput(Input):
    """An input whose value never holds a bidirectional control: pasted, typed or given."""

    def validate_value(self, value: str) -> str:
        return without_bidi_controls(value)

    def replace(self, text: str, start: int, end: int) -> None:
        # Dropped before the edit, so the cursor lands after what was inserted, not past it.
        super().replace(without_bidi_controls(text), start, end)


class PromptInput(CellIndexInput):
    """An input whose value is sent as written, controls and all, but drawn without them; its
    border says they are there, as the composer's does, since nothing else on screen would. As in
    the composer, Left, Right, Backspace and Delete take a run of them with the drawn character
    after it, so each press moves or removes something the user sees, and the cursor never rests
    between a run and its character, wherever it is put (a click, Home, a word move)."""

    def validate_selection(self, selection: Selection) -> Selection:
        # Every placement passes through here: a click, a key, an edit, one made in code.
        start, end = super().validate_selection(selection)
        if BIDI_CONTROL.search(self.value):
            return Selection(cursor_stop(self.value, start), cursor_stop(self.value, end))
        return Selection(start, end)

    def index_at_cell(self, cell: int, index: int) -> int:
        # Past the drawn line's end is the line's end: Textual counts a cell a character there,
        # and the controls take none, so a click past 'ab<RLO>c' put the cursor before c.
        if cell + self.scroll_offset.x >= cell_len(without_bidi_controls(self.value)):
            return len(self.value)
        return index

    # Textual's word moves take a control for a word's edge, so a word move stopped between a run
    # and its character (and, put back at the run's start, moved nowhere). Found in the drawn text
    # instead, a word is what the user sees as one.
    def action_cursor_left_word(self, select: bool = False) -> None:
        if self.password or not BIDI_CONTROL.search(self.value):
            return super().action_cursor_left_word(select)
        self._move(word_start_left(self.value, self.cursor_position), select)

    def action_cursor_right_word(self, select: bool = False) -> None:
        if self.password or not BIDI_CONTROL.search(self.value):
            return super().action_cursor_right_word(select)
        target = word_start_right(self.value, self.cursor_position)
        self._move(len(self.value) if target is None else target, select)

    def action_delete_left_word(self) -> None:
        if self.password or not BIDI_CONTROL.search(self.value) or not self.selection.is_empty:
            return super().action_delete_left_word()
        self.delete(word_start_left(self.value, self.cursor_position), self.cursor_position)

    def action_delete_right_word(self) -> None:
        if self.password or not BIDI_CONTROL.search(self.value) or not self.selection.is_empty:
            return super().action_delete_right_word()
        target = word_start_right(self.value, self.cursor_position)
        self.delete(self.cursor_position, len(self.value) if target is None else target)

    def _move(self, target: int, select: bool) -> None:
        if select:
            self.selection = Selection(self.selection.start, target)
        else:
            self.cursor_position = target

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
