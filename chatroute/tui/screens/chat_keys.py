"""Keys the chat screen handles beyond its bindings: keys that arrive with nothing focused,
keys held while a message is re-mounted, ↑ out of the composer, and ctrl+c while an answer
streams. A mixin, so chat.py does not grow."""

from __future__ import annotations

from typing import Any

from textual import events

from chatroute.tui.textual_compat import forward_event
from chatroute.tui.widgets.composer import Composer
from chatroute.tui.widgets.message import MessageWidget


class ChatKeys:
    """Mixed into ChatScreen (which provides composer, chat, _turn, focused, app, notify)."""

    _held_keys: list[events.Key] | None = None

    def on_key(self, event: events.Key) -> None:
        """Keys that reach the screen with nothing focused. While messages are re-mounted they
        are held and handed to whatever has focus afterwards; otherwise (typed while the first
        screen was still mounting) they are the prompt's."""
        screen: Any = self
        if screen.focused is not None or screen.app.screen is not screen:
            return
        if self._held_keys is not None:
            event.stop()
            self._held_keys.append(events.Key(event.key, event.character))
            return
        composer: Composer = screen.composer
        if event.key == "enter":
            event.stop()
            composer.focus()
            composer.action_submit()
        elif event.is_printable and event.character:
            event.stop()
            composer.focus()
            composer.insert(event.character)

    def hold_keys(self) -> None:
        """From now until release_keys, keys typed go nowhere yet (and focus shows nowhere):
        re-mounting the focused message would otherwise hand focus, and the keys, to the
        sidebar for a moment."""
        screen: Any = self
        self._held_keys = []
        screen.set_focus(None, scroll_visible=False)

    def release_keys(self) -> None:
        held, self._held_keys = self._held_keys or [], None
        screen: Any = self
        target = screen.focused or screen.composer
        for key in held:
            key.set_sender(screen.app)
            forward_event(target, key)

    def action_stop_answer(self) -> None:
        """ctrl+c stops a streaming answer, as Esc does; otherwise the key does what it did: copy
        the text selected on screen (this binding replaced the screen's own for the key) or, with
        none, what the focused field has selected."""
        screen: Any = self
        if screen._turn is None or not screen._turn.is_running:
            screen.action_copy_text()  # SkipAction when nothing is selected
            return
        screen.action_escape()

    def on_composer_previous_message(self, event: Composer.PreviousMessage) -> None:
        screen: Any = self
        widgets = screen.chat.query(MessageWidget)
        if widgets:
            last = widgets.last()
            last.focus()
            last.scroll_visible(animate=False)
