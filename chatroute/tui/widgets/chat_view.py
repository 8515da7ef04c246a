"""The chat's virtualised message list: a window of the conversation's shown branch, mounted
and unmounted a batch at a time as the reader scrolls."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from chatroute.tui.data import Backend, Branch, PageItem, error_line, msg_id, msg_role, msg_status, msg_text
from chatroute.tui.textual_compat import drop_rendered_lines
from chatroute.tui.widgets.message import AssistantMessage, MessageWidget, UserMessage


class _Marker(Static):
    DEFAULT_CSS = "_Marker { color: $text-muted; text-align: center; height: 1; }"


class LoadEarlier(_Marker):
    """Above the window: how many older messages are not mounted."""


class LoadLater(_Marker):
    """Below the window: how many newer messages are not mounted (after scrolling far up)."""


class ChatView(VerticalScroll):
    """A window of at most WINDOW messages of the conversation's shown branch.

    Opening mounts only the last OPENING. Reaching the top of the window mounts the previous
    BATCH and unmounts the bottom beyond WINDOW; reaching the bottom does the reverse. So a
    10,000-turn conversation opens, scrolls and sits in memory like a short one: Textual lays
    out every mounted widget on each change, and each widget is a few hundred Python objects
    that every full garbage collection walks, so an ever-growing DOM would make each step of a
    long scroll slower (and its pauses longer) and eat memory.

    Messages sent in this session are mounted after the window ("live": not in `branch` yet);
    `branch` is re-read from the store when the window has to move past them.
    """

    OPENING = 20  # messages mounted when a conversation opens
    # ...and no more text than this, past the one message a step always mounts: a long answer
    # is drawn whole (hundreds of lines), and ten of them took seconds to open, with nothing
    # on screen meanwhile. Ordinary answers fit OPENING of them.
    MOUNT_CHARS = 40_000
    BATCH = 10  # messages mounted per step past either end of the window (a small step is a short pause)
    WINDOW = 40  # at most this many mounted
    can_focus = False
    # With a message focused (shift+tab from the composer), on top of the scroll keys:
    BINDINGS = [
        Binding("ctrl+home", "jump_first", "First message", show=False),
        Binding("ctrl+end,end", "scroll_end", "Latest message", show=False),
        Binding("pageup", "page_up", "Page up (older messages load at the top)", show=False),
    ]

    def __init__(self, backend: Backend, **kw: Any) -> None:
        super().__init__(**kw)
        self.backend = backend
        self.branch = Branch.empty(backend)
        self.start = 0  # branch[start:end] is mounted (then any live messages)
        self.end = 0
        self._loading = False
        self._generation = 0  # bumped by show(): a load still running for the old one stops
        self._settling = False  # show() replaced the content: scroll moves now are not the reader's
        # The answer being written (set by the chat screen while its turn runs): the stream
        # writes into this widget, so no re-show or trim may unmount it.
        self.writing: AssistantMessage | None = None

    def compose(self) -> ComposeResult:
        for marker in (LoadEarlier(""), LoadLater("")):
            marker.display = False
            yield marker

    def _make(self, item: PageItem) -> MessageWidget:
        msg, record, sibling = item
        mid = msg_id(msg)
        if msg_role(msg) == "assistant":
            return AssistantMessage(mid, msg_text(msg), record=record, status=msg_status(msg), sibling=sibling)
        return UserMessage(mid, msg_text(msg))

    def _update_markers(self) -> None:
        earlier, later = self.query_one(LoadEarlier), self.query_one(LoadLater)
        earlier.update(f"↑ {self.start:,} earlier messages — scroll up or press Home to load")
        earlier.display = self.start > 0
        below = len(self.branch) - self.end
        later.update(f"↓ {below:,} later messages — scroll down, or End for the latest")
        later.display = below > 0

    async def remove_messages(self, widgets: list[MessageWidget]) -> None:
        """Unmount messages, dropping their rendered lines first.

        An unmounted widget is cyclic garbage that only a full collection frees, and Textual
        clears its other caches on removal but not the rendered lines (each line a Strip with
        seven small caches of its own): most of the garbage by count. Dropped here, they are
        freed at once, so the full collection that comes later (chatroute/tui/collector.py)
        has far less to walk and memory grows more slowly while paging.
        """
        drop_rendered_lines(widgets)
        await self.remove_children(widgets)

    def _windowed(self) -> list[MessageWidget]:
        """The mounted messages of branch[start:end] (the live ones excluded)."""
        return self.messages()[: self.end - self.start]

    def _live(self) -> list[MessageWidget]:
        return self.messages()[self.end - self.start:]

    async def show(self, branch: Branch, focus_id: str | None = None, *, first: bool = False) -> None:
        """Mount the last OPENING messages of `branch` (or the first ones, or some around
        `focus_id`)."""
        self._generation += 1
        self._loading = False
        self._settling = True
        for group in ("load-earlier", "load-later", "fill"):
            self.workers.cancel_group(self, group)
        self.branch = branch
        end = len(branch)
        start = max(0, end - self.OPENING)
        idx = None if focus_id is None else branch.index(focus_id)
        from_top = first or (idx is not None and idx - 3 < start)  # the reader is at the page's top
        if first:
            start, end = 0, min(end, self.OPENING)
        elif from_top and idx is not None:
            start = max(0, idx - 3)
            end = min(len(branch), start + self.OPENING)
        page = branch.page(start, end)
        if from_top:
            page = page[: _fitting(page, must=1 if idx is None else idx - start + 1)]
            end = start + len(page)
        else:
            page = page[len(page) - _fitting(page[::-1], must=1 if idx is None else end - idx):]
            start = end - len(page)
        self.start, self.end = start, end
        # Each Markdown parses in a thread and mounts its blocks on its own; without the batch
        # the screen re-lays out every mounted message once per answer (~10 layouts a batch).
        # Removed and mounted in one batch: a frame without messages would clamp the scroll
        # to 0, which reads as the reader reaching the top.
        with self.app.batch_update():
            await self.remove_messages(self.messages())
            await self.mount_all([self._make(item) for item in page], before=self.query_one(LoadLater))
            self._update_markers()
        self.call_after_refresh(self._settle)

    def _settle(self) -> None:
        self._settling = False

    def watch_virtual_size(self) -> None:
        self.call_after_refresh(self._fill_viewport)  # once the layout is complete

    def _fill_viewport(self) -> None:
        """Short messages that do not fill the view cannot be scrolled, so scrolling could
        never reach an end to load more: load until they do (or nothing is left)."""
        if self.max_scroll_y > 0 or self._loading or not self.is_attached:
            return
        load = self.load_earlier if self.start > 0 else self.load_later if self.end < len(self.branch) else None
        if load is not None:
            self._spawn(load, "fill", then=lambda: self.call_after_refresh(self._fill_viewport))

    def _spawn(self, load: Callable[[], Awaitable[bool]], group: str,
               then: Callable[[], object] | None = None) -> None:
        """Run a load in the background; a failing read is a notice, never a crash."""

        async def run() -> None:
            try:
                if await load() and then is not None:
                    then()
            except Exception as exc:
                detail = error_line(exc)
                self.notify(f"Could not load messages: {detail}", severity="error", timeout=5, markup=False)

        self.run_worker(run(), group=group, exit_on_error=False)

    async def show_latest(self) -> None:
        """Jump to the newest messages (End, and before a new message is added)."""
        if self.end < len(self.branch):
            await self.show(self.branch)
        self.scroll_end(animate=False)

    async def load_earlier(self) -> bool:
        return await self._load(earlier=True)

    async def load_later(self) -> bool:
        return await self._load(earlier=False)

    async def _load(self, *, earlier: bool) -> bool:
        """Mount the next BATCH past one end of the window and trim the other end, keeping the
        message at the edge the reader came from where it was on screen."""
        at_end = self.start == 0 if earlier else self.end >= len(self.branch)
        if at_end or self._loading or not self.is_attached:
            return False
        self._loading = True
        generation = self._generation
        try:
            if earlier:
                lo, hi = max(0, self.start - self.BATCH), self.start
                anchor = next(iter(self.query(MessageWidget)), None)
            else:
                lo, hi = self.end, min(len(self.branch), self.end + self.BATCH)
                windowed = self._windowed()
                anchor = windowed[-1] if windowed else None
            place = self._place_of(anchor)
            page = self.branch.page(lo, hi)
            if earlier:  # the messages next to the window first
                page = page[len(page) - _fitting(page[::-1]):]
                lo = hi - len(page)
            else:
                page = page[: _fitting(page)]
                hi = lo + len(page)
            widgets = [self._make(item) for item in page]
            with self.app.batch_update():  # one layout for the whole batch, see show()
                if earlier:
                    await self.mount_all(widgets, after=self.query_one(LoadEarlier))
                elif anchor is not None:
                    await self.mount_all(widgets, after=anchor)
                else:
                    await self.mount_all(widgets, before=self.query_one(LoadLater))
                if generation != self._generation:
                    return False  # another conversation was shown meanwhile
                if earlier:
                    self.start = lo
                else:
                    self.end = hi
                await self._trim(bottom=earlier, keep=anchor)
                self._update_markers()
            self._keep_place(anchor, place)
            return True
        finally:
            if generation == self._generation:
                self._loading = False

    async def _trim(self, *, bottom: bool, keep: MessageWidget | None) -> None:
        """Unmount messages beyond WINDOW from the far end of the window."""
        excess = self.end - self.start - self.WINDOW
        if excess <= 0:
            return
        if bottom and self._live() and not self._adopt_live():
            return  # a turn is still being written: keep everything until it is stored
        windowed = self._windowed()
        doomed = windowed[-excess:] if bottom else windowed[:excess]
        if self.writing in doomed:
            return  # adopted, but still streaming: it goes out once it is stored
        if self.app.focused in doomed and keep is not None:
            keep.focus(scroll_visible=False)  # focus stays where the reader is
        await self.remove_messages(doomed)
        if bottom:
            self.end -= excess
        else:
            self.start += excess

    def _adopt_live(self) -> bool:
        """Re-read the branch so messages sent in this session become part of the window."""
        fresh = Branch(self.backend, self.branch.conversation_id)
        mounted = [w.message_id for w in self.messages()]
        if fresh.ids[self.start:self.start + len(mounted)] != mounted:
            return False
        self.branch, self.end = fresh, self.start + len(mounted)
        self.move_child(self.query_one(LoadLater), after=self.messages()[-1])
        return True

    def cut_after(self, widget: MessageWidget) -> list[MessageWidget]:
        """The messages below `widget` (a regenerated answer replaces them); the branch ends
        at `widget` from now on."""
        widgets = self.messages()
        pos = widgets.index(widget)
        if pos < self.end - self.start:
            self.branch = self.branch.truncated(self.start + pos + 1)
            self.end = self.start + pos + 1
            self._update_markers()
        return widgets[pos + 1:]

    def _place_of(self, anchor: MessageWidget | None) -> float:
        return 0.0 if anchor is None else anchor.virtual_region.y - self.scroll_y

    def _keep_place(self, anchor: MessageWidget | None, place: float) -> None:
        """After mounting above or unmounting above, put `anchor` back where the reader saw it."""
        if anchor is None or not anchor.is_attached:
            return

        def restore() -> None:
            if anchor.is_attached:
                self.scroll_to(y=anchor.virtual_region.y - place, animate=False, immediate=True)

        self.call_after_refresh(restore)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if self._settling:
            return
        if new_value <= 0 < old_value and self.start > 0:
            self._spawn(self.load_earlier, "load-earlier")
        elif old_value < new_value >= self.max_scroll_y and self.end < len(self.branch):
            self._spawn(self.load_later, "load-later")

    # [override]: Widget declares this action sync, but Textual awaits an action that returns an
    # awaitable, and End may have to re-mount the window before it can scroll.
    async def action_scroll_end(self) -> None:  # type: ignore[override]  # End (or ctrl+end) on a focused message
        if self.end < len(self.branch):
            await self._jump(first=False)
        else:
            self.scroll_end(animate=False)

    async def action_jump_first(self) -> None:
        if self.start > 0:
            await self._jump(first=True)
        self.scroll_home(animate=False)

    async def _jump(self, *, first: bool) -> None:
        """Re-mount the window at one end of the conversation; a focused message hands focus
        to the message at that end, so the keys keep working."""
        if self.writing is not None and self.writing.is_attached:
            # Re-showing would unmount the answer being written: it would stream on out of sight.
            if first:
                self.notify("Stop the answer first (Esc), then go to the first message", severity="warning",
                            timeout=4, markup=False)
            else:
                self.scroll_end(animate=False)
            return
        if self._live():
            # Messages sent since the branch was read: read it again, or the re-shown window
            # would end before them.
            self.branch = Branch(self.backend, self.branch.conversation_id)
        refocus = isinstance(self.app.focused, MessageWidget)
        if first:
            await self.show(self.branch, first=True)
        else:
            await self.show_latest()
        widgets = self.messages()
        if refocus and widgets:
            (widgets[0] if first else widgets[-1]).focus(scroll_visible=False)

    # Not `_move_focus` on the screen: that is Screen's Tab/shift+tab machinery.
    async def focus_step(self, widget: MessageWidget, delta: int) -> bool:
        """Focus the message `delta` (±1) away from `widget`, loading the next batch past
        either end of the window. False below the last message of the conversation."""
        widgets = self.messages()
        idx = widgets.index(widget) + delta
        if idx < 0:
            if not await self.load_earlier():
                return True  # the first message: focus stays
            widgets = self.messages()
            idx = widgets.index(widget) - 1
        if idx >= len(widgets):
            if not await self.load_later():
                return False
            widgets = self.messages()
            idx = widgets.index(widget) + 1
        widgets[idx].focus()
        widgets[idx].scroll_visible(animate=False)
        return True

    def user_before(self, widget: MessageWidget) -> UserMessage | None:
        """The prompt `widget` answers: the nearest user message above it."""
        widgets = self.messages()
        for w in reversed(widgets[: widgets.index(widget)]):
            if isinstance(w, UserMessage):
                return w
        return None

    def messages(self) -> list[MessageWidget]:
        return list(self.query(MessageWidget))

    def find(self, message_id: str) -> MessageWidget | None:
        for w in self.query(MessageWidget):
            if w.message_id == message_id:
                return w
        return None


def _fitting(page: list[PageItem], *, must: int = 1) -> int:
    """How many of `page`, from its start, to mount: at least `must`, then while their text
    stays within ChatView.MOUNT_CHARS."""
    total = 0
    for n, (msg, _, _) in enumerate(page):
        total += len(msg_text(msg))
        if n >= must and total > ChatView.MOUNT_CHARS:
            return n
    return len(page)
