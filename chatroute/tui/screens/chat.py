"""The main screen: sidebar, the conversation (lazily mounted), the composer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.reactive import reactive
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Header, Input, Static, TextArea
from textual.worker import Worker, WorkerState

from chatroute.tui.data import (
    Backend,
    Branch,
    conv_title,
    error_line,
    msg_id,
    short_model,
)
from chatroute.tui.screens.chat_keys import ChatKeys
from chatroute.tui.screens.chat_status import lock_wait_notice, status_line, subtitle
from chatroute.tui.screens.chat_writes import write_off_loop
from chatroute.tui.screens.dialogs import ConfirmScreen, OverBudgetScreen, PromptScreen
from chatroute.tui.widgets.chat_view import ChatView
from chatroute.tui.widgets.composer import Composer
from chatroute.tui.widgets.footer import KeysFooter
from chatroute.tui.widgets.message import AssistantMessage, MessageWidget, UserMessage
from chatroute.tui.widgets.sidebar import ConversationList, Sidebar
from chatroute.turn_events import CacheHit, Delta, Rerouted, Routed, TurnFinished, TurnStarted

if TYPE_CHECKING:
    from chatroute.routing.budget import BudgetBlock
    from chatroute.store.waits import LockWaits
    from chatroute.tui.screens.compare import CompareScreen

NARROW = 100  # below this width the sidebar collapses unless the user opened it
DRAFT_SAVE_DELAY_S = 1.0


class ComparePicks(NamedTuple):
    """A compare closed before it asked (Esc, or F5 for the costs): what the next F4 opens with."""

    conversation_id: str | None
    composer: str  # the composer's prompt then: a different one now was written since, and wins
    prompt: str  # what its own field held
    models: list[str]  # ticked


class ChatScreen(ChatKeys, Screen[None]):
    """The chat. The conversation shown, the next turn's override and the router preset are
    reactive: setting one retitles the screen. What the store changes under them (a rename, a
    pin, the cache switch, spend, a new conversation's title after its first turn) is shown by
    calling refresh_titles."""

    # always_update: re-opening the shown conversation (a sibling switch) retitles it too.
    conversation_id: reactive[str | None] = reactive(None, always_update=True, init=False)
    next_override: reactive[str | None] = reactive(None, init=False)
    preset: reactive[str] = reactive("", init=False)

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
        Binding("ctrl+c", "stop_answer", "Stop the answer (none streaming: copies the selection)", show=False,
                priority=True),
    ]

    def __init__(self, backend: Backend) -> None:
        super().__init__()
        self.backend = backend
        self._turn: Worker[None] | None = None
        # The conversation whose delete is being written (up to WRITE_PATIENCE_S on a busy
        # database): a turn started in that moment would be saved into a conversation that is gone.
        self._deleting: str | None = None
        self._sidebar_user: bool | None = None  # None: follow the width; else the user's choice
        self._budget: dict[str, Any] | None = None  # spend against the caps, refreshed after each turn
        self._budget_level = "ok"
        self._lock_waits: LockWaits | None = None  # whose on_wait this screen set, cleared on unmount
        self._switched: dict[str, str] = {}  # the last sibling switch: replaced answer -> shown one
        self._draft: tuple[str, dict[str, str]] | None = None  # the composer's text not yet saved
        self._draft_timer: Timer | None = None
        self._draft_unsaved = False  # the last save of the draft failed (and the user was told)
        self._draft_for: str | None = None  # the conversation the composer's text is a draft of
        self._compare_aside: ComparePicks | None = None  # a compare closed before it asked (Esc, F5)
        self._compare_kept: ComparePicks | None = None  # saved beside the draft on quitting

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="body"):
            yield Sidebar(self.backend, id="sidebar")
            with Vertical(id="main"):
                yield ChatView(self.backend, id="chat")
                yield Static("", id="status")
                yield Composer(id="composer")
        yield KeysFooter()  # Footer minus a leak that long scrolls make large

    @property
    def chat(self) -> ChatView:
        return self.query_one(ChatView)

    @property
    def composer(self) -> Composer:
        return self.query_one(Composer)

    async def on_mount(self) -> None:
        # First, before the conversation loads: keys typed from the first frame belong here.
        self.composer.focus()
        sidebar = self.query_one(Sidebar)
        sidebar.reload(None)  # the newest page only: more are read as the list is scrolled
        newest = sidebar.newest()
        self._draft_for = newest
        self._restore_draft()
        if newest is not None:
            await self.open_conversation(newest)
        self._refresh_budget()
        self.composer.focus()
        self._report_lock_waits()

    def _report_lock_waits(self) -> None:
        """Say so when a turn waits for another process's database lock: the UI stays live, and
        Esc stops the wait."""
        self._lock_waits = self.backend.lock_waits()
        self._lock_waits.on_wait = lock_wait_notice(self)

    def on_unmount(self) -> None:
        # The store can outlive the screen (tests reuse one; an app may open another screen on
        # the same engine): a callback left behind would keep this screen and its widgets alive.
        if self._lock_waits is not None:
            self._lock_waits.on_wait = None
        self._save_draft(quitting=True)

    # ---- the draft: what the composer holds outlives a quit (ctrl+q, SIGTERM, a closed terminal) ----
    # Each conversation has its own (Backend.save_draft): the text left unsent in one comes back
    # when it is opened again, whichever window was closed last.
    def _restore_draft(self, said: str = "Your unsent prompt from last time is back in the composer") -> None:
        draft = self.backend.load_draft(self._draft_for)
        if draft is None or self.composer.text:
            return
        self.composer.restore(*draft)
        self._draft = draft
        compare = self.backend.load_draft_compare(self._draft_for)
        if compare is not None:  # the next F4 opens it as it was left, the composer's text as now
            self._compare_aside = ComparePicks(self._draft_for, self.composer.prompt, *compare)
            said += "; the question written in compare comes back with F4"
        self.notify(said, timeout=4, markup=False)

    async def _switch_to(self, conversation_id: str | None, focus_id: str | None = None) -> None:
        """Open another conversation as the user asks to (the list, a search hit, ctrl+n, a
        cache hit's source): the composer's text stays the draft of the one left, and that
        conversation's own draft comes back."""
        if conversation_id != self._draft_for:
            if self._draft is not None or self.composer.text.strip():
                self._draft = self.composer.draft()  # keys typed just before may not be seen yet
            self._save_draft()
            self._draft_for = conversation_id
            self.composer.clear()
            self._draft = None  # cleared, not emptied by the user: the draft left stays
            self._restore_draft("Your unsent prompt in this conversation is back in the composer")
        await self.open_conversation(conversation_id, focus_id)

    def _draft_moves_to(self, conversation_id: str | None) -> None:
        """The screen went on writing in another conversation without the user switching (a turn
        or compare created it, it was deleted): what the composer holds is that one's draft now."""
        if conversation_id == self._draft_for:
            return
        left, self._draft_for = self._draft_for, conversation_id
        if self.composer.text.strip():
            self.backend.save_draft(left, "", {})
            self._draft = self.composer.draft()
            self._save_draft()

    @on(TextArea.Changed, "#composer")
    def _composer_changed(self) -> None:
        # Saved a moment after typing pauses, not on every key; the latest text is saved on exit.
        self._draft = self.composer.draft()
        if self._draft_timer is not None:
            self._draft_timer.stop()
        self._draft_timer = self.set_timer(DRAFT_SAVE_DELAY_S, self._save_draft)

    def _save_draft(self, quitting: bool = False) -> None:
        if self._draft_timer is not None:
            self._draft_timer.stop()
            self._draft_timer = None
        if self._draft is not None:
            draft, self._draft = self._draft, None
            kept, self._compare_kept = self._compare_kept, None
            problem = self.backend.save_draft(self._draft_for, *draft,
                                              compare=None if kept is None else (kept.prompt, kept.models))
            # Said once (until a save works again): at every pause in typing it would be noise.
            if problem is not None and not self._draft_unsaved and not quitting:
                self.notify(f"Your unsent prompt is not kept for the next start: {problem}. "
                            "It is still in the composer", severity="warning", timeout=8, markup=False)
            self._draft_unsaved = problem is not None

    # ---- conversation lifecycle ----
    def refresh_sidebar(self) -> None:
        self.query_one(Sidebar).reload(self.conversation_id)

    def _highlight_in_sidebar(self, conversation_id: str | None) -> None:
        """Opening a listed conversation only moves the highlight: listing again costs for nothing.
        One not listed (new, or further down than the list was read) is listed first."""
        options = self.query_one(ConversationList)
        try:
            options.highlighted = None if conversation_id is None else options.get_option_index(conversation_id)
        except Exception:  # not listed (new, created elsewhere, or further down than read): list again
            self.refresh_sidebar()

    async def open_conversation(self, conversation_id: str | None, focus_id: str | None = None) -> None:
        if conversation_id != self.conversation_id and self.next_override is not None:
            # A model picked for the next turn of one conversation is no choice for another.
            self.next_override = None
            self.notify("Next-turn model dropped: another conversation", timeout=3, markup=False)
        self.conversation_id = conversation_id
        await self.chat.show(Branch(self.backend, conversation_id), focus_id)
        self._highlight_in_sidebar(conversation_id)
        if focus_id:
            widget = self.chat.find(focus_id)
            if widget is not None:
                widget.focus()
                self.call_after_refresh(self.chat.scroll_to_widget, widget, top=True, animate=False)
                return
        self.chat.scroll_end(animate=False)

    def watch_conversation_id(self) -> None:
        self.refresh_titles()
        self._draft_moves_to(self.conversation_id)

    def watch_next_override(self) -> None:
        self.refresh_titles()

    def watch_preset(self) -> None:
        self.refresh_titles()

    def refresh_titles(self) -> None:
        try:
            status = self.query_one("#status", Static)
        except NoMatches:  # set before compose: on_mount titles the screen
            return
        # The engine holds the preset (a config reload may change it): mirrored without a watcher call.
        self.set_reactive(ChatScreen.preset, self.backend.preset())
        self.sub_title = subtitle(self.backend, self.conversation_id, self.preset)
        status.update(status_line(self.backend, self.conversation_id, self.next_override, self._budget))

    # ---- sending and streaming ----
    @on(Composer.Submitted)
    async def _submitted(self, event: Composer.Submitted) -> None:
        if self._busy():
            return
        if self.conversation_id is not None and self.backend.conversation(self.conversation_id) is None:
            # Deleted by another chatroute (a second TUI): every send there would be refused.
            await self.open_conversation(None)
            self.refresh_sidebar()
            self.notify("Not sent: this conversation was deleted (by another chatroute?). Your prompt is still "
                        "in the composer: Enter sends it in a new conversation.", title="Conversation deleted",
                        severity="warning", timeout=10, markup=False)
            return
        problem = self.backend.unknown_override(event.text)
        if problem is not None:
            self.notify(f"Not sent: {problem}. Your prompt is still in the composer (ctrl+o lists the models).",
                        title="Unknown model", severity="error", timeout=8, markup=False)
            return
        problem = self.backend.no_models()
        if problem is not None:
            self.notify(f"Not sent: {problem}. Your prompt is still in the composer.",
                        title="No models to use", severity="error", timeout=12, markup=False)
            return
        problem = self.backend.too_large(self.conversation_id, event.text, override=self.next_override)
        if problem is not None:
            self.notify(f"Not sent: {problem}. Your prompt is still in the composer.",
                        title="Too long", severity="error", timeout=12, markup=False)
            return
        if self.next_override is None:
            # Past a budget cap, ask first; the prompt stays in the composer until the answer.
            block = self.backend.budget_block(self.conversation_id, event.text)
            if block is not None:
                self._confirm_over_budget(block, lambda: self._send_from_composer(event.text, event.raw))
                return
        event.composer.consume(event.raw)
        self._sent_from_composer()
        override, self.next_override = self.next_override, None
        await self.send(event.text, override=override)

    def _sent_from_composer(self) -> None:
        # Now, in the conversation it was written in: the turn may move the screen to the
        # conversation it creates before the composer's change is seen.
        self._draft = self.composer.draft()
        self._save_draft()

    async def _send_from_composer(self, prompt: str, raw: str) -> None:
        self.composer.consume(raw)
        self._sent_from_composer()
        override, self.next_override = self.next_override, None
        await self.send(prompt, override=override)

    # ---- budget ----
    def _confirm_over_budget(self, block: BudgetBlock, send: Callable[[], Awaitable[None]], *,
                             regenerating: MessageWidget | None = None) -> None:
        """Ask before spending past a cap; yes sends this one turn on the cheapest model.
        `regenerating`: the answer a refused regeneration leaves the focus on (it has no prompt
        in the composer)."""
        if block.cheapest_model is None:
            self.notify(f"{block.question()} Pick a free model (ctrl+o) or raise [budget] in the config.",
                        title="Budget", severity="error", timeout=8, markup=False)
            return

        async def answered(yes: bool | None) -> None:
            if not yes:
                if regenerating is not None:
                    self.notify("Not regenerated: the budget is unchanged", timeout=3, markup=False)
                    regenerating.focus()
                    return
                self.notify("Not sent: your prompt is still in the composer", timeout=3, markup=False)
                self.composer.focus()
                return
            self.backend.allow_over_budget_once()
            await send()

        # Keys typed on after Enter, before the question could be read, stay the user's text.
        self.app.push_screen(OverBudgetScreen(block.question(), typed=self.composer.insert), answered)

    def _refresh_budget(self) -> None:
        """Re-read spend against the caps; warn once when it crosses 80% and again at 100%."""
        status = self.backend.budget_status()
        level = str((status or {}).get("level") or "ok")
        rank = {"ok": 0, "warn": 1, "over": 2}
        if status is not None and rank.get(level, 0) > rank.get(self._budget_level, 0):
            self.notify(str(status.get("message") or "budget warning"), title="Budget",
                        severity="error" if level == "over" else "warning", timeout=10, markup=False)
        self._budget, self._budget_level = status, level
        self.refresh_titles()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is self._turn and event.state in (WorkerState.SUCCESS, WorkerState.ERROR,
                                                          WorkerState.CANCELLED):
            self._refresh_budget()

    def on_screen_resume(self) -> None:
        if self.is_mounted:  # back from compare (which spends) or costs
            self._refresh_budget()

    def _busy(self, then: str | None = None) -> bool:
        """True (and the user told) while an answer streams, or this conversation is being
        deleted. `then` names what waits for it."""
        if self._deleting is not None and self._deleting == self.conversation_id:
            self.notify("Deleting this conversation — wait a moment; your prompt is kept", severity="warning",
                        timeout=4, markup=False)
            return True
        if self._turn is not None and self._turn.is_running:
            self.notify(f"Stop the answer first (Esc), then {then}" if then
                        else "Still answering — press Esc to stop it", severity="warning", timeout=4, markup=False)
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
        chat.writing = asst
        chat.anchor()
        self._turn = self.run_worker(self._stream_turn(asst, user, prompt, override, use_cache, regenerate_of),
                                     group="turn", exit_on_error=False)
        return asst

    async def _stream_turn(self, asst: AssistantMessage, user: UserMessage | None, prompt: str,
                           override: str | None, use_cache: bool, regenerate_of: str | None) -> None:
        events = None
        chat = self.chat  # found now: in the finally below the screen may be going (a quit)
        stale = False  # the question went below turns this screen does not show (another chatroute's)
        try:
            events = self.backend.run_turn(self.conversation_id, prompt, override=override, use_cache=use_cache,
                                           regenerate_of=regenerate_of)
            asst.status = "streaming"
            async for ev in events:
                if isinstance(ev, TurnStarted):
                    if ev.conversation_id != self.conversation_id:
                        self.conversation_id = ev.conversation_id
                        # Created by this turn: listed and marked now, not once the answer ends.
                        self._highlight_in_sidebar(ev.conversation_id)
                    asst.message_id = ev.assistant_message_id
                    if user is not None:
                        user.message_id = ev.user_message_id
                        stale = not self._asked_below_shown(user)
                        if ev.prompt is not None and ev.prompt != user.text:
                            await user.show_text(ev.prompt)  # "@gpt-4o hello" is stored as "hello"
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
                                    severity="error", timeout=30, markup=False)
        except asyncio.CancelledError:
            # Esc between two events leaves the engine's stream suspended, and closing it is what
            # saves the stopped turn: close it first, so its record (and cost) is there to show.
            if events is not None:
                try:
                    await events.aclose()
                except Exception:
                    pass
            # Stopped before anything was stored (waiting for the database): nothing was sent.
            self._unsend(user, asst, prompt)
            await asst.interrupted(self.backend.stored_turn(asst.message_id))
            if regenerate_of is not None:  # a stopped regeneration is a sibling too, billed
                asst.set_sibling(self._sibling_position(asst.message_id))
            raise
        except Exception as exc:  # never a traceback: the error goes inline with a retry
            detail = error_line(exc)
            if self._unsend(user, asst, prompt):
                # Failed before anything was stored (a full disk): on screen only, a quit would lose it.
                self.notify(f"Not sent: {detail}. Your prompt is back in the composer.", title="Not sent",
                            severity="error", timeout=12, markup=False)
            elif regenerate_of is not None and asst.message_id is None:
                self.notify(f"Not regenerated: {detail}. The answer is as it was.", title="Not regenerated",
                            severity="error", timeout=12, markup=False)
            await asst.finish(asst.text, None, detail, True)
        finally:
            # First, before any await: a stop landing on one of those must not leave the view
            # guarding an answer that is no longer written.
            if chat.writing is asst:
                chat.writing = None
            if events is not None:
                try:
                    await events.aclose()
                except Exception:
                    pass
            if asst.status in ("pending", "streaming"):
                await asst.finish(asst.text, None, asst.error, True)
            if stale and chat.is_attached and chat.writing is None and self.conversation_id is not None:
                # Shown as stored, now that nothing streams into the view: a re-show mid-stream
                # would unmount the answer being written.
                await self.open_conversation(self.conversation_id)
                self.notify("Turns another chatroute added to this conversation are shown now", timeout=4,
                            markup=False)
            elif (regenerate_of is not None and asst.message_id is None and chat.is_attached
                  and self.conversation_id is not None):
                # A regenerate that stored nothing replaced nothing: the answer it took off the
                # screen, and the turns after it, are still the conversation.
                await self.open_conversation(self.conversation_id, focus_id=regenerate_of)
            self.refresh_sidebar()
            self.refresh_titles()  # a new conversation's title comes with its first turn

    def _unsend(self, user: UserMessage | None, asst: AssistantMessage, prompt: str) -> bool:
        """A prompt whose turn stored nothing goes back where it was typed, and is the draft at
        once (ctrl+q stops the turn and saves the draft in one go); the chat stops showing it as
        asked, above an empty answer to re-ask. Not when the composer holds new text. True if
        it went back."""
        if asst.message_id is not None or user is None or self.composer.text.strip():
            return False
        self.composer.insert(prompt)
        self._draft = self.composer.draft()
        if user.is_attached:
            user.display = asst.display = False  # at once; unmounted once the turn is done
            self.call_after_refresh(self.chat.remove_messages, [user, asst])
        return True

    def _asked_below_shown(self, user: UserMessage) -> bool:
        """Whether the question `user` shows was stored under the last stored message shown above
        it, all of them shown whole. Not when another process (`ask -c`) added turns since the
        conversation was shown, or was still writing an answer shown: the engine asks after the
        stored branch, which the screen does not show all of."""
        widgets = self.chat.messages()
        if user not in widgets:
            return True
        if any(isinstance(w, AssistantMessage) and w.status == "streaming" for w in widgets[:widgets.index(user)]):
            return False  # not this screen's (it asks one turn at a time): shown as it was when read
        above = [w.message_id for w in widgets[:widgets.index(user)] if w.message_id is not None]
        shown = above[-1] if above else None
        if shown is None and self.chat.start > 0:
            return True  # nothing stored above it is mounted: not for this check to say
        stored = self.backend.messages_by_id([user.message_id]) if user.message_id else []
        return not stored or stored[0].parent_id == shown

    def action_escape(self) -> None:
        if self._turn is not None and self._turn.is_running:
            self._turn.cancel()
            self.notify("Stopped", timeout=2, markup=False)
            return
        sidebar = self.query_one(Sidebar)
        if sidebar.has_class("-searching"):
            sidebar.close_search()
            self._fold_sidebar()
        self.composer.focus()

    def _fold_sidebar(self) -> None:
        """Search shows the sidebar; done searching, it goes back to what the user or the width
        chose (on a narrow terminal it left the chat a third of the width)."""
        sidebar = self.query_one(Sidebar)
        sidebar.display = self.size.width >= NARROW if self._sidebar_user is None else self._sidebar_user

    # ---- message actions ----
    async def on_message_widget_step_focus(self, event: MessageWidget.StepFocus) -> None:
        if not await self.chat.focus_step(event.widget, event.delta):
            self.composer.focus()  # down from the last message: back to writing

    def on_message_widget_back_to_composer(self, event: MessageWidget.BackToComposer) -> None:
        self.composer.focus()

    async def on_assistant_message_retry(self, event: AssistantMessage.Retry) -> None:
        await self._retry(event.widget)

    async def on_assistant_message_regenerate(self, event: AssistantMessage.Regenerate) -> None:
        await self._regenerate(event.widget, None)

    def on_assistant_message_rerun(self, event: AssistantMessage.Rerun) -> None:
        self._pick_for_rerun(event.widget)

    async def on_assistant_message_show_sibling(self, event: AssistantMessage.ShowSibling) -> None:
        await self._sibling(event.widget, event.delta)

    async def _retry(self, widget: AssistantMessage) -> None:
        if not widget.has_failed():
            self.notify("Nothing to retry — g regenerates", timeout=3, markup=False)
            return
        await self._regenerate(widget, None, use_cache=True)

    async def _regenerate(self, widget: AssistantMessage, model: str | None, use_cache: bool = False,
                          consented: bool = False) -> None:
        if self._busy():
            return
        user = self.chat.user_before(widget)
        # The answer may open the window, its question left above it (a long paste is mounted
        # only once scrolled to): that question is what is asked again.
        while user is None and widget.message_id is not None and await self.chat.load_earlier():
            user = self.chat.user_before(widget)
        if user is None:
            self.notify("No prompt to re-run", severity="warning", markup=False)
            return
        if model is None and not consented and widget.message_id is not None:
            block = self.backend.budget_block(self.conversation_id, user.text, use_cache=use_cache,
                                              regenerate_of=widget.message_id)
            if block is not None:
                self._confirm_over_budget(block, lambda: self._regenerate(widget, model, use_cache, True),
                                          regenerating=widget)
                return
        if widget.message_id is None:  # the turn failed before the engine stored it: send again
            spec = widget.retry_spec or {}
            widgets = self.chat.messages()
            await self.chat.remove_messages(widgets[widgets.index(user):])
            await self.send(spec.get("prompt", user.text), override=model or spec.get("override"))
            return
        # An answer from a model the user named (`@model`, -m) is regenerated on that model: the
        # stored prompt no longer says which, so the turn's record does.
        if model is None and widget.record is not None and widget.record.route_kind == "override":
            model = widget.record.model
        asst = await self.send(user.text, override=model, use_cache=use_cache, regenerate_of=widget.message_id,
                               after=user)
        asst.focus()

    def _pick_for_rerun(self, widget: AssistantMessage) -> None:
        from chatroute.tui.screens.models import ModelPicker

        # Refused before a model is chosen, not after: the choice would be dropped.
        if self._busy("re-run it on another model"):
            return

        def chosen(result: tuple[str, str | None] | None) -> None:
            if result and result[1]:
                self.run_worker(self._regenerate(widget, result[1]), group="rerun")

        self.app.push_screen(ModelPicker(self.backend, mode="rerun", current=widget.model), chosen)

    def _sibling_position(self, message_id: str | None) -> tuple[int, int] | None:
        if message_id is None:
            return None
        try:
            ids = [msg_id(s) for s in self.backend.replies(message_id)]
        except Exception:  # a store that cannot say: no indicator
            return None
        return (ids.index(message_id) + 1, len(ids)) if message_id in ids and len(ids) > 1 else None

    async def _sibling(self, widget: AssistantMessage, delta: int) -> None:
        # Showing another branch re-shows the conversation, which would detach the answer
        # streaming below: it would go on, billed, out of sight.
        if self._busy("show another reply"):
            return
        base = widget.message_id
        while not widget.is_attached and base in self._switched:
            # A key pressed on an answer a switch has just replaced counts from the one shown.
            base = self._switched[base]
        if base is None or self.conversation_id is None:
            return
        sibs = self.backend.replies(base)
        ids = [msg_id(s) for s in sibs]
        if base not in ids or len(ids) < 2:
            self.notify("No other replies to this turn", timeout=2, markup=False)
            return
        j = ids.index(base) + delta
        if not 0 <= j < len(ids):
            self.notify("No more replies that way", timeout=2, markup=False)
            return
        if await write_off_loop(self, self.backend, lambda: self.backend.set_active(ids[j]),
                                "show another reply") is None:
            return  # the store still shows this one, and so does the screen
        self._switched = {base: ids[j]}
        self.hold_keys()
        try:
            await self.open_conversation(self.conversation_id, focus_id=ids[j])
        finally:
            self.call_after_refresh(self.release_keys)  # once the new sibling has focus

    async def _on_shown_branch(self, conversation_id: str, message_id: str, what: str) -> bool:
        """Make `message_id` part of the branch its conversation shows (a reply regenerated
        since, or one below it, is on another branch): opened as it was, the conversation would
        show the other sibling instead. False if that could not be saved."""
        if message_id in self.backend.history_ids(conversation_id):
            return True
        return await write_off_loop(self, self.backend, lambda: self.backend.set_active(message_id), what) is not None

    # ---- sidebar ----
    async def on_sidebar_open_conversation(self, event: Sidebar.OpenConversation) -> None:
        # Re-showing the chat would detach the streaming answer: it would go on, billed, out of
        # sight, and Esc in the other conversation would stop it unseen.
        if (event.message_id is None and event.conversation_id == self.conversation_id
                and self._turn is not None and self._turn.is_running):
            self.composer.focus()  # the one being answered: already open
            return
        if self._busy("open another conversation"):
            self._highlight_in_sidebar(self.conversation_id)  # the list points back at the one shown
            return
        if event.message_id is not None and not await self._on_shown_branch(
                event.conversation_id, event.message_id, "show the reply found"):
            return
        await self._switch_to(event.conversation_id, focus_id=event.message_id)
        if event.message_id is not None:  # a search hit: the search is done
            sidebar = self.query_one(Sidebar)
            if sidebar.has_class("-searching"):
                sidebar.close_search()  # back to the list, where the conversation opened is marked
                self._highlight_in_sidebar(event.conversation_id)
            self._fold_sidebar()
        if event.message_id is None:
            self.composer.focus()

    def on_sidebar_delete_conversation(self, event: Sidebar.DeleteConversation) -> None:
        self._confirm_delete(event.conversation_id)

    def on_sidebar_rename_conversation(self, event: Sidebar.RenameConversation) -> None:
        self._rename(event.conversation_id)

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
            self.notify(f"search: {exc}", severity="warning", timeout=3, markup=False)
            return
        sidebar.show_results(hits)

    # ---- actions ----
    async def action_new_conversation(self) -> None:
        if self._busy():
            return
        await self._switch_to(None)
        self.composer.focus()

    def action_search(self) -> None:
        sidebar = self.query_one(Sidebar)
        sidebar.display = True
        sidebar.open_search()

    def action_toggle_sidebar(self) -> None:
        sidebar = self.query_one(Sidebar)
        sidebar.display = not sidebar.display
        self._sidebar_user = bool(sidebar.display)
        if not sidebar.display:
            # Hidden, it must not keep the focus: keys typed into a hidden search box were lost.
            if sidebar.has_class("-searching"):
                sidebar.close_search()
            focused = self.focused
            if focused is None or sidebar in focused.ancestors_with_self:
                self.composer.focus()

    def on_resize(self) -> None:
        if self._sidebar_user is not None:
            return
        sidebar = self.query_one(Sidebar)
        # An open search stays, as Ctrl+F shows it on a narrow terminal: closing it folds the
        # sidebar (_fold_sidebar). Folded, the list must not keep the focus: keys would go nowhere.
        sidebar.display = self.size.width >= NARROW or sidebar.has_class("-searching")
        focused = self.focused
        if not sidebar.display and focused is not None and sidebar in focused.ancestors_with_self:
            self.composer.focus()

    async def action_load_earlier(self) -> None:
        await self.chat.load_earlier()
        self.chat.scroll_home(animate=False)

    def action_pick_model(self) -> None:
        from chatroute.tui.screens.models import ModelPicker

        if self._say_no_models():  # an empty list to pick from, and keys that did nothing
            return
        current = self.backend.pin_of(self.conversation_id)
        self.app.push_screen(ModelPicker(self.backend, mode="turn", current=current), self._model_chosen)

    def _say_no_models(self) -> bool:
        """Say, as Enter does, the next step when there is no model to use; True when said."""
        problem = self.backend.no_models()
        if problem is not None:
            self.notify(problem[0].upper() + problem[1:] + ".", title="No models to use", severity="error",
                        timeout=12, markup=False)
        return problem is not None

    def _model_chosen(self, result: tuple[str, str | None] | None) -> None:
        if not result:
            return
        action, model = result
        if action == "override":
            self.next_override = model
            self.notify(f"Next turn: {short_model(model)}", timeout=2, markup=False)
        elif action in ("pin", "unpin"):
            if action == "unpin":
                self.next_override = None  # back to routing, for the next turn too
            self.run_worker(self._set_pin(model if action == "pin" else None), group="write", exit_on_error=False)
        self.composer.focus()

    async def _conversation_to_write(self) -> str | None:
        """The shown conversation, created first when there is none yet (None if that failed)."""
        if self.conversation_id is not None:
            return self.conversation_id
        created = await write_off_loop(self, self.backend, self.backend.create_conversation, "start a conversation")
        if created is None:
            return None
        self.conversation_id = created.value
        self.refresh_sidebar()
        return created.value

    async def _set_pin(self, model: str | None) -> None:
        cid = await self._conversation_to_write()
        if cid is None:
            return
        what = f"pin {short_model(model)}" if model else "remove the pin"
        if await write_off_loop(self, self.backend, lambda: self.backend.set_pin(cid, model), what) is None:
            return
        self.refresh_sidebar()
        self.notify(f"Pinned {short_model(model)} for this conversation" if model
                    else "Pin removed; the router decides again", timeout=3, markup=False)
        self.refresh_titles()  # the pin is the store's, not a reactive

    async def action_open_cache_source(self) -> None:
        """Follow a cache hit's link: open the conversation it came from, at that answer."""
        widget = self.focused
        record = widget.record if isinstance(widget, AssistantMessage) else None
        if record is None or record.cache_status != "hit":
            self.notify("Focus an answer that came from the cache (its badge says “cached”), then press o",
                        timeout=4, markup=False)
            return
        if self._busy():
            return
        source = self.backend.cache_source(record)
        if source is None and (client := self.backend.cache_source_client(record)):
            self.notify(f"This answer was cached from a request {client} sent to chatroute serve: it has no "
                        "conversation to open", timeout=4, markup=False)
            return
        if source is None:
            self.notify("The answer this one was cached from has been deleted", severity="warning", timeout=4,
                        markup=False)
            return
        cid, mid = source["conversation_id"], source["message_id"]
        if not await self._on_shown_branch(cid, mid, "show the cached answer's source"):
            return
        await self._switch_to(cid, focus_id=mid)
        self.notify(f"Cached from “{source['title']}”", timeout=3, markup=False)

    def action_toggle_cache(self) -> None:
        self.run_worker(self._toggle_cache(), group="write", exit_on_error=False)

    async def _toggle_cache(self) -> None:
        cid = await self._conversation_to_write()
        if cid is None:
            return
        enabled = not self.backend.cache_enabled(cid)
        saved = await write_off_loop(self, self.backend, lambda: self.backend.set_cache_enabled(cid, enabled),
                                     f"turn the answer cache {'on' if enabled else 'off'}")
        if saved is None:
            return
        said = f"Answer cache {'on' if enabled else 'off'} for this conversation"
        if saved.value is None:  # switched, but the damaged cache's entries could not be deleted
            said += ("; its cached answers could not be deleted: the answer cache is damaged. "
                     "`chatroute cache clear` rebuilds it")
        elif saved.value:  # no other conversation (nor serve's clients) is served them any more
            said += f"; its {saved.value} cached {'answer was' if saved.value == 1 else 'answers were'} deleted"
        if enabled and self.backend.cache_off_in_config():
            said += ", but off in your config (cache.enabled = false): nothing is cached"
        self.notify(said, timeout=2 if saved.value == 0 and not said.endswith("cached") else 5,
                    severity="warning" if saved.value is None else "information", markup=False)
        self.refresh_titles()

    def action_export(self) -> None:
        if self.conversation_id is None:
            self.notify("Nothing to export yet", severity="warning", timeout=3, markup=False)
            return
        # Off the event loop: a 10,000-turn conversation took 4 s to read and write, keys unanswered.
        self.run_worker(self._export(self.conversation_id), group="export", exclusive=True, exit_on_error=False)

    async def _export(self, conversation_id: str) -> None:
        try:
            paths = await asyncio.to_thread(self.backend.export, conversation_id)
        except Exception as exc:  # a read-only folder, a full disk: said, never a traceback
            self.notify(f"Export failed: {error_line(exc)}", severity="error", markup=False)
            return
        self.notify("Exported to " + " and ".join(str(p) for p in paths), timeout=8, markup=False)

    def action_rename(self) -> None:
        if self.conversation_id:
            self._rename(self.conversation_id)
        else:
            self._no_conversation("rename")

    def action_delete_current(self) -> None:
        if self.conversation_id:
            self._confirm_delete(self.conversation_id)
        else:
            self._no_conversation("delete")

    def _no_conversation(self, verb: str) -> None:
        self.notify(f"Nothing to {verb} yet: a conversation starts with its first message", timeout=3, markup=False)

    def _rename(self, cid: str) -> None:
        conv = self.backend.conversation(cid)

        async def save(title: str) -> None:
            if await write_off_loop(self, self.backend, lambda: self.backend.rename(cid, title),
                                    f"rename to “{title}”") is None:
                return  # the old title stays, on screen as in the store
            self.refresh_sidebar()
            self.refresh_titles()

        def done(title: str | None) -> None:
            if title:
                self.run_worker(save(title), group="write", exit_on_error=False)

        # Untitled offers an empty box: "Untitled" in it, Enter saved that word as the title, and
        # the first prompt no longer named the conversation.
        self.app.push_screen(PromptScreen("Rename conversation", (conv.title or "") if conv else ""), done)

    def _streams_into(self, cid: str) -> bool:
        return cid == self.conversation_id and self._busy("delete this conversation")

    def _confirm_delete(self, cid: str) -> None:
        # Deleted under its stream, the answer's turn record had nowhere to go: billed, never counted.
        if self._streams_into(cid):
            return
        conv = self.backend.conversation(cid)

        async def delete() -> None:
            self._deleting = cid
            try:
                saved = await write_off_loop(self, self.backend, lambda: self.backend.delete(cid),
                                             "delete the conversation")
            finally:
                self._deleting = None
            if saved is None:
                return  # still stored, so still listed and shown
            if cid == self.conversation_id:
                await self.open_conversation(None)
            self.refresh_sidebar()
            self.notify("Conversation deleted", timeout=2, markup=False)

        def done(yes: bool | None) -> None:
            if yes and not self._streams_into(cid):
                self.run_worker(delete(), group="write", exit_on_error=False)

        self.app.push_screen(ConfirmScreen(f"Delete “{conv_title(conv) if conv else cid}”? This cannot be undone."),
                             done)

    def action_compare(self) -> None:
        from chatroute.tui.screens.compare import CompareScreen

        # Compare adds its own question to this conversation, under the answer still being written.
        if self._busy("compare") or self._say_no_models():
            return
        if len(usable := self.backend.model_ids()) < 2:
            # Its picker would list the one model and answer Enter with "Pick 2–4 models (you picked 1)".
            self.notify(f"Compare needs 2 models or more; there is 1 to use ({usable[0]}): add another to "
                        f"router.pool in {self.backend.config_file()}", title="Compare", severity="warning",
                        timeout=10, markup=False)
            return
        prompt = self.composer.prompt  # a paste kept aside goes in full
        models, field = None, prompt
        aside, self._compare_aside = self._compare_aside, None
        if aside is not None:  # back as it was left, unless a prompt was written in the composer since
            models = aside.models
            if (aside.conversation_id, aside.composer) == (self.conversation_id, prompt):
                field = aside.prompt

        def asked(sent: str) -> None:
            # Sent once it is stored, not once an answer is picked: quitting meanwhile kept it as
            # an unsent draft, brought back to be asked (and paid for) again. A question rewritten
            # there leaves the draft be.
            if sent == prompt.strip():
                self.composer.clear()
                self._draft = self.composer.draft()  # saved empty, even by a quit right after

        def picked_cb(result: tuple[str, str | None] | None) -> None:
            if result:
                conversation_id, message_id = result
                self.run_worker(self._continue_after_pick(conversation_id, message_id), group="open")

        self.app.push_screen(CompareScreen(self.backend, self.conversation_id, field, models, asked=asked,
                                           left=self.set_compare_aside), picked_cb)

    def set_compare_aside(self, compare: CompareScreen) -> None:
        """`compare` closes before it asked (Esc, or F5 for the costs): its picks open the next one."""
        self._compare_aside = ComparePicks(self.conversation_id, self.composer.prompt, compare.written_prompt(),
                                           compare.selected())

    def keep_compare_question(self) -> None:
        """Quitting with a compare not yet asked: a question written in its field, with nothing in
        the composer, is the draft the next start brings back (the composer's own is never replaced);
        beside the composer's text, it is kept with the draft for the next start's F4."""
        aside = self._compare_aside
        if aside is None or not aside.prompt.strip() or aside.conversation_id != self._draft_for:
            return
        if aside.composer != self.composer.prompt:  # written in the composer since: F4 would not open it
            return
        if not self.composer.text.strip():
            self._draft = (aside.prompt, {})
        elif aside.prompt.strip() != aside.composer.strip():
            self._draft = self.composer.draft()
            self._compare_kept = aside

    async def _continue_after_pick(self, conversation_id: str, message_id: str | None) -> None:
        """The picked answer (or, closed without a pick, the first that answered) is now the active reply:
        show it and keep writing from it. What the next turn sends is what is shown."""
        await self.open_conversation(conversation_id)
        self.refresh_sidebar()  # as after a turn: the compare moved it to the top, and may have titled it
        if message_id is None:
            # Answer 1, unless it failed with no text: then the engine shows the first that answered.
            answers = list(self.query(AssistantMessage))
            position = self._sibling_position(answers[-1].message_id) if answers else None
            self.notify(f"Compare closed: answer {position[0] if position else 1} stays in the conversation. "
                        "Focus it (↑) and press [ or ] to switch to another", timeout=6, markup=False)
        self.composer.focus()
