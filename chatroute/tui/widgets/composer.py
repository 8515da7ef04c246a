"""The prompt editor: Enter sends, Ctrl+J (or Shift+Enter where the terminal reports it) adds a
newline, because most terminals send Shift+Enter as a plain Enter."""

from __future__ import annotations

from textual.binding import Binding
from textual.message import Message
from textual.widgets import TextArea


class Composer(TextArea):
    DEFAULT_CSS = """
    Composer { height: auto; min-height: 3; max-height: 10; border: round $primary 50%; }
    Composer:focus { border: round $primary; }
    """

    # priority: TextArea would otherwise consume Enter as an insert before any binding runs
    BINDINGS = [
        Binding("enter", "submit", "Send", priority=True),
        Binding("ctrl+j,shift+enter", "newline", "Newline", priority=True),
    ]

    class Submitted(Message):
        def __init__(self, composer: Composer, text: str) -> None:
            super().__init__()
            self.composer = composer
            self.text = text

    def __init__(self, **kw) -> None:  # type: ignore[no-untyped-def]
        super().__init__(soft_wrap=True, show_line_numbers=False, tab_behavior="focus", **kw)

    def action_submit(self) -> None:
        text = self.text.strip()
        if text:
            self.post_message(self.Submitted(self, text))

    def action_newline(self) -> None:
        start, end = self.selection
        self._replace_via_keyboard("\n", start, end)
