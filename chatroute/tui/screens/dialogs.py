"""Small modal dialogs: confirm (delete; spending past a budget cap) and a one-line text
prompt (rename)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class ConfirmScreen(ModalScreen[bool]):
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical {
        width: 60; max-width: 95%; height: auto; border: thick $error; background: $surface; padding: 1 2;
    }
    """
    BINDINGS = [
        Binding("y,enter", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            # The question quotes a conversation's title, the user's own words: shown as written.
            yield Static(self.question, markup=False)
            yield Static("[b]y[/b] yes · [b]n[/b]/esc no", classes="hint")

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
            yield Input(value=self.value, id="prompt-input")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class OverBudgetScreen(ConfirmScreen, inherit_bindings=False):
    """"Daily budget $2.00 reached (spent $2.13). Send anyway on gpt-4o-mini?" Only `y` says
    yes: an Enter meant for the composer must not spend past the cap."""

    DEFAULT_CSS = """
    OverBudgetScreen > Vertical { border: thick $warning; }
    """
    BINDINGS = [
        Binding("y", "answer(True)", "Send anyway"),
        Binding("n,escape", "answer(False)", "Don't send"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question, id="over-budget-question", markup=False)
            yield Static("[b]y[/b] send anyway · [b]n[/b]/esc keep it in the composer", classes="hint")
