"""The main screen: sidebar, the conversation (lazily mounted), the composer."""

from __future__ import annotations

import asyncio
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static
from textual.worker import Worker

from chatroute.turn_events import CacheHit, Delta, Rerouted, Routed, TurnFinished, TurnStarted
from chatroute.tui.data import (Backend, conv_title, msg_id, msg_role, msg_status, msg_text, short_model)
from chatroute.tui.screens.dialogs import ConfirmScreen, PromptScreen
from chatroute.tui.widgets.composer import Composer
from chatroute.tui.widgets.message import AssistantMessage, MessageWidget, UserMessage
from chatroute.tui.widgets.sidebar import Sidebar

NARROW = 70  # below this width the sidebar collapses unless the user opened it


class LoadEarlier(Static):
    DEFAULT_CSS = "LoadEarlier { color: $text-muted; text-align: center; height: 1; }"


class ChatView(VerticalScroll):
    """Mounts only the last BATCH messages; earlier ones load when scrolled to the top, so a
    10,000-turn conversation opens as fast as a short one."""

    BATCH = 20
    can_focus = False

    def __init__(self, backend: Backend, **kw: Any) -> None:
        super().__init__(**kw)
        self.backend = backend
        self.history: list[Any] = []
        self.turns: dict[str, Any] = {}
        self.start = 0
        self._loading = False

    def _make(self, msg: Any) -> MessageWidget:
        mid = msg_id(msg)
        if msg_role(msg) == "assistant":
            record = self.backend.turn_with_route(mid, self.turns.get(mid))
            sib = None
            try:
                sibs = self.backend.siblings(mid)
                if len(sibs) > 1:
                    sib = ([msg_id(s) for s in sibs].index(mid) + 1, len(sibs))
            except Exception:  # a store without siblings for this message: no indicator
                sib = None
            return AssistantMessage(mid, msg_text(msg), record=record, status=msg_status(msg), sibling=sib)
        return UserMessage(mid, msg_text(msg))

    def _marker_text(self) -> str:
        return f"↑ {self.start:,} earlier messages — scroll up or press Home to load"

    async def show(self, history: list[Any], turns: dict[str, Any], focus_id: str | None = None) -> None:
        await self.remove_children()
        self.history, self.turns = history, turns
        start = max(0, len(history) - self.BATCH)
        if focus_id is not None:
            idx = next((i for i, m in enumerate(history) if msg_id(m) == focus_id), None)
            if idx is not None:
                start = min(start, max(0, idx - 3))
        self.start = start
        marker = LoadEarlier(self._marker_text())
        marker.display = start > 0
        await self.mount_all([marker, *[self._make(m) for m in history[start:]]])

    async def load_earlier(self) -> bool:
        if self.start == 0 or self._loading:
            return False
        self._loading = True
        try:
            new_start = max(0, self.start - self.BATCH)
            first = next(iter(self.query(MessageWidget)), None)
            widgets = [self._make(m) for m in self.history[new_start:self.start]]
            marker = self.query_one(LoadEarlier)
            self.start = new_start
            await self.mount_all(widgets, after=marker)
            marker.update(self._marker_text())
            marker.display = new_start > 0
            if first is not None:  # keep the reader's place
                self.call_after_refresh(self.scroll_to_widget, first, top=True, animate=False)
            return True
        finally:
            self._loading = False

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if new_value <= 0 < old_value and self.start > 0:
            self.run_worker(self.load_earlier(), group="load-earlier")

    def messages(self) -> list[MessageWidget]:
        return list(self.query(MessageWidget))

    def find(self, message_id: str) -> MessageWidget | None:
        for w in self.query(MessageWidget):
            if w.message_id == message_id:
                return w
        return None


class ChatScreen(Screen[None]):
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
        Binding("escape", "escape", "Stop / back", show=False),
    ]

    def __init__(self, backend: Backend) -> None:
        super().__init__()
        self.backend = backend
        self.conversation_id: str | None = None
        self.next_override: str | None = None
        self._turn: Worker[None] | None = None
        self._sidebar_user: bool | None = None  # None: follow the width; else the user's choice

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="body"):
            yield Sidebar(id="sidebar")
            with Vertical(id="main"):
                yield ChatView(self.backend, id="chat")
                yield Static("", id="status")
                yield Composer(id="composer")
        yield Footer()

    @property
    def chat(self) -> ChatView:
        return self.query_one(ChatView)

    @property
    def composer(self) -> Composer:
        return self.query_one(Composer)

    async def on_mount(self) -> None:
        convs = self.backend.conversations()
        self.query_one(Sidebar).set_conversations(convs, None)
        if convs:
            from chatroute.tui.data import conv_id

            await self.open_conversation(conv_id(convs[0]))
        self._update_titles()
        self.composer.focus()

    # ---- conversation lifecycle ----
    def refresh_sidebar(self) -> None:
        self.query_one(Sidebar).set_conversations(self.backend.conversations(), self.conversation_id)

    async def open_conversation(self, conversation_id: str | None, focus_id: str | None = None) -> None:
        self.conversation_id = conversation_id
        if conversation_id is None:
            await self.chat.show([], {})
        else:
            await self.chat.show(self.backend.history(conversation_id),
                                 self.backend.turns_by_message(conversation_id), focus_id)
        self.refresh_sidebar()
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
        status.append(f"prices as of {as_of}" if as_of else "prices: unknown age")
        self.query_one("#status", Static).update(Text(" · ".join(status)))

    # ---- sending and streaming ----
    @on(Composer.Submitted)
    async def _submitted(self, event: Composer.Submitted) -> None:
        if self._busy():
            return
        event.composer.clear()
        override, self.next_override = self.next_override, None
        await self.send(event.text, override=override)

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
            user = UserMessage(None, prompt)
            await chat.mount(user)
        else:
            widgets = chat.messages()
            doomed = widgets[widgets.index(after) + 1:]
            if doomed:
                await chat.remove_children(doomed)
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
        except asyncio.CancelledError:
            await asst.interrupted()
            raise
        except Exception as exc:  # never a traceback: the error goes inline with a retry
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            await asst.finish(asst.text, None, detail, True)
        finally:
            if events is not None and hasattr(events, "aclose"):
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
            await self._move_focus(widget, int(event.arg))
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

    async def _move_focus(self, widget: MessageWidget, delta: int) -> None:
        widgets = self.chat.messages()
        idx = widgets.index(widget) + delta
        if idx < 0:
            if await self.chat.load_earlier():
                widgets = self.chat.messages()
                idx = widgets.index(widget) - 1
            else:
                return
        if idx >= len(widgets):
            self.composer.focus()
            return
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

    async def _regenerate(self, widget: AssistantMessage, model: str | None, use_cache: bool = False) -> None:
        if self._busy():
            return
        user = self._user_before(widget)
        if user is None:
            self.notify("No prompt to re-run", severity="warning")
            return
        if widget.message_id is None:  # the turn failed before the engine stored it: send again
            spec = widget.retry_spec or {}
            await self.chat.remove_children([user, *self.chat.messages()[self.chat.messages().index(user) + 1:]])
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

    async def _sibling(self, widget: AssistantMessage, delta: int) -> None:
        if widget.message_id is None or self.conversation_id is None:
            return
        sibs = self.backend.siblings(widget.message_id)
        ids = [msg_id(s) for s in sibs]
        if widget.message_id not in ids or len(ids) < 2:
            self.notify("No other replies to this turn", timeout=2)
            return
        j = ids.index(widget.message_id) + delta
        if not 0 <= j < len(ids):
            self.notify("No more replies that way", timeout=2)
            return
        self.backend.set_active(ids[j])
        await self.open_conversation(self.conversation_id, focus_id=ids[j])

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

        prompt = self.composer.text.strip()

        def picked_cb(result: tuple[str, str] | None) -> None:
            if result:
                conversation_id, message_id = result
                self.composer.clear()
                self.run_worker(self._continue_after_pick(conversation_id), group="open")

        self.app.push_screen(CompareScreen(self.backend, self.conversation_id, prompt), picked_cb)

    async def _continue_after_pick(self, conversation_id: str) -> None:
        """The picked answer is now the active reply: show it and keep writing from it."""
        await self.open_conversation(conversation_id)
        self.composer.focus()
