"""Conversation list plus history search (results replace the list while a query is active)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from chatroute.tui.data import conv_id, conv_title, hit_fields

if TYPE_CHECKING:
    from chatroute.store.records import Conversation, SearchHit


class ConversationList(OptionList):
    BINDINGS = [
        Binding("delete", "delete", "Delete conversation"),
        Binding("r", "rename", "Rename conversation"),
    ]

    def _highlighted_id(self) -> str | None:
        if self.highlighted is None:
            return None
        return self.get_option_at_index(self.highlighted).id

    def action_delete(self) -> None:
        cid = self._highlighted_id()
        if cid:
            self.post_message(Sidebar.DeleteConversation(cid))

    def action_rename(self) -> None:
        cid = self._highlighted_id()
        if cid:
            self.post_message(Sidebar.RenameConversation(cid))


class SearchResults(OptionList):
    pass


class Sidebar(Vertical):
    DEFAULT_CSS = """
    Sidebar { width: 30; height: 1fr; border-right: vkey $primary 40%; }
    Sidebar > .sidebar-title { color: $text-muted; padding: 0 1; height: 1; }
    Sidebar > Input { display: none; margin: 0; }
    Sidebar.-searching > Input { display: block; }
    Sidebar > SearchResults { display: none; height: 1fr; }
    Sidebar.-searching > SearchResults { display: block; }
    Sidebar.-searching > ConversationList { display: none; }
    Sidebar > OptionList { border: none; height: 1fr; }
    Sidebar > ConversationList { text-wrap: nowrap; text-overflow: ellipsis; }
    """

    class OpenConversation(Message):
        """Open a listed conversation, or a search hit's (at `message_id`)."""

        def __init__(self, conversation_id: str, message_id: str | None = None) -> None:
            super().__init__()
            self.conversation_id = conversation_id
            self.message_id = message_id

    class DeleteConversation(Message):
        """Delete on a listed conversation (the chat screen asks first)."""

        def __init__(self, conversation_id: str) -> None:
            super().__init__()
            self.conversation_id = conversation_id

    class RenameConversation(Message):
        """r on a listed conversation."""

        def __init__(self, conversation_id: str) -> None:
            super().__init__()
            self.conversation_id = conversation_id

    def compose(self) -> ComposeResult:
        yield Static("Conversations", classes="sidebar-title")
        yield Input(placeholder="search history…", id="search")
        yield ConversationList(id="conversations")
        yield SearchResults(id="results")

    def set_conversations(self, convs: list[Conversation], current: str | None) -> None:
        ol = self.query_one(ConversationList)
        ol.clear_options()
        ol.add_options([Option(Text(conv_title(c), overflow="ellipsis", no_wrap=True), id=conv_id(c)) for c in convs])
        if current is not None:
            try:
                ol.highlighted = ol.get_option_index(current)
            except Exception:  # the current one may be gone (deleted)
                pass

    def open_search(self) -> None:
        self.add_class("-searching")
        self.query_one(Input).focus()

    def close_search(self) -> None:
        self.remove_class("-searching")
        self.query_one(Input).value = ""
        self.query_one(SearchResults).clear_options()

    def show_results(self, hits: list[SearchHit]) -> None:
        res = self.query_one(SearchResults)
        res.clear_options()
        opts = []
        for hit in hits:
            cid, mid, snippet, title = hit_fields(hit)
            # The title on one line, cut with …: a title renamed to a paragraph filled the list.
            label = Group(Text(title, style="bold", no_wrap=True, overflow="ellipsis"),
                          Text(snippet.replace("\n", " ")[:120]))
            opts.append(Option(label, id=f"{cid}\x1f{mid}"))
        if not opts:
            opts.append(Option(Text("no matches", style="dim"), id="none", disabled=True))
        res.add_options(opts)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        res = self.query_one(SearchResults)
        # With no hits (only the disabled "no matches"), the query keeps the focus to be edited.
        if any(not option.disabled for option in res.options):
            res.focus()
            res.highlighted = 0

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        oid = event.option.id or ""
        if isinstance(event.option_list, SearchResults):
            if "\x1f" in oid:
                cid, mid = oid.split("\x1f", 1)
                self.post_message(self.OpenConversation(cid, mid))
        elif oid:
            self.post_message(self.OpenConversation(oid))
