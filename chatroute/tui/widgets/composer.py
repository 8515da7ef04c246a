"""The prompt editor: Enter sends, Ctrl+J (or Shift+Enter where the terminal reports it) adds a
newline, because most terminals send Shift+Enter as a plain Enter.

A large paste does not go into the editor as text. It is kept aside and stands in the prompt as
one placeholder, `[pasted text #1: 1.0 MB, 13,334 lines]`, which is replaced by the pasted text,
unchanged, when the prompt is sent. A TextArea lays out and wraps every line it holds, so a
megabyte froze the UI for seconds on the paste and again on every edit, and a 10-row editor is
no place to read or edit a log that size anyway. The placeholder behaves as one character:
Backspace or Delete next to it removes all of it (and with it the paste), typing inside it
types after it.

Bidirectional controls (U+202A–U+202E, U+2066–U+2069) stay in the prompt, which is sent as
written, but are not drawn: the terminal would reorder the line around them, and pasted code
would read in another order than it is sent ("Trojan Source"). They take no cell, so leaving them
out of the drawn line moves nothing; the border says the prompt holds them, and the chat then
shows each as a marker, `<U+202E>`, as it shows every outside text (safetext.py).
"""

from __future__ import annotations

import re
from typing import Any

from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.strip import Strip
from textual.widgets import TextArea
from textual.widgets.text_area import EditResult, Location

from chatroute.format import count_lines, fmt_size
from chatroute.safetext import BIDI_CONTROL, strip_terminal_controls
from chatroute.tui.textual_compat import KeyboardEditsTextArea
from chatroute.tui.widgets.plain_input import (
    bidi_note,
    cursor_stop,
    drawn_before,
    drawn_without_bidi_controls,
    left_of_drawn,
    right_of_drawn,
    run_start,
    word_end_right,
    word_left,
    word_right,
)

# Past either, a paste is kept aside. 20,000 characters is about 5,000 tokens, some 250 lines
# of prose or code: the most anyone reviews in a 10-row editor, and still cheap to lay out
# (a few ms). 400 short lines (a log, a CSV) would be 40 screens of the editor.
PASTE_MAX_CHARS = 20_000
PASTE_MAX_LINES = 400
_PLACEHOLDER = re.compile(r"\[pasted text #\d+: [^\]\n]*\]")


class Composer(KeyboardEditsTextArea):
    DEFAULT_CSS = """
    Composer { height: auto; min-height: 3; max-height: 10; border: round $primary 50%; }
    Composer:focus { border: round $primary; }
    """

    # Listed for the footer and help. The keys themselves are handled in on_key, in the order
    # they arrive: a priority binding runs Enter as soon as the app reads it, ahead of the keys
    # typed before it that are still queued for the editor, which sent half a fast-typed line.
    BINDINGS = [
        Binding("enter", "submit", "Send"),
        Binding("ctrl+j,shift+enter", "newline", "Newline"),
    ]
    _NEWLINE_KEYS = ("ctrl+j", "shift+enter")

    class Submitted(Message):
        """Enter on a prompt; `text` is the whole of it, pastes kept aside included; `raw` is
        the editor's text as it was then (placeholders unexpanded), for `consume`."""

        def __init__(self, composer: Composer, text: str, raw: str = "") -> None:
            super().__init__()
            self.composer = composer
            self.text = text
            self.raw = raw

    class PreviousMessage(Message):
        """Up on the composer's first line: the reader wants the messages above."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(soft_wrap=True, show_line_numbers=False, tab_behavior="focus", **kw)
        # Placeholder -> the text it stands for. Kept until the composer is cleared, not when
        # the placeholder is deleted, so that undo (ctrl+z) or cut and paste bring it back whole.
        self._pastes: dict[str, str] = {}
        self._paste_bytes: dict[str, int] = {}  # their UTF-8 sizes, not recounted on every key
        self._paste_count = 0

    @property
    def pastes(self) -> dict[str, str]:
        """The pastes kept aside whose placeholder is in the prompt, by placeholder."""
        if not self._pastes:
            return {}
        return {p: self._pastes[p] for p in _PLACEHOLDER.findall(self.text) if p in self._pastes}

    @property
    def prompt(self) -> str:
        """What Enter sends: the text, trimmed, with every placeholder replaced by its paste.
        Only the typed text is trimmed: a paste arrives as it was pasted."""
        return self.expand_pastes(self.text.strip())

    def expand_pastes(self, text: str) -> str:
        if not self._pastes:
            return text
        return _PLACEHOLDER.sub(lambda m: self._pastes.get(m.group(0), m.group(0)), text)

    def action_submit(self) -> None:
        prompt = self.prompt
        if prompt.strip():
            self.post_message(self.Submitted(self, prompt, self.text))

    def on_key(self, event: events.Key) -> None:
        # prevent_default ends the handler walk before TextArea's own key handler, which would
        # insert a newline for Enter; other keys go on to it.
        if not self.read_only and event.key == "enter":
            event.stop()
            event.prevent_default()
            self.action_submit()
        elif not self.read_only and event.key in self._NEWLINE_KEYS:
            event.stop()
            event.prevent_default()
            self.action_newline()

    def consume(self, raw: str) -> None:
        """Take a sent prompt out of the editor. Keys typed after its Enter (handled before
        the screen accepted the prompt) stay: only the text that was sent goes."""
        text = self.text
        if text == raw:
            self.clear()
            return
        if not text.startswith(raw):  # edited elsewhere than at the end since: drop nothing
            return
        rest = text[len(raw):]
        kept = [p for p in _PLACEHOLDER.findall(rest) if p in self._pastes]
        pastes = {p: (self._pastes[p], self._paste_bytes[p]) for p in kept}
        self.clear()
        for placeholder, (pasted, size) in pastes.items():
            self._pastes[placeholder], self._paste_bytes[placeholder] = pasted, size
        self.insert(rest)

    def draft(self) -> tuple[str, dict[str, str]]:
        """What is being written, as it reads (placeholders unexpanded), and the pastes it holds."""
        return self.text, self.pastes

    def restore(self, text: str, pastes: dict[str, str]) -> None:
        """Put back a `draft()`. A placeholder whose paste is not given stays as plain text."""
        self.clear()
        for placeholder, pasted in pastes.items():
            if _PLACEHOLDER.fullmatch(placeholder):
                self._pastes[placeholder] = pasted
                self._paste_bytes[placeholder] = len(pasted.encode("utf-8", "surrogatepass"))
        numbers = (int(m) for m in re.findall(r"#(\d+):", " ".join(self._pastes)))
        self._paste_count = max(numbers, default=0)  # the next paste gets a number of its own
        self.insert(text)

    def action_cursor_up(self, select: bool = False) -> None:
        if not select and self.cursor_at_first_line:
            self.post_message(self.PreviousMessage())
            return
        super().action_cursor_up(select)

    def clear(self) -> EditResult:
        result = super().clear()
        if self._pastes:
            self._pastes.clear()
            self._paste_bytes.clear()
            self._paste_count = 0
            # Undo would bring back placeholders whose text is gone, to be sent as they read.
            self.history.clear()
        return result

    def on_paste(self, event: events.Paste) -> None:
        if self.read_only:
            return
        # TextArea's own handler would insert it as text: prevent_default skips it, for every paste.
        event.prevent_default()
        self._paste(event.text)
        self.focus()

    def action_paste(self) -> None:  # ctrl+v: the app's clipboard, e.g. a message copied with c
        if not self.read_only:
            self._paste(self.app.clipboard)

    def insert(self, text: str, location: Location | None = None, *,
               maintain_selection_offset: bool = True) -> EditResult:
        # Text put back (a refused prompt, a retry) may be a stored prompt that `ask` took with
        # escape sequences in it; the editor would write them to the terminal as they are.
        # Bidirectional controls are kept: the prompt is the user's, sent as they wrote it.
        return super().insert(strip_terminal_controls(text, mark_bidi=False), location,
                              maintain_selection_offset=maintain_selection_offset)

    def _paste(self, text: str) -> None:
        # Terminals deliver a paste's line breaks as CR. The editor would split lines on them
        # anyway; a paste kept aside gets the same, so the prompt does not depend on its size:
        # strip_terminal_controls reads a CR (or CR LF) as a line end. A copied terminal (colours,
        # a title, a screen clear) is pasted as its text: the editor would write the sequences to
        # the terminal, and a model has no use for them.
        text = strip_terminal_controls(text, mark_bidi=False)
        if len(text) > PASTE_MAX_CHARS or count_lines(text) > PASTE_MAX_LINES:
            text = self._keep_aside(text)
        if result := self.replace_as_typed(text, *self.selection):
            self.move_cursor(result.end_location)

    def _keep_aside(self, text: str) -> str:
        self._paste_count += 1
        lines = count_lines(text)
        # An ASCII text is its own UTF-8 (isascii reads a flag): no copy of it to measure it.
        size = len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
        placeholder = f"[pasted text #{self._paste_count}: {fmt_size(size)}, {lines:,} line{'' if lines == 1 else 's'}]"
        self._pastes[placeholder], self._paste_bytes[placeholder] = text, size
        return placeholder

    # Every keyboard edit passes through here (typing, Backspace, Delete, ctrl+w, cut, paste):
    # widened here, an edit never leaves half a placeholder, which would be sent as it reads.
    def keyboard_span(self, start: Location, end: Location, *, insert: bool) -> tuple[Location, Location]:
        if self._pastes:
            return self._around_placeholders(start, end, insert=insert)
        return start, end

    def _around_placeholders(self, start: Location, end: Location, *, insert: bool) -> tuple[Location, Location]:
        """(start, end) ordered and widened to whole placeholders. An insertion point inside one
        moves to its end."""
        start, end = sorted((start, end))
        if start == end and insert:
            span = self._placeholder_at(start)
            if span is not None:
                return (start[0], span[1]), (start[0], span[1])
            return start, end
        first, last = self._placeholder_at(start), self._placeholder_at(end)
        if first is not None:
            start = (start[0], first[0])
        if last is not None:
            end = (end[0], last[1])
        return start, end

    def _placeholder_at(self, location: Location) -> tuple[int, int] | None:
        """The columns of the kept placeholder that `location` is strictly inside, if any."""
        row, column = location
        if row >= self.document.line_count:
            return None
        for match in _PLACEHOLDER.finditer(self.document[row]):
            if match.start() < column < match.end() and match.group(0) in self._pastes:
                return match.start(), match.end()
        return None

    # An undrawn control takes no cell, so a cursor step onto or over it moved nothing on screen,
    # and a Backspace or Delete next to it removed only it, changing nothing drawn. Each run of
    # them goes with the character after it: Left, Right, Backspace and Delete (the last two ask
    # these same two methods where the character next to the cursor ends) take the run and that
    # character as one step, so every key press moves or removes something the user sees.
    def get_cursor_left_location(self) -> Location:
        row, column = self.cursor_location
        line = self.document[row]
        if BIDI_CONTROL.search(line):
            if run_start(line, column) == 0:  # nothing drawn before it on this line
                return self.navigator.get_location_left((row, 0))
            return row, left_of_drawn(line, column)
        return super().get_cursor_left_location()

    def get_cursor_right_location(self) -> Location:
        row, column = self.cursor_location
        line = self.document[row]
        if column < len(line) and BIDI_CONTROL.search(line):
            after = right_of_drawn(line, column)
            if after is None:  # only controls up to the line's end: on to the next line
                return self.navigator.get_location_right((row, len(line)))
            return row, after
        return super().get_cursor_right_location()

    # Every placement of the cursor or a selection's end passes through here (TextArea's
    # selection validator asks it). Textual maps a cell to the last column drawn there, which is
    # past a run of controls (they take no cell), so a click or Up/Down put the cursor between a
    # run and its character, and a Backspace then took the character before with the run. The
    # cursor rests at a run's start instead, and past controls that end a line, however it is put
    # (a key, a click, an edit, undo, code).
    def clamp_visitable(self, location: Location) -> Location:
        row, column = super().clamp_visitable(location)
        line = self.document[row]
        if BIDI_CONTROL.search(line):
            column = cursor_stop(line, column)
        return row, column

    # Textual's word moves (ctrl+left/right, and ctrl+w, which deletes to where ctrl+left goes)
    # take a control for a word's edge: one stopped between a run and its character, which the
    # cursor may not, and so, put back, moved nowhere. They look for edges in the drawn line.
    def get_cursor_word_left_location(self) -> Location:
        row, column = self.cursor_location
        line = self.document[row]
        if BIDI_CONTROL.search(line) and drawn_before(line, column) > 0:
            return row, word_left(line, column)
        if BIDI_CONTROL.search(line) and row > 0:  # nothing drawn before it: the line above
            return row - 1, len(self.document[row - 1])
        return super().get_cursor_word_left_location()

    def get_cursor_word_right_location(self) -> Location:
        row, column = self.cursor_location
        line = self.document[row]
        if BIDI_CONTROL.search(line):
            if drawn_before(line, column) < drawn_before(line, len(line)):
                return row, word_right(line, column)
            if row < self.document.line_count - 1:  # nothing drawn after it: the line below
                return row + 1, 0
        return super().get_cursor_word_right_location()

    def action_delete_word_right(self) -> None:
        # Textual's stops at a control as at a word's end: from the start of 'ab<RLO>cd' it
        # deleted 'ab' of the one word drawn, 'abcd'. The word is found in the drawn line.
        row, column = self.cursor_location
        line = self.document[row]
        if self.selection.is_empty and BIDI_CONTROL.search(line):
            end = word_end_right(line, column)
            if end is not None:
                self.replace_as_typed("", (row, column), (row, end))
                return
        super().action_delete_word_right()

    def render_line(self, y: int) -> Strip:
        # The line as laid out, without its bidirectional controls (see the module's docstring).
        return drawn_without_bidi_controls(super().render_line(y))

    def _show_pastes(self) -> None:
        notes = []
        pastes = self.pastes
        if pastes:
            size = fmt_size(sum(self._paste_bytes[p] for p in pastes))
            what = "the pasted text" if len(pastes) == 1 else f"{len(pastes)} pasted texts"
            notes.append(f"{what} ({size}) goes in full · backspace removes it")
        controls = bidi_note(self.text)
        if controls:
            notes.append(controls)
        self.border_subtitle = " · ".join(notes)

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        self._show_pastes()

    def action_newline(self) -> None:
        start, end = self.selection
        self.replace_as_typed("\n", start, end)
