"""Conversation list plus history search (results replace the list while a query is active).

The list is read a page at a time, newest first: the next page as the highlight or the scroll
nears its end, the rest at End. Listing every conversation at start-up measured and drew each
one before the first frame, whatever the number."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option, OptionDoesNotExist

from chatroute.tui.data import conv_id, conv_title, hit_fields
from chatroute.tui.widgets.plain_input import PlainInput

if TYPE_CHECKING:
    from chatroute.store.records import Conversation, SearchHit
    from chatroute.tui.data import Backend

PAGE = 200  # conversations read at a time: more than a tall terminal shows, so one page fills the list


class ConversationList(OptionList):
    BINDINGS = [
        Binding("delete", "delete", "Delete conversation"),
        Binding("r", "rename", "Rename conversation"),
    ]

    def __init__(self, backend: Backend, **kw: Any) -> None:
        super().__init__(**kw)
        self.backend = backend
        self._oldest: Conversation | None = None  # the last one listed: the next page starts below it
        self.complete = False  # every conversation is listed
        self._busy = False  # listing: what it moves (highlight, scroll) asks for no page

    def on_mount(self) -> None:
        self.watch(self, "highlighted", self._near_the_end, init=False)
        self.watch(self, "scroll_y", self._near_the_end, init=False)

    def reload(self, current: str | None) -> None:
        """List again from the newest: a page, on down to `current` when it is further, and
        highlight it (the list goes to the open conversation, as it always did; what was read
        below it is read again when scrolled to, not on every turn)."""
        convs = self.backend.conversations(limit=PAGE)
        self._busy = True
        try:
            self.clear_options()
            self._oldest = None
            self._add(convs, PAGE)
        finally:
            self._busy = False
        while current is not None and not self.lists(current) and self.load_more():
            pass
        if current is not None and self.lists(current):
            self.highlighted = self.get_option_index(current)

    def lists(self, conversation_id: str) -> bool:
        try:
            self.get_option(conversation_id)
        except OptionDoesNotExist:
            return False
        return True

    def _add(self, convs: list[Conversation], asked: int | None) -> None:
        # A conversation is never read twice (see Store.list_conversations), but an id twice
        # would raise here: listed once is enough.
        self.add_options([Option(Text(conv_title(c), overflow="ellipsis", no_wrap=True), id=conv_id(c))
                          for c in convs if not self.lists(conv_id(c))])
        if convs:
            self._oldest = convs[-1]
        self.complete = asked is None or len(convs) < asked

    def load_more(self, limit: int | None = PAGE) -> bool:
        """List the next `limit` conversations (None: all the rest); False when none was left."""
        if self.complete or self._busy:
            return False
        before = self.option_count
        self._busy = True
        try:
            self._add(self.backend.conversations(limit=limit, after=self._oldest), limit)
        finally:
            self._busy = False
        return self.option_count > before

    def _near_the_end(self) -> None:
        """Within a screen's height of the last one listed (the highlight, or the scroll of a list
        laid out): read the next page, so ↓ and PageDown go on into it instead of stopping or
        wrapping to the top."""
        if self.complete or self._busy:
            return
        height = self.scrollable_content_region.height
        margin = height + 1
        near = self.highlighted is not None and self.highlighted >= self.option_count - margin
        if near or (height > 0 and self.scroll_y >= self.max_scroll_y - margin):
            self.load_more()

    def action_last(self) -> None:
        """End: the oldest conversation, so every one is listed first."""
        self.load_more(limit=None)
        super().action_last()

    def action_cursor_up(self) -> None:
        # ↑ on the first wraps to the last listed, which is not the oldest while more are unread:
        # it reads the rest then, as End does, so the top wraps to the oldest as ↓ there wraps
        # to the newest.
        if self.highlighted == 0 and not self.complete:
            self.action_last()
            return
        super().action_cursor_up()

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


class SearchBox(PlainInput):
    """The history search's query. ↓ goes into the results as Enter does: an arrow is what one
    tries first, and it did nothing. The footer names Enter and Esc, the ways out of the box."""

    BINDINGS = [
        Binding("enter", "submit", "To the results"),
        Binding("down", "submit", "To the results", show=False),
        # The chat's own Esc (it also stops a streaming answer), named here for the footer.
        Binding("escape", "screen.escape", "Close search"),
    ]


class Sidebar(Vertical):
    DEFAULT_CSS = """
    Sidebar { width: 30; height: 1fr; border-right: vkey $primary 40%; }
    Sidebar > .sidebar-title { color: $text-muted; padding: 0 1; height: 1; }
    Sidebar > Input { display: none; margin: 0; }
    Sidebar.-searching > Input { display: block; }
    Sidebar > SearchResults { display: none; height: 1fr; }
    Sidebar.-searching > SearchResults { display: block; }
    Sidebar.-searching > ConversationList { display: none; }
    /* :focus too: Textual's focused OptionList rule (a border) outranks `Sidebar > OptionList`,
       and the press that focused the list moved its rows down a line under the click. */
    Sidebar > OptionList, Sidebar > OptionList:focus { border: none; height: 1fr; }
    Sidebar > ConversationList { text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, backend: Backend, **kw: Any) -> None:
        super().__init__(**kw)
        self.backend = backend

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
        yield SearchBox(placeholder="search history…", id="search")
        yield ConversationList(self.backend, id="conversations")
        yield SearchResults(id="results")

    def reload(self, current: str | None) -> None:
        """List the conversations again (see ConversationList.reload), `current` highlighted."""
        self.query_one(ConversationList).reload(current)

    def newest(self) -> str | None:
        """The most recently active conversation, or None when there is none."""
        options = self.query_one(ConversationList)
        return options.get_option_at_index(0).id if options.option_count else None

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
