"""Small modal dialogs: confirm (delete; spending past a budget cap) and a one-line text
prompt (rename)."""

from __future__ import annotations

from collections.abc import Callable

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from chatroute.tui.textual_compat import message_clock
from chatroute.tui.widgets.footer import KeysFooter
from chatroute.tui.widgets.plain_input import PlainInput


class ConfirmScreen(ModalScreen[bool]):
    """"Delete “…”? This cannot be undone." Only `y` says yes, and only a `y` pressed after a
    pause: Delete pressed in the list by someone who thought they were editing the composer,
    then "why …" typed on, must not delete the conversation on its y. Enter is no answer either
    (an Enter meant for the composer or the list). A character that comes less than
    TYPING_GAP_S after the question opened or after the key before it is typing the question
    interrupted: it goes to `typed` when there is somewhere for it to go, and never answers."""

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical {
        width: 60; max-width: 95%; height: auto; max-height: 100%; border: thick $error; background: $surface;
        padding: 1 2;
    }
    /* A question too long for the screen (a title can be any length) is clipped, not the keys. */
    ConfirmScreen #dialog-keys { dock: bottom; height: auto; }
    """
    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
        # A dialog ends the binding chain before the app's own ? (F1 is a priority binding); the
        # help lists ? once, under Everywhere.
        Binding("question_mark", "app.help", show=False),
    ]
    # Longer than the gap between two keys of someone typing, shorter than reading the question.
    TYPING_GAP_S = 0.5
    _ANSWER_KEYS = frozenset({"y", "n"})
    # Keys that answer nothing, so typing cannot do harm with them: they work at once.
    _HARMLESS_KEYS = frozenset({"question_mark"})

    def __init__(self, question: str, typed: Callable[[str], object] | None = None) -> None:
        super().__init__()
        self.question = question
        self._typed = typed
        self._last_key_at = message_clock()

    def on_mount(self) -> None:
        self._last_key_at = message_clock()

    def on_key(self, event: events.Key) -> None:
        # When it was typed, not when it came: a key held while this screen mounted (a loaded
        # machine) is as much in the flow of typing as when it was pressed.
        typed_at = min(event.time, message_clock())
        in_flow = typed_at - self._last_key_at < self.TYPING_GAP_S
        self._last_key_at = max(typed_at, self._last_key_at)
        if event.key in self._HARMLESS_KEYS or not (event.is_printable and event.character):
            return
        if in_flow or event.key not in self._ANSWER_KEYS:
            event.stop()
            event.prevent_default()
            if self._typed is not None:
                self._typed(event.character)

    def compose(self) -> ComposeResult:
        with Vertical():
            # The question quotes a conversation's title, the user's own words: shown as written.
            yield Static(self.question, markup=False)
            with Vertical(id="dialog-keys"):
                yield Static("[b]y[/b] yes · [b]n[/b]/esc no", classes="hint")
        # A dialog's own keys: the chat's footer under it names keys that do nothing here.
        yield KeysFooter()

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class PromptScreen(ModalScreen[str | None]):
    DEFAULT_CSS = """
    PromptScreen { align: center middle; }
    PromptScreen > Vertical {
        width: 60; max-width: 95%; height: auto; border: thick $primary; background: $surface; padding: 1 2;
    }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, label: str, value: str = "") -> None:
        super().__init__()
        self.label, self.value = label, value

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.label, markup=False)
            yield PlainInput(value=self.value, id="prompt-input")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class OverBudgetScreen(ConfirmScreen, inherit_bindings=False):
    """"Daily budget $2.00 reached (spent $2.13). Send anyway on gpt-4o-mini?" Answered as a
    ConfirmScreen is; what is typed on goes back to the composer (`typed`), so a key typed is
    never dropped."""

    DEFAULT_CSS = """
    OverBudgetScreen > Vertical { border: thick $warning; }
    """
    BINDINGS = [
        Binding("y", "answer(True)", "Send anyway"),
        Binding("n,escape", "answer(False)", "Don't send"),
    ]
    _HARMLESS_KEYS: frozenset[str] = frozenset()

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question, id="over-budget-question", markup=False)
            with Vertical(id="dialog-keys"):
                yield Static("[b]y[/b] send anyway · [b]n[/b]/esc keep it in the composer", classes="hint")
        yield KeysFooter()
