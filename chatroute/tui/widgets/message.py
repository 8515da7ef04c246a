"""Chat messages. Assistant messages stream Markdown and carry the badge, reroutes, errors
and the per-message actions (copy, why, retry, regenerate, re-run, siblings)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Markdown, Static
from textual.widgets._markdown import MarkdownStream

from chatroute.tui.data import _attr, reroute_lines, short_model
from chatroute.tui.widgets.badge import Badge, WhyPanel


class MessageWidget(Vertical, can_focus=True):
    """Common base: focusable, copyable, navigable with up/down."""

    BINDINGS = [
        Binding("c", "copy", "Copy"),
        Binding("up,k", "move(-1)", "Previous message", show=False),
        Binding("down,j", "move(1)", "Next message", show=False),
        Binding("i", "compose", "Write", show=False),
    ]

    class Requested(Message):
        """A message asks the chat screen to do something (retry, regenerate, ...)."""

        def __init__(self, widget: MessageWidget, action: str, arg: Any = None) -> None:
            super().__init__()
            self.widget = widget
            self.action = action
            self.arg = arg

    def __init__(self, message_id: str | None, text: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.message_id = message_id
        self.text = text

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.text)
        self.app.notify("Copied to the clipboard", timeout=2)

    def action_move(self, delta: int) -> None:
        self.post_message(self.Requested(self, "move", delta))

    def action_compose(self) -> None:
        self.post_message(self.Requested(self, "compose"))


class UserMessage(MessageWidget):
    DEFAULT_CSS = """
    UserMessage { height: auto; padding: 0 1; margin: 1 0 0 0; border-left: thick $primary; }
    UserMessage:focus { background: $boost; }
    """

    def compose(self):  # type: ignore[override]
        yield Static(Text(self.text), classes="user-text")


class AssistantMessage(MessageWidget):
    DEFAULT_CSS = """
    AssistantMessage { height: auto; padding: 0 1; margin: 1 0 0 0; border-left: thick $accent; }
    AssistantMessage:focus { background: $boost; }
    AssistantMessage > .reroutes { color: $warning; height: auto; }
    AssistantMessage > .routing { color: $text-muted; height: auto; }
    AssistantMessage > .error-line { color: $error; height: auto; }
    AssistantMessage > Markdown { margin: 0; padding: 0; }
    AssistantMessage > Markdown > MarkdownBlock:last-child { margin-bottom: 0; }
    """

    BINDINGS = [
        Binding("w", "why", "Why this model"),
        Binding("r", "retry", "Retry"),
        Binding("g", "regenerate", "Regenerate"),
        Binding("e", "rerun", "Re-run on…"),
        Binding("left_square_bracket,left", "sibling(-1)", "Prev sibling"),
        Binding("right_square_bracket,right", "sibling(1)", "Next sibling"),
        Binding("escape", "close_why", "Close panel", show=False),
    ]

    def __init__(self, message_id: str | None, text: str = "", *, record: Any = None, status: str = "complete",
                 sibling: tuple[int, int] | None = None, **kw: Any) -> None:
        super().__init__(message_id, text, **kw)
        self.record = record
        self.route: dict[str, Any] | None = _attr(record, "route", default=None) if record is not None else None
        self.model: str | None = _attr(record, "model", default=None) if record is not None else None
        self.status = status
        self.sibling = sibling
        self.error: str | None = _attr(record, "error", default=None) if record is not None else None
        self.retryable = True
        self.retry_spec: dict[str, Any] | None = None  # how to re-send if the turn never got ids
        self._stream: MarkdownStream | None = None
        self._reroutes: list[str] = reroute_lines(self.route)

    def compose(self):  # type: ignore[override]
        yield Static(Text("\n".join(self._reroutes)), classes="reroutes")
        yield Static("", classes="routing")
        yield Markdown(self.text)
        yield Badge("")
        yield Static("", classes="error-line")

    def on_mount(self) -> None:
        self.query_one(".routing", Static).display = False
        self._refresh_meta()

    # ---- streaming ----
    def routed(self, model: str, kind: str, reason: str, decision: dict[str, Any]) -> None:
        self.model, self.route = model, dict(decision)
        self._set_routing(f"→ {short_model(model)} ({kind}) · {reason}")

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
        if self._stream is None:
            self._stream = Markdown.get_stream(self.query_one(Markdown))
        self.text += fragment
        await self._stream.write(fragment)

    async def finish(self, text: str, record: Any, error: str | None, retryable: bool) -> None:
        """Stop streaming and re-render the whole answer once (the stream may have split blocks)."""
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
        self.text = text
        self.record, self.error, self.retryable = record, error, retryable
        if record is not None:
            self.status = _attr(record, "status", default="ok")
            self.model = _attr(record, "model", default=self.model)
            self.route = _attr(record, "route", default=None) or self.route
            self.message_id = _attr(record, "message_id", default=self.message_id) or self.message_id
        elif error:
            self.status = "error"
        self._set_routing("")
        await self.query_one(Markdown).update(text)
        self._refresh_meta()

    async def interrupted(self) -> None:
        """The user stopped the stream: keep the partial text, mark it."""
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
        self.status = "interrupted"
        self._refresh_meta()

    def _refresh_meta(self) -> None:
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
        if self.error or self.status in ("error", "interrupted"):
            msg = self.error or "the stream was interrupted"
            err.update(Text(f"⚠ {msg}" + ("  — press r to retry" if self.retryable else "")))
            err.display = True
        else:
            err.display = False

    # ---- actions (the chat screen does the work) ----
    def action_why(self) -> None:
        panels = self.query(WhyPanel)
        if panels:
            panels.remove()
        else:
            self.mount(WhyPanel(self.route, self.model), after=self.query_one(Badge))

    def action_close_why(self) -> None:
        panels = self.query(WhyPanel)
        if panels:
            panels.remove()
        else:
            self.post_message(self.Requested(self, "compose"))

    def action_retry(self) -> None:
        self.post_message(self.Requested(self, "retry"))

    def action_regenerate(self) -> None:
        self.post_message(self.Requested(self, "regenerate"))

    def action_rerun(self) -> None:
        self.post_message(self.Requested(self, "rerun"))

    def action_sibling(self, delta: int) -> None:
        self.post_message(self.Requested(self, "sibling", delta))
