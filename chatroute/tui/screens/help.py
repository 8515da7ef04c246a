"""Help: every key binding, generated from the BINDINGS of each screen and widget so the list
cannot drift from what the keys really do. The app's own bindings come from the running app
(or the class given), so this module does not import the app that opens it."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from chatroute.tui.widgets.footer import KeysFooter

# Keys that work without a binding of chatroute's own (a stock widget's key, or one the widget
# handles as it arrives), so that help still names every key: (key, what it does) per section.
OTHER_KEYS: dict[str, list[tuple[str, str]]] = {
    "Composer": [("up", "On the first line: to the newest message")],
    "Compare": [("space", "Tick or untick a model"), ("enter", "In the prompt: start")],
}


def binding_sections(app_type: type[App[Any]]) -> list[tuple[str, list[Binding]]]:
    """(section, bindings) for every place chatroute defines keys; `app_type` is the app's class."""
    from chatroute.tui.screens.chat import ChatScreen
    from chatroute.tui.screens.compare import CompareScreen
    from chatroute.tui.screens.costs import CostsScreen
    from chatroute.tui.screens.models import ModelPicker
    from chatroute.tui.widgets.chat_view import ChatView
    from chatroute.tui.widgets.composer import Composer
    from chatroute.tui.widgets.message import AssistantMessage, MessageWidget
    from chatroute.tui.widgets.sidebar import ConversationList, SearchBox

    palette = Binding(App.COMMAND_PALETTE_BINDING, "command_palette", "Command palette")
    sections: list[tuple[str, list[Any]]] = [
        ("Everywhere", [*App.BINDINGS, palette, *app_type.BINDINGS]),
        ("Chat", ChatScreen.BINDINGS),
        ("Composer", Composer.BINDINGS),
        ("Any message", [*MessageWidget.BINDINGS, *ChatView.BINDINGS]),
        ("Assistant message", AssistantMessage.BINDINGS),
        ("Conversation list", ConversationList.BINDINGS),
        ("Search box", SearchBox.BINDINGS),
        ("Model picker", ModelPicker.BINDINGS),
        ("Compare", CompareScreen.BINDINGS),
        ("Costs", CostsScreen.BINDINGS),
    ]
    out = []
    for name, bindings in sections:
        clean = [b for b in bindings if isinstance(b, Binding) and b.description]
        out.append((name, clean))
    return out


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 90; max-width: 100%; height: 90%; border: thick $primary;
                                  background: $surface; padding: 0 1; }
    """
    BINDINGS = [Binding("escape,f1,q", "app.pop_screen", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(self._render_keys(), id="help-keys")
        yield KeysFooter()  # this screen's keys: the chat's footer under it names keys that do nothing here

    def _render_keys(self) -> Table:
        table = Table(box=None, expand=True, show_header=False, pad_edge=False)
        table.add_column("key", style="bold", width=22)
        table.add_column("action")
        # The list is longer than a screen: how to leave it goes at its top, where it is read.
        table.add_row(Text("chatroute — keys", style="bold"), Text(self._close_keys(), style="dim"))
        for section, bindings in binding_sections(type(self.app)):
            table.add_row("", "")
            table.add_row(Text(section, style="underline"), "")
            for b in bindings:
                keys = ", ".join(self.app.get_key_display(Binding(k.strip(), b.action)) for k in b.key.split(","))
                table.add_row(keys, b.description)
            for key, what in OTHER_KEYS.get(section, []):
                table.add_row(self.app.get_key_display(Binding(key, "")), what)
            if section == "Composer":  # not a key, but typed there
                table.add_row("@model prompt", "send this one prompt to that model (override)")
        table.add_row("", "")
        table.add_row("", Text("Every action is also in the command palette (ctrl+p).", style="dim"))
        return table

    def _close_keys(self) -> str:
        """'esc, f1 or q closes this help', from this screen's own binding."""
        keys = [self.app.get_key_display(Binding(k.strip(), "")) for b in self.BINDINGS if isinstance(b, Binding)
                and b.action == "app.pop_screen" for k in b.key.split(",")]
        named = ", ".join(keys[:-1]) + f" or {keys[-1]}" if len(keys) > 1 else "".join(keys)
        return f"{named} closes this help"

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()
