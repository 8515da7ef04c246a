"""Textual's Footer without its memory leak, with F1 Help first.

Footer rebuilds its keys (recompose) whenever the focused widget's bindings change, which in
the chat is every move between messages and every page of a long conversation. Each key is
data-bound to the footer's `compact` reactive, and Textual only forgets the watchers of removed
widgets when `compact` itself changes, which it never does: every focus change kept ~a dozen
dead widgets (thousands of objects) alive for good, which grew memory and every full garbage
collection pause.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer

from chatroute.tui.textual_compat import drop_dead_watchers


class ChatFooter(Footer):
    def compose(self) -> ComposeResult:
        # An 80-column terminal shows about seven of the chat's keys and cuts the rest; F1 first
        # (as htop and Midnight Commander place it) keeps the key that names all the others.
        keys = list(super().compose())
        keys.sort(key=lambda key: getattr(key, "action", None) != "help")
        yield from keys

    async def recompose(self) -> None:
        await super().recompose()
        drop_dead_watchers(self)  # the keys the recompose removed
