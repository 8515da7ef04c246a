"""Keys that arrive while an earlier key is still moving focus wait for it to land.

Textual hands each key to whatever has focus when the app reads it, but a key that moves focus
does so later: through a binding on a parent the key bubbles to, a message the focused widget
posts, or a screen that focuses its input once mounted. Keys from the same burst (a fast typist,
tmux send-keys, a slow SSH link) went to the old focus: "w" after ↑ was typed into the composer
instead of opening the why panel, a search query after Ctrl+F and a new name after F2 landed in
the composer, and keys after Esc from the search box were dropped.

So after any key that is not plain typing into a text field, later keys are held until no part
of the app has a message queued or in hand (the key has been handled wherever it went), then handed
back to the app in the order they came (a paste among them keeps its place). Plain typing
never waits. Keys typed while a screen is still mounting (the first one, as the command starts)
wait the same way, the first of them included.
"""

from __future__ import annotations

import asyncio
from time import monotonic, process_time
from typing import Any

from textual import events
from textual.app import App
from textual.widget import Widget
from textual.widgets import Input, TextArea

from chatroute.tui.textual_compat import pump_busy

# Safety nets, far beyond a screen's mount: a key is delivered anyway once the app has spent
# this much CPU without settling (a stream rendering flat out), or this much time (a handler
# awaiting something slow). CPU, not wall time, is the first measure: on a loaded machine a
# mount can take half a second of wall time while the app waits for a core.
MAX_HOLD_CPU_S = 0.3
MAX_HOLD_S = 2.0
# Nothing in hand this many polls in a row: a message on its way between two pumps (a
# call_later, a bubbling key) is in neither for a moment.
QUIET_POLLS = 3
POLL_S = 0.001

# Editing keys that never move focus out of a text field.
_EDITING_KEYS = frozenset({"backspace", "delete", "left", "right", "home", "end", "ctrl+left", "ctrl+right",
                           "shift+left", "shift+right", "ctrl+w", "ctrl+u", "ctrl+k", "ctrl+z", "ctrl+y"})


Gated = events.Key | events.Paste


def is_typing(event: Gated, focused: Widget | None) -> bool:
    """`event` only edits the text field that has focus. Enter in a text area (a newline, or the
    composer's send) leaves focus where it is; in a one-line Input it submits, which may move it."""
    if not isinstance(focused, (Input, TextArea)) or (isinstance(focused, TextArea) and focused.read_only):
        return False
    if isinstance(event, events.Paste) or event.is_printable or event.key in _EDITING_KEYS:
        return True
    return isinstance(focused, TextArea) and event.key == "enter"


def _again(event: Gated) -> Gated:
    """A fresh copy: the held event went through the app's dispatch once already. It keeps the
    time it was typed at: how long it was held is not how long the user paused."""
    again = events.Paste(event.text) if isinstance(event, events.Paste) else events.Key(event.key, event.character)
    again.time = event.time
    return again


class KeyGate:
    def __init__(self, app: App[Any]) -> None:
        self._app = app
        self._held: list[Gated] | None = None
        self._release: asyncio.Task[None] | None = None

    def holds(self, event: Gated) -> bool:
        """Keep `event` back if an earlier key has not landed yet; True when it was kept."""
        if self._held is None:
            return False
        self._held.append(event)
        return True

    def handled(self, event: Gated, focused_before: Widget | None) -> None:
        """`event` has just been handed on, with `focused_before` focused when it was read."""
        if self._held is not None or is_typing(event, focused_before):
            return
        self._hold_from_now()

    def hold(self, event: Gated) -> None:
        """Keep `event` itself back, with the keys behind it, until the app settles."""
        if self._held is None:
            self._hold_from_now()
        assert self._held is not None
        self._held.append(event)

    def _hold_from_now(self) -> None:
        self._held = []
        self._release = asyncio.create_task(self._release_when_settled())

    def _drained(self) -> bool:
        app = self._app
        if pump_busy(app):
            return False
        return not any(pump_busy(screen) or any(pump_busy(w) for w in screen.walk_children(Widget))
                       for screen in app.screen_stack)

    async def _release_when_settled(self) -> None:
        deadline, cpu_deadline = monotonic() + MAX_HOLD_S, process_time() + MAX_HOLD_CPU_S
        quiet = 0
        try:
            while quiet < QUIET_POLLS and monotonic() < deadline and process_time() < cpu_deadline:
                await asyncio.sleep(POLL_S)
                quiet = quiet + 1 if self._drained() else 0
        finally:
            held, self._held = self._held or [], None
            for event in held:
                again = _again(event)
                again.set_sender(self._app)
                self._app.post_message(again)

    def close(self) -> None:
        """The app is closing: nothing is left to release."""
        if self._release is not None:
            self._release.cancel()
