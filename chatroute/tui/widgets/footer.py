"""Textual's Footer without its memory leak, showing the keys that fit, whole, most important
first: the chat's and every other screen's (a costs screen or the model picker at 40 columns
cut "f1 Help" to "f1 He" as the chat's footer once did).

Footer rebuilds its keys (recompose) whenever the focused widget's bindings change, which in
the chat is every move between messages and every page of a long conversation. Each key is
data-bound to the footer's `compact` reactive, and Textual only forgets the watchers of removed
widgets when `compact` itself changes, which it never does: every focus change kept ~a dozen
dead widgets (thousands of objects) alive for good, which grew memory and every full garbage
collection pause.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Footer

from chatroute.tui.textual_compat import FooterKey, drop_dead_watchers

# F1 first (as htop and Midnight Commander place it): it names all the others. Then the keys of
# what has the focus that are not the chat's own (the search box's Esc, a message's keys): what
# the user can do where they are. Then sending, the product's own keys (which model, side by
# side, where the money went), and the rest.
ORDER = (
    "submit", "newline", "pick_model", "compare", "costs",
    "new_conversation", "search", "cycle_preset", "export",
)
# A key's cells beyond its key and description: Footer draws " ^e Export " (the command palette's
# key "▏^p palette "), and in compact style "^e Export" and a space.
PADDING = 3
COMPACT_PADDING = 2


def _rank(widget: Widget) -> int:
    action = getattr(widget, "action", None)
    name = action.rsplit(".", 1)[-1] if isinstance(action, str) else None
    if name == "help":
        return -1
    return ORDER.index(name) + 1 if name in ORDER else 0


def _cells(key: FooterKey, padding: int) -> int:
    return cell_len(key.key_display) + cell_len(key.description) + padding


class KeysFooter(Footer):
    def compose(self) -> ComposeResult:
        keys = list(super().compose())
        palette = [k for k in keys if k.has_class("-command-palette")]
        others = sorted((k for k in keys if k not in palette), key=_rank)
        self._fitted_to = self.app.size.width
        width = self._fitted_to - sum(_cells(k, PADDING) for k in palette if isinstance(k, FooterKey))
        full = self._fit(others, width, PADDING)
        # Before Textual cut a key mid-word ("^f S"): close up the spacing first, then leave out
        # whole keys from the least important; F1 Help lists every one of them.
        self.compact = len(full) < len(others)
        yield from (self._fit(others, width, COMPACT_PADDING) if self.compact else full)
        yield from palette

    @staticmethod
    def _fit(keys: Iterable[Widget], width: int, padding: int) -> list[Widget]:
        shown: list[Widget] = []
        used = 0
        for key in keys:
            cells = _cells(key, padding) if isinstance(key, FooterKey) else 0
            if isinstance(key, FooterKey) and used + cells > width and shown:
                break
            shown.append(key)
            used += cells
        return shown

    async def recompose(self) -> None:
        await super().recompose()
        drop_dead_watchers(self)  # the keys the recompose removed

    def on_resize(self, event: events.Resize) -> None:
        if event.size.width != self._fitted_to:
            self._fitted_to = event.size.width
            self.call_after_refresh(self.recompose)

    _fitted_to = 0
