"""The main screen: sidebar, the conversation (lazily mounted), the composer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Header, Input, Static
from textual.worker import Worker, WorkerState

from chatroute.tui.data import (
    Backend,
    Branch,
    PageItem,
    conv_title,
    error_line,
    msg_id,
    msg_role,
    msg_status,
    msg_text,
    short_model,
)
from chatroute.tui.screens.chat_keys import ChatKeys
from chatroute.tui.screens.dialogs import ConfirmScreen, OverBudgetScreen, PromptScreen
from chatroute.tui.widgets.composer import Composer
from chatroute.tui.widgets.footer import ChatFooter
from chatroute.tui.widgets.message import AssistantMessage, MessageWidget, UserMessage
from chatroute.tui.widgets.sidebar import ConversationList, Sidebar
from chatroute.turn_events import CacheHit, Delta, Rerouted, Routed, TurnFinished, TurnStarted

if TYPE_CHECKING:
    from chatroute.routing.budget import BudgetBlock

NARROW = 100  # below this width the sidebar collapses unless the user opened it


def budget_status_text(budget: dict[str, Any]) -> str:
    """The status bar's budget warning (shown from 80%): `⚠ budget 85% used`, `⛔ budget reached`."""
    if budget.get("level") == "over":
        return "⛔ budget reached: new turns ask first"
    return f"⚠ budget {float(budget.get('fraction') or 0.0):.0%} used: stepping down to cheaper models"


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
    BATCH = 10  # messages mounted per step past either end of the window (a small step is a short pause)
    WINDOW = 40  # at most this many mounted
    can_focus = False
    # With a message focused (shift+tab from the composer), on top of the scroll keys:
    BINDINGS = [
        Binding("ctrl+home", "jump_first", "First message", show=False),
        Binding("ctrl+end", "scroll_end", "Latest message", show=False),
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
        for widget in widgets:
            for node in widget.walk_children(Widget, with_self=True):
                node._styles_cache.clear()
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
        if first:
            start, end = 0, min(end, self.OPENING)
        elif focus_id is not None:
            idx = branch.index(focus_id)
            if idx is not None and idx - 3 < start:
                start = max(0, idx - 3)
                end = min(len(branch), start + self.OPENING)
        self.start, self.end = start, end
        # Each Markdown parses in a thread and mounts its blocks on its own; without the batch
        # the screen re-lays out every mounted message once per answer (~10 layouts a batch).
        # Removed and mounted in one batch: a frame without messages would clamp the scroll
        # to 0, which reads as the reader reaching the top.
        with self.app.batch_update():
            await self.remove_messages(self.messages())
            await self.mount_all([self._make(item) for item in branch.page(start, end)],
                                 before=self.query_one(LoadLater))
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
                self.notify(f"Could not load messages: {detail}", severity="error", timeout=5)

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
            widgets = [self._make(item) for item in self.branch.page(lo, hi)]
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
        refocus = isinstance(self.app.focused, MessageWidget)
        if first:
            await self.show(self.branch, first=True)
        else:
            await self.show_latest()
        widgets = self.messages()
        if refocus and widgets:
            (widgets[0] if first else widgets[-1]).focus(scroll_visible=False)

    def messages(self) -> list[MessageWidget]:
        return list(self.query(MessageWidget))

    def find(self, message_id: str) -> MessageWidget | None:
        for w in self.query(MessageWidget):
            if w.message_id == message_id:
                return w
        return None


class ChatScreen(ChatKeys, Screen[None]):
    BINDINGS = [
        Binding("ctrl+n", "new_conversation", "New chat"),
        Binding("ctrl+o", "pick_model", "Model"),
        Binding("m", "pick_model", "Model (when not typing)", show=False),
        Binding("ctrl+f", "search", "Search"),
        Binding("slash", "search", "Search (when not typing)", show=False),
        Binding("ctrl+e", "export", "Export", priority=True),
        Binding("ctrl+b", "toggle_sidebar", "Sidebar", show=False),
        Binding("f2", "rename", "Rename", show=False),
        Binding("home", "load_earlier", "Load earlier", show=False),
        Binding("o", "open_cache_source", "Go to a cached answer's source", show=False),
        Binding("escape", "escape", "Stop / back", show=False),
        Binding("ctrl+c", "stop_answer", "Stop the answer", show=False, priority=True),
    ]

    def __init__(self, backend: Backend) -> None:
        super().__init__()
        self.backend = backend
        self.conversation_id: str | None = None
        self.next_override: str | None = None
        self._turn: Worker[None] | None = None
        self._sidebar_user: bool | None = None  # None: follow the width; else the user's choice
        self._budget: dict[str, Any] | None = None  # spend against the caps, refreshed after each turn
        self._budget_level = "ok"
        self._switched: dict[str, str] = {}  # the last sibling switch: replaced answer -> shown one

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="body"):
            yield Sidebar(id="sidebar")
            with Vertical(id="main"):
                yield ChatView(self.backend, id="chat")
                yield Static("", id="status")
                yield Composer(id="composer")
        yield ChatFooter()  # Footer minus a leak that long scrolls make large

    @property
    def chat(self) -> ChatView:
        return self.query_one(ChatView)

    @property
    def composer(self) -> Composer:
        return self.query_one(Composer)

    async def on_mount(self) -> None:
        # First, before the conversation loads: keys typed from the first frame belong here.
        self.composer.focus()
        convs = self.backend.conversations()
        self.query_one(Sidebar).set_conversations(convs, None)
        if convs:
            from chatroute.tui.data import conv_id

            await self.open_conversation(conv_id(convs[0]))
        self._refresh_budget()
        self.composer.focus()
        self._report_lock_waits()

    def _report_lock_waits(self) -> None:
        """Say so when a turn waits for another process's database lock (the store calls this
        from the worker thread that waits): the UI stays live, and Esc stops the wait."""
        waits = self.backend.lock_waits()

        def show(line: str | None) -> None:
            if line:
                self.notify(f"{line}. Esc stops waiting; your prompt is kept.", title="Database busy",
                            severity="warning", timeout=30)

        def on_wait(line: str | None) -> None:
            try:
                self.app.call_from_thread(show, line)
            except RuntimeError:  # already on the app's thread
                show(line)

        waits.on_wait = on_wait

    # ---- conversation lifecycle ----
    def refresh_sidebar(self) -> None:
        self.query_one(Sidebar).set_conversations(self.backend.conversations(), self.conversation_id)

    def _highlight_in_sidebar(self, conversation_id: str | None) -> None:
        """Opening a listed conversation only moves the highlight: re-listing thousands of
        conversations on every open costs tens of ms for nothing."""
        options = self.query_one(ConversationList)
        try:
            options.highlighted = None if conversation_id is None else options.get_option_index(conversation_id)
        except Exception:  # not listed (new, or created elsewhere): list again
            self.refresh_sidebar()

    async def open_conversation(self, conversation_id: str | None, focus_id: str | None = None) -> None:
        self.conversation_id = conversation_id
        await self.chat.show(Branch(self.backend, conversation_id), focus_id)
        self._highlight_in_sidebar(conversation_id)
        self._update_titles()
        if focus_id:
            widget = self.chat.find(focus_id)
            if widget is not None:
                widget.focus()
                self.call_after_refresh(self.chat.scroll_to_widget, widget, top=True, animate=False)
                return
        self.chat.scroll_end(animate=False)

    def _update_titles(self) -> None:
        parts = []
        if self.conversation_id:
            conv = self.backend.conversation(self.conversation_id)
            parts.append(conv_title(conv) if conv is not None else "Untitled")
            pin = self.backend.pin_of(self.conversation_id)
            if pin:
                parts.append(f"pinned: {short_model(pin)}")
            if not self.backend.cache_enabled(self.conversation_id):
                parts.append("cache off")
        else:
            parts.append("new conversation")
        parts.append(f"preset: {self.backend.preset()}")
        self.sub_title = " · ".join(parts)
        status = []
        if self.next_override:
            status.append(f"next turn: {short_model(self.next_override)} (override)")
        as_of = self.backend.prices_as_of()
        if as_of:
            status.append(f"prices as of {as_of}")
        elif self.backend.model_ids():  # with no models (yet) there are no prices to date
            status.append("prices: unknown age")
        if self._budget is not None and self._budget.get("level") in ("warn", "over"):
            status.append(budget_status_text(self._budget))
        self.query_one("#status", Static).update(Text(" · ".join(status), no_wrap=True, overflow="ellipsis"))

    # ---- sending and streaming ----
    @on(Composer.Submitted)
    async def _submitted(self, event: Composer.Submitted) -> None:
        if self._busy():
            return
        problem = self.backend.unknown_override(event.text)
        if problem is not None:
            self.notify(f"Not sent: {problem}. Your prompt is still in the composer (ctrl+o lists the models).",
                        title="Unknown model", severity="error", timeout=8)
            return
        problem = self.backend.too_large(self.conversation_id, event.text, override=self.next_override)
        if problem is not None:
            self.notify(f"Not sent: {problem}. Your prompt is still in the composer.",
                        title="Too long", severity="error", timeout=12)
            return
        if self.next_override is None:
            # Past a budget cap, ask first; the prompt stays in the composer until the answer.
            block = self.backend.budget_block(self.conversation_id, event.text)
            if block is not None:
                self._confirm_over_budget(block, lambda: self._send_from_composer(event.text, event.raw))
                return
        event.composer.consume(event.raw)
        override, self.next_override = self.next_override, None
        await self.send(event.text, override=override)

    async def _send_from_composer(self, prompt: str, raw: str) -> None:
        self.composer.consume(raw)
        override, self.next_override = self.next_override, None
        await self.send(prompt, override=override)

    # ---- budget ----
    def _confirm_over_budget(self, block: BudgetBlock, send: Callable[[], Awaitable[None]]) -> None:
        """Ask before spending past a cap; yes sends this one turn on the cheapest model."""
        if block.cheapest_model is None:
            self.notify(f"{block.question()} Pick a free model (ctrl+o) or raise [budget] in the config.",
                        title="Budget", severity="error", timeout=8)
            return

        async def answered(yes: bool | None) -> None:
            if not yes:
                self.notify("Not sent: your prompt is still in the composer", timeout=3)
                self.composer.focus()
                return
            self.backend.allow_over_budget_once()
            await send()

        self.app.push_screen(OverBudgetScreen(block.question()), answered)

    def _refresh_budget(self) -> None:
        """Re-read spend against the caps; warn once when it crosses 80% and again at 100%."""
        status = self.backend.budget_status()
        level = str((status or {}).get("level") or "ok")
        rank = {"ok": 0, "warn": 1, "over": 2}
        if status is not None and rank.get(level, 0) > rank.get(self._budget_level, 0):
            self.notify(str(status.get("message") or "budget warning"), title="Budget",
                        severity="error" if level == "over" else "warning", timeout=10)
        self._budget, self._budget_level = status, level
        self._update_titles()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is self._turn and event.state in (WorkerState.SUCCESS, WorkerState.ERROR,
                                                          WorkerState.CANCELLED):
            self._refresh_budget()

    def on_screen_resume(self) -> None:
        if self.is_mounted:  # back from compare (which spends) or costs
            self._refresh_budget()

    def _busy(self) -> bool:
        if self._turn is not None and self._turn.is_running:
            self.notify("Still answering — press Esc to stop it", severity="warning", timeout=3)
            return True
        return False

    async def send(self, prompt: str, *, override: str | None = None, use_cache: bool = True,
                   regenerate_of: str | None = None, after: MessageWidget | None = None) -> AssistantMessage:
        """Start one turn. With `after`, the new answer replaces everything below that (user) message."""
        chat = self.chat
        user: UserMessage | None = None
        if after is None:
            await chat.show_latest()  # the window may be far up a long conversation
            user = UserMessage(None, prompt)
            await chat.mount(user)
        else:
            doomed = chat.cut_after(after)
            if doomed:
                await chat.remove_messages(doomed)
        asst = AssistantMessage(None, "", status="pending")
        asst.retry_spec = {"prompt": prompt, "override": override}
        await chat.mount(asst)
        chat.anchor()
        self._update_titles()
        self._turn = self.run_worker(self._stream_turn(asst, user, prompt, override, use_cache, regenerate_of),
                                     group="turn", exit_on_error=False)
        return asst

    async def _stream_turn(self, asst: AssistantMessage, user: UserMessage | None, prompt: str,
                           override: str | None, use_cache: bool, regenerate_of: str | None) -> None:
        events = None
        try:
            events = self.backend.run_turn(self.conversation_id, prompt, override=override, use_cache=use_cache,
                                           regenerate_of=regenerate_of)
            asst.status = "streaming"
            async for ev in events:
                if isinstance(ev, TurnStarted):
                    if ev.conversation_id != self.conversation_id:
                        self.conversation_id = ev.conversation_id
                    asst.message_id = ev.assistant_message_id
                    if user is not None:
                        user.message_id = ev.user_message_id
                elif isinstance(ev, Routed):
                    asst.routed(ev.model, ev.kind, ev.reason, ev.decision)
                elif isinstance(ev, Rerouted):
                    asst.rerouted(ev.message)
                elif isinstance(ev, CacheHit):
                    asst.cache_hit(ev.similarity, ev.lookup_ms)
                elif isinstance(ev, Delta):
                    await asst.write(ev.text)
                elif isinstance(ev, TurnFinished):
                    await asst.finish(ev.text, ev.record, ev.error, ev.retryable)
                    if regenerate_of is not None:  # a new sibling: say which of how many, now
                        asst.set_sibling(self._sibling_position(asst.message_id))
                    if ev.not_saved:
                        self.notify(f"This answer could not be saved ({ev.not_saved}). It stays on screen "
                                    "until you leave this conversation: c copies it.", title="Not saved",
                                    severity="error", timeout=30)
        except asyncio.CancelledError:
            # Esc between two events leaves the engine's stream suspended, and closing it is what
            # saves the stopped turn: close it first, so its record (and cost) is there to show.
            if events is not None:
                try:
                    await events.aclose()
                except Exception:
                    pass
            if asst.message_id is None and user is not None and not self.composer.text.strip():
                # Stopped before anything was stored (waiting for the database): nothing was
                # sent, so the prompt goes back where it was typed.
                self.composer.insert(prompt)
            await asst.interrupted(self.backend.stored_turn(asst.message_id))
            raise
        except Exception as exc:  # never a traceback: the error goes inline with a retry
            detail = error_line(exc)
            await asst.finish(asst.text, None, detail, True)
        finally:
            if events is not None:
                try:
                    await events.aclose()
                except Exception:
                    pass
            if asst.status in ("pending", "streaming"):
                await asst.finish(asst.text, None, asst.error, True)
            self.refresh_sidebar()
            self._update_titles()

    def action_escape(self) -> None:
        if self._turn is not None and self._turn.is_running:
            self._turn.cancel()
            self.notify("Stopped", timeout=2)
            return
        sidebar = self.query_one(Sidebar)
        if sidebar.has_class("-searching"):
            sidebar.close_search()
        self.composer.focus()

    # ---- message actions ----
    @on(MessageWidget.Requested)
    async def _message_requested(self, event: MessageWidget.Requested) -> None:
        widget, action = event.widget, event.action
        if action == "move":
            await self._step_message_focus(widget, int(event.arg))
        elif action == "compose":
            self.composer.focus()
        elif isinstance(widget, AssistantMessage):
            if action == "retry":
                await self._retry(widget)
            elif action == "regenerate":
                await self._regenerate(widget, None)
            elif action == "rerun":
                self._pick_for_rerun(widget)
            elif action == "sibling":
                await self._sibling(widget, int(event.arg))

    # Not `_move_focus`: that is Screen's Tab/shift+tab machinery, which the override broke.
    async def _step_message_focus(self, widget: MessageWidget, delta: int) -> None:
        widgets = self.chat.messages()
        idx = widgets.index(widget) + delta
        if idx < 0:
            if await self.chat.load_earlier():
                widgets = self.chat.messages()
                idx = widgets.index(widget) - 1
            else:
                return
        if idx >= len(widgets):
            if not await self.chat.load_later():
                self.composer.focus()
                return
            widgets = self.chat.messages()
            idx = widgets.index(widget) + 1
        widgets[idx].focus()
        widgets[idx].scroll_visible(animate=False)

    def _user_before(self, widget: MessageWidget) -> UserMessage | None:
        widgets = self.chat.messages()
        for w in reversed(widgets[: widgets.index(widget)]):
            if isinstance(w, UserMessage):
                return w
        return None

    async def _retry(self, widget: AssistantMessage) -> None:
        if widget.status not in ("error", "interrupted") and not widget.error:
            self.notify("Nothing to retry — g regenerates", timeout=3)
            return
        await self._regenerate(widget, None, use_cache=True)

    async def _regenerate(self, widget: AssistantMessage, model: str | None, use_cache: bool = False,
                          consented: bool = False) -> None:
        if self._busy():
            return
        user = self._user_before(widget)
        if user is None:
            self.notify("No prompt to re-run", severity="warning")
            return
        if model is None and not consented and widget.message_id is not None:
            block = self.backend.budget_block(self.conversation_id, user.text, use_cache=use_cache,
                                              regenerate_of=widget.message_id)
            if block is not None:
                self._confirm_over_budget(block, lambda: self._regenerate(widget, model, use_cache, True))
                return
        if widget.message_id is None:  # the turn failed before the engine stored it: send again
            spec = widget.retry_spec or {}
            widgets = self.chat.messages()
            await self.chat.remove_messages(widgets[widgets.index(user):])
            await self.send(spec.get("prompt", user.text), override=model or spec.get("override"))
            return
        asst = await self.send(user.text, override=model, use_cache=use_cache, regenerate_of=widget.message_id,
                               after=user)
        asst.focus()

    def _pick_for_rerun(self, widget: AssistantMessage) -> None:
        from chatroute.tui.screens.models import ModelPicker

        def chosen(result: tuple[str, str | None] | None) -> None:
            if result and result[1]:
                self.run_worker(self._regenerate(widget, result[1]), group="rerun")

        self.app.push_screen(ModelPicker(self.backend, mode="rerun", current=widget.model), chosen)

    def _sibling_position(self, message_id: str | None) -> tuple[int, int] | None:
        if message_id is None:
            return None
        try:
            ids = [msg_id(s) for s in self.backend.siblings(message_id)]
        except Exception:  # a store that cannot say: no indicator
            return None
        return (ids.index(message_id) + 1, len(ids)) if message_id in ids and len(ids) > 1 else None

    async def _sibling(self, widget: AssistantMessage, delta: int) -> None:
        base = widget.message_id
        while not widget.is_attached and base in self._switched:
            # A key pressed on an answer a switch has just replaced counts from the one shown.
            base = self._switched[base]
        if base is None or self.conversation_id is None:
            return
        sibs = self.backend.siblings(base)
        ids = [msg_id(s) for s in sibs]
        if base not in ids or len(ids) < 2:
            self.notify("No other replies to this turn", timeout=2)
            return
        j = ids.index(base) + delta
        if not 0 <= j < len(ids):
            self.notify("No more replies that way", timeout=2)
            return
        self.backend.set_active(ids[j])
        self._switched = {base: ids[j]}
        self.hold_keys()
        try:
            await self.open_conversation(self.conversation_id, focus_id=ids[j])
        finally:
            self.call_after_refresh(self.release_keys)  # once the new sibling has focus

    # ---- sidebar ----
    @on(Sidebar.Requested)
    async def _sidebar_requested(self, event: Sidebar.Requested) -> None:
        cid = event.conversation_id
        if event.action == "open":
            await self.open_conversation(cid, focus_id=event.message_id)
            if event.message_id is None:
                self.composer.focus()
        elif event.action == "delete":
            self._confirm_delete(cid)
        elif event.action == "rename":
            self._rename(cid)

    @on(Input.Changed, "#search")
    def _search_changed(self, event: Input.Changed) -> None:
        query = event.value.strip()
        sidebar = self.query_one(Sidebar)
        if not query:
            sidebar.show_results([])
            return
        try:
            hits = self.backend.search(query)
        except Exception as exc:  # e.g. an FTS syntax error on a stray quote: say so, keep typing
            self.notify(f"search: {exc}", severity="warning", timeout=3)
            return
        sidebar.show_results(hits)

    # ---- actions ----
    async def action_new_conversation(self) -> None:
        if self._busy():
            return
        await self.open_conversation(None)
        self.composer.focus()

    def action_search(self) -> None:
        sidebar = self.query_one(Sidebar)
        sidebar.display = True
        sidebar.open_search()

    def action_toggle_sidebar(self) -> None:
        sidebar = self.query_one(Sidebar)
        sidebar.display = not sidebar.display
        self._sidebar_user = bool(sidebar.display)

    def on_resize(self) -> None:
        if self._sidebar_user is None:
            self.query_one(Sidebar).display = self.size.width >= NARROW

    async def action_load_earlier(self) -> None:
        await self.chat.load_earlier()
        self.chat.scroll_home(animate=False)

    def action_pick_model(self) -> None:
        from chatroute.tui.screens.models import ModelPicker

        current = self.backend.pin_of(self.conversation_id)
        self.app.push_screen(ModelPicker(self.backend, mode="turn", current=current), self._model_chosen)

    def _model_chosen(self, result: tuple[str, str | None] | None) -> None:
        if not result:
            return
        action, model = result
        if action == "override":
            self.next_override = model
            self.notify(f"Next turn: {short_model(model)}", timeout=2)
        elif action in ("pin", "unpin"):
            if self.conversation_id is None:
                self.conversation_id = self.backend.create_conversation()
            self.backend.set_pin(self.conversation_id, model if action == "pin" else None)
            self.refresh_sidebar()
            self.notify(f"Pinned {short_model(model)} for this conversation" if action == "pin"
                        else "Pin removed; the router decides again", timeout=3)
        self._update_titles()
        self.composer.focus()

    async def action_open_cache_source(self) -> None:
        """Follow a cache hit's link: open the conversation it came from, at that answer."""
        widget = self.focused
        record = widget.record if isinstance(widget, AssistantMessage) else None
        if record is None or record.cache_status != "hit":
            self.notify("Focus an answer that came from the cache (its badge says “cached”), then press o",
                        timeout=4)
            return
        if self._busy():
            return
        source = self.backend.cache_source(record)
        if source is None:
            self.notify("The answer this one was cached from has been deleted", severity="warning", timeout=4)
            return
        cid, mid = source["conversation_id"], source["message_id"]
        if mid not in {msg_id(m) for m in self.backend.history(cid)}:
            self.backend.set_active(mid)  # it is on another branch: show that branch
        await self.open_conversation(cid, focus_id=mid)
        self.notify(f"Cached from “{source['title']}”", timeout=3)

    def action_toggle_cache(self) -> None:
        if self.conversation_id is None:
            self.conversation_id = self.backend.create_conversation()
            self.refresh_sidebar()
        enabled = not self.backend.cache_enabled(self.conversation_id)
        self.backend.set_cache_enabled(self.conversation_id, enabled)
        self.notify(f"Answer cache {'on' if enabled else 'off'} for this conversation", timeout=2)
        self._update_titles()

    def action_export(self) -> None:
        if self.conversation_id is None:
            self.notify("Nothing to export yet", severity="warning", timeout=3)
            return
        try:
            paths = self.backend.export(self.conversation_id)
        except Exception as exc:
            self.notify(f"Export failed: {exc}", severity="error")
            return
        self.notify("Exported to " + " and ".join(str(p) for p in paths), timeout=8)

    def action_rename(self) -> None:
        if self.conversation_id:
            self._rename(self.conversation_id)

    def action_delete_current(self) -> None:
        if self.conversation_id:
            self._confirm_delete(self.conversation_id)

    def _rename(self, cid: str) -> None:
        conv = self.backend.conversation(cid)

        def done(title: str | None) -> None:
            if title:
                self.backend.rename(cid, title)
                self.refresh_sidebar()
                self._update_titles()

        self.app.push_screen(PromptScreen("Rename conversation", conv_title(conv) if conv else ""), done)

    def _confirm_delete(self, cid: str) -> None:
        conv = self.backend.conversation(cid)

        async def done(yes: bool | None) -> None:
            if not yes:
                return
            self.backend.delete(cid)
            if cid == self.conversation_id:
                await self.open_conversation(None)
            self.refresh_sidebar()
            self.notify("Conversation deleted", timeout=2)

        self.app.push_screen(ConfirmScreen(f"Delete “{conv_title(conv) if conv else cid}”? This cannot be undone."),
                             done)

    def action_compare(self) -> None:
        from chatroute.tui.screens.compare import CompareScreen

        prompt = self.composer.prompt  # a paste kept aside goes in full

        def picked_cb(result: tuple[str, str | None] | None) -> None:
            if result:
                conversation_id, message_id = result
                self.composer.clear()
                self.run_worker(self._continue_after_pick(conversation_id, message_id), group="open")

        self.app.push_screen(CompareScreen(self.backend, self.conversation_id, prompt), picked_cb)

    async def _continue_after_pick(self, conversation_id: str, message_id: str | None) -> None:
        """The picked answer (or, closed without a pick, the first) is now the active reply:
        show it and keep writing from it. What the next turn sends is what is shown."""
        await self.open_conversation(conversation_id)
        if message_id is None:
            self.notify("Compare closed: answer 1 stays in the conversation. Focus it (↑) and press [ or ] "
                        "to switch to another", timeout=6)
        self.composer.focus()
