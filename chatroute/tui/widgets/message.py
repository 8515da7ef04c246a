"""Chat messages. Assistant messages stream Markdown (tui/markdown/) and carry the badge,
reroutes, errors and the per-message actions (copy, why, retry, regenerate, re-run, siblings)."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Markdown, Static

from chatroute.format import count_lines, preview
from chatroute.safetext import strip_terminal_controls
from chatroute.tui.data import reroute_lines, short_model
from chatroute.tui.markdown.answer import AnswerMarkdown
from chatroute.tui.markdown.feed import YIELD_INTERVAL_S, MarkdownFeed, settle_streamed_render
from chatroute.tui.textual_compat import HeightFromContent
from chatroute.tui.widgets.badge import Badge, WhyPanel

if TYPE_CHECKING:
    from chatroute.store.records import TurnRecord

# How the engine words a turn stopped by the user (Esc, ctrl+c, quitting) in the stored record.
STOPPED_BY_USER = "stopped before the reply was complete"


class MessageWidget(Vertical, can_focus=True):
    """Common base: focusable, copyable, navigable with up/down."""

    BINDINGS = [
        Binding("c", "copy", "Copy"),
        Binding("up,k", "move(-1)", "Previous message", show=False),
        Binding("down,j", "move(1)", "Next message", show=False),
        Binding("i", "compose", "Write", show=False),
    ]

    class StepFocus(Message):
        """Up or down on a message: focus the one `delta` away (the chat screen loads more
        past either end of its window, or hands focus to the composer below the last)."""

        def __init__(self, widget: MessageWidget, delta: int) -> None:
            super().__init__()
            self.widget = widget
            self.delta = delta

    class BackToComposer(Message):
        """i on a message: back to writing. (Esc with no why panel open is the chat's own: it
        also stops a streaming answer, as it does from the composer.)"""

        def __init__(self, widget: MessageWidget) -> None:
            super().__init__()
            self.widget = widget

    def __init__(self, message_id: str | None, text: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.message_id = message_id
        self.text = text

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.text)
        self.app.notify("Copied to the clipboard", timeout=2, markup=False)

    def action_move(self, delta: int) -> None:
        self.post_message(self.StepFocus(self, delta))

    def action_compose(self) -> None:
        self.post_message(self.BackToComposer(self))


class UserMessage(MessageWidget):
    """A prompt. A long one (a pasted log) shows its first lines and a note of what is left out:
    laying out a megabyte took seconds on every send and every reopen, for text nobody reads in
    the chat. `text` stays whole, for copy (c), retry and regenerate; the store and the exports
    hold all of it."""

    DEFAULT_CSS = """
    UserMessage { height: auto; padding: 0 1; margin: 1 0 0 0; border-left: thick $primary; }
    /* Not $boost: a theme that sets `panel` (both of chatroute's) leaves it transparent. */
    UserMessage:focus { background: $primary 15%; }
    /* An ANSI colour has no alpha: the tint is solid blue under the text. The bar marks it,
       as under NO_COLOR, where the tint is a grey a few steps from the others'. */
    UserMessage:focus:ansi { background: ansi_default; border-left: double $primary; }
    UserMessage:focus:nocolor { border-left: double $primary; }
    UserMessage > .user-more { color: $text-muted; }
    """
    # Shown whole up to about a screenful; past that, the first PREVIEW_LINES lines (at most
    # PREVIEW_CHARS characters: one line may be a megabyte of minified JSON). The gap between
    # the two keeps a note from hiding only a line or two.
    PREVIEW_AFTER_LINES = 30
    PREVIEW_AFTER_CHARS = 4_000
    PREVIEW_LINES = 15
    PREVIEW_CHARS = 2_000

    async def show_text(self, text: str) -> None:
        """Show `text` instead: the prompt as it was stored (an `@model ` prefix taken off)."""
        self.text = text
        await self.recompose()

    def compose(self) -> ComposeResult:
        shown, note = self.text, None
        if len(self.text) > self.PREVIEW_AFTER_CHARS or count_lines(self.text) > self.PREVIEW_AFTER_LINES:
            shown, note = preview(self.text, max_lines=self.PREVIEW_LINES, max_chars=self.PREVIEW_CHARS)
        # A prompt is outside text too: `chatroute ask` stores what its argument held, escapes included.
        yield Static(Text(strip_terminal_controls(shown)), classes="user-text")
        if note is not None:
            yield Static(Text(f"{note} · c copies all of it"), classes="user-more")


class AnswerIntent(Message):
    """The reader asks for something the chat screen does with an answer (the subclasses
    nested in AssistantMessage, one per intent)."""

    def __init__(self, widget: AssistantMessage) -> None:
        super().__init__()
        self.widget = widget


class AssistantMessage(HeightFromContent, MessageWidget):
    DEFAULT_CSS = """
    AssistantMessage { height: auto; padding: 0 1; margin: 1 0 0 0; border-left: thick $accent; }
    AssistantMessage:focus { background: $primary 15%; }
    AssistantMessage:focus:ansi { background: ansi_default; border-left: double $primary; }
    AssistantMessage:focus:nocolor { border-left: double $primary; }
    AssistantMessage > .reroutes { color: $warning; height: auto; }
    AssistantMessage > .routing { color: $text-muted; height: auto; }
    AssistantMessage > .error-line { color: $error; height: auto; }
    AssistantMessage > Markdown { margin: 0; padding: 0; }
    AssistantMessage > Markdown > MarkdownBlock.-last { margin-bottom: 0; }
    """

    BINDINGS = [
        # In the footer while a why panel is open (check_action), first, where a footer full of keys
        # is not cut; else Esc is the chat's (stop / back).
        Binding("escape", "close_why", "Close panel"),
        Binding("w", "why", "Why this model"),
        Binding("r", "retry", "Retry"),
        Binding("g", "regenerate", "Regenerate"),
        Binding("e", "rerun", "Re-run on…"),
        Binding("left_square_bracket,left", "sibling(-1)", "Prev sibling"),
        Binding("right_square_bracket,right", "sibling(1)", "Next sibling"),
    ]

    class Retry(AnswerIntent):
        """r: ask again what failed or was stopped (the cache may answer)."""

    class Regenerate(AnswerIntent):
        """g: a new answer to the same prompt, as a sibling of this one."""

    class Rerun(AnswerIntent):
        """e: pick a model, then regenerate on it."""

    class ShowSibling(AnswerIntent):
        """[ or ]: show the reply `delta` away among this turn's replies."""

        def __init__(self, widget: AssistantMessage, delta: int) -> None:
            super().__init__(widget)
            self.delta = delta

    def __init__(self, message_id: str | None, text: str = "", *, record: TurnRecord | None = None,
                 status: str = "complete",
                 sibling: tuple[int, int] | None = None, **kw: Any) -> None:
        super().__init__(message_id, text, **kw)
        self.record = record
        self.route: dict[str, Any] | None = record.route if record is not None else None
        self.model: str | None = record.model if record is not None else None
        self.status = status
        self.sibling = sibling
        self.error: str | None = record.error if record is not None else None
        self.retryable = True
        self.retry_spec: dict[str, Any] | None = None  # how to re-send if the turn never got ids
        self._feed: MarkdownFeed | None = None
        self._last_yield = 0.0
        self._reroutes: list[str] = reroute_lines(self.route)
        self._stopped_by_user = False

    # The answer grows a token at a time: keep the pieces and join them only when read, so
    # a long answer is not copied once per token.
    @property
    def text(self) -> str:
        parts = self._parts
        if len(parts) > 1:
            parts[:] = ["".join(parts)]
        return parts[0] if parts else ""

    @text.setter
    def text(self, value: str) -> None:
        self._parts = [value]

    def compose(self) -> ComposeResult:
        yield Static(Text("\n".join(self._reroutes)), classes="reroutes")
        yield Static("", classes="routing")
        yield AnswerMarkdown(self.text, prebuilt=True)
        yield Badge("")
        yield Static("", classes="error-line")

    def on_mount(self) -> None:
        self.query_one(".routing", Static).display = False
        self._refresh_meta()

    # ---- streaming ----
    def routed(self, model: str, kind: str, reason: str, decision: dict[str, Any]) -> None:
        self.model, self.route = model, dict(decision)
        self._set_routing(f"→ {short_model(model)} ({kind}) · {reason}")
        self._refresh_why()

    def rerouted(self, line: str) -> None:
        self._reroutes.append(line)
        self._refresh_meta()

    def cache_hit(self, similarity: float, lookup_ms: float) -> None:
        self._set_routing(f"⟲ from the cache (similarity {similarity:.2f}, {lookup_ms:.0f} ms)")

    def _set_routing(self, line: str) -> None:
        routing = self.query_one(".routing", Static)
        routing.update(Text(line))
        routing.display = bool(line)

    async def write(self, fragment: str) -> None:
        """Take one streamed fragment; it is rendered with the next batch (see MarkdownFeed)."""
        if not fragment:
            return
        self._parts.append(fragment)
        if self._feed is None:
            if not self.is_attached:  # scrolled out of the window or conversation left: keep the text only
                return
            self._feed = MarkdownFeed(self.query_one(Markdown))
        self._feed.write(fragment)
        now = time.perf_counter()
        if now - self._last_yield >= YIELD_INTERVAL_S:
            self._last_yield = now
            await asyncio.sleep(0)

    async def _stop_feed(self) -> bool:
        """Append the last batch; False if the streamed render cannot be trusted."""
        if self._feed is None:
            return True
        feed, self._feed = self._feed, None
        return await feed.stop()

    async def finish(self, text: str, record: TurnRecord | None, error: str | None, retryable: bool) -> None:
        """Stop streaming: the last batch is appended and streamed tables are tidied; the whole
        answer is rendered again only if the final text is not what was streamed. A full render
        of a long answer costs seconds (thousands of widgets), while appends already build the
        blocks a full parse builds (tests/tui/test_streaming_render.py compares the two)."""
        streamed_ok = await self._stop_feed()
        self.text = text
        self.record, self.error, self.retryable = record, error, retryable
        if record is not None:
            self.status = record.status
            self.model = record.model
            self.route = record.route or self.route
            self.message_id = record.message_id or self.message_id
        elif error:
            self.status = "error"
        if not self.is_attached:
            return
        self._set_routing("")
        markdown = self.query_one(Markdown)
        await self._settle_render(markdown, text, streamed_ok)
        self._refresh_meta()

    @staticmethod
    async def _settle_render(markdown: Markdown, text: str, streamed_ok: bool) -> None:
        await settle_streamed_render(markdown, text, streamed_ok)

    async def interrupted(self, record: TurnRecord | None = None) -> None:
        """The user stopped the stream: keep the partial text (all of it), mark it. `record` is
        the turn the engine saved as it stopped, with its reported or estimated cost: shown as
        reopening the conversation would show it, instead of a badge without the cost."""
        streamed_ok = await self._stop_feed()
        self.status = "interrupted"
        self._stopped_by_user = True
        if record is not None:
            self.record = record
            self.status = record.status
            self.model = record.model
            self.route = record.route or self.route
            self.error = self.error or record.error
        if not self.is_attached:
            return
        if record is not None:
            self._set_routing("")  # the badge names the model now, as after a finished turn
        await self._settle_render(self.query_one(Markdown), self.text, streamed_ok)
        self._refresh_meta()

    def set_sibling(self, sibling: tuple[int, int] | None) -> None:
        self.sibling = sibling
        if self.is_attached:
            self._refresh_meta()

    def on_unmount(self) -> None:
        if self._feed is not None:
            self._feed.cancel()
            self._feed = None

    def _refresh_meta(self) -> None:
        if self.has_focus:
            self.refresh_bindings()  # r Retry follows the status (see check_action)
        reroutes = self.query_one(".reroutes", Static)
        reroutes.update(Text("\n".join(f"↪ {r}" for r in self._reroutes)))
        reroutes.display = bool(self._reroutes)
        badge = self.query_one(Badge)
        if self.record is not None:
            badge.show_record(self.record, self.sibling)
        elif self.status == "interrupted":
            badge.show_pending(f"{short_model(self.model)} · ⚠ interrupted")
        elif self.status == "streaming" or self.status == "pending":
            badge.show_pending("…")
        else:
            badge.show_pending("")
        err = self.query_one(".error-line", Static)
        if self.status == "interrupted" and self.stopped_by_user():
            # Not a failure: the reader stopped it. Muted, and without the provider's wording.
            err.update(Text("■ stopped by you — the partial reply is kept · r re-asks (↑ from the prompt)",
                            style="dim"))
            err.display = True
        elif self.error or self.status in ("error", "interrupted"):
            # Read back, an error with no turn record is a turn refused before its request
            # went out (the budget, a reservation that could not be written): nothing billed.
            unsent = self.status == "error" and self.record is None
            msg = self.error or ("not sent: the turn failed before its request went out" if unsent
                                 else "the stream was interrupted")
            # "press r" alone read as an instruction for the prompt, where r is just a letter
            err.update(Text(f"⚠ {msg}" + ("  — r retries (↑ from the prompt reaches it)" if self.retryable else "")))
            err.display = True
        else:
            err.display = False
        self._refresh_why()

    def _refresh_why(self) -> None:
        # A panel opened while the answer was awaited follows the turn: after a reroute it
        # names the model that answered, as one opened afterwards does.
        for panel in self.query(WhyPanel):
            panel.show(self.route, self.model)

    def has_failed(self) -> bool:
        """Failed or stopped: something for r to ask again."""
        return self.status in ("error", "interrupted") or bool(self.error)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # None: the footer shows r Retry disabled on an answer with nothing to retry.
        if action == "retry" and not self.has_failed():
            return None
        if action == "close_why":
            return bool(self.query(WhyPanel))
        return True

    def stopped_by_user(self) -> bool:
        return self._stopped_by_user or STOPPED_BY_USER in (self.error or "")

    # ---- actions (the chat screen does the work) ----
    async def action_why(self) -> None:
        panels = self.query(WhyPanel)
        if panels:
            await panels.remove()
            self.refresh_bindings()
            return
        panel = WhyPanel(self.route, self.model)
        await self.mount(panel, after=self.query_one(Badge))
        self.refresh_bindings()  # esc closes it: the footer says so
        # On a short screen the panel opens below the fold: bring it into view.
        self.call_after_refresh(panel.scroll_visible, animate=False)

    async def action_close_why(self) -> None:
        await self.query(WhyPanel).remove()
        self.refresh_bindings()

    def action_retry(self) -> None:
        self.post_message(self.Retry(self))

    def action_regenerate(self) -> None:
        self.post_message(self.Regenerate(self))

    def action_rerun(self) -> None:
        self.post_message(self.Rerun(self))

    def action_sibling(self, delta: int) -> None:
        self.post_message(self.ShowSibling(self, delta))
