"""The TUI when chatroute cannot start: what is wrong, shown in a dialog with the file's path,
instead of a traceback on a screen that is about to be wiped."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.markup import escape
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from chatroute.safetext import strip_terminal_controls

EXIT_CODE = 2  # bad input by the CLI contract, as the same fault gives on the command line


class StartupFailureScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    StartupFailureScreen { align: center middle; }
    StartupFailureScreen > Vertical { width: 80; max-width: 95%; height: auto; border: thick $error;
                                      background: $surface; padding: 1 2; }
    StartupFailureScreen #failure-path { color: $warning; margin: 1 0; }
    """
    BINDINGS = [Binding("enter,escape,q,ctrl+q", "app.quit_failed", "Quit")]

    def __init__(self, title: str, fault: str, path: Path | None) -> None:
        super().__init__()
        self.title_text, self.fault, self.path = title, fault, path

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"[b]{escape(self.title_text)}[/b]", id="failure-title")
            if self.path is not None:
                yield Static(escape(str(self.path)), id="failure-path")
            yield Static(escape(self.fault), id="failure-fault")
            yield Static("[b]enter[/b]/q quit", classes="hint")


class StartupFailureApp(App[int]):
    def __init__(self, title: str, fault: str, path: Path | None) -> None:
        super().__init__()
        self._failure = StartupFailureScreen(title, strip_terminal_controls(fault), path)

    def on_mount(self) -> None:
        self.push_screen(self._failure)

    def action_quit_failed(self) -> None:
        self.exit(EXIT_CODE, return_code=EXIT_CODE)


def database_failure_app(exc: Exception) -> StartupFailureApp:
    """The dialog for a database chatroute cannot use (a DatabaseFileError)."""
    path = getattr(exc, "path", None)
    fault = getattr(exc, "fault", None) or str(exc)
    return StartupFailureApp("chatroute cannot open its database", fault, path)


def run_failure(app: StartupFailureApp, line: str) -> int:
    """Show the dialog, then leave the same one line on stderr (it outlives the screen)."""
    app.run()
    print(f"chatroute: error: {line}", file=sys.stderr)
    return EXIT_CODE
