"""Chat messages. Assistant messages stream Markdown and carry the badge, reroutes, errors
and the per-message actions (copy, why, retry, regenerate, re-run, siblings)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any

from markdown_it import MarkdownIt
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.await_complete import AwaitComplete
from textual.binding import Binding
from textual.containers import Vertical
from textual.geometry import Region, Size
from textual.layout import DockArrangeResult
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Markdown, Static

# Not exported by Textual: used only to tidy streamed tables, with a full re-render as fallback.
from textual.widgets._markdown import MarkdownTable, MarkdownTableCellContents, MarkdownTableContent
from textual.widgets.markdown import MarkdownBlock

from chatroute.format import count_lines, preview
from chatroute.tui.collector import COLLECTOR
from chatroute.tui.data import reroute_lines, short_model
from chatroute.tui.widgets.badge import Badge, WhyPanel

if TYPE_CHECKING:
    from chatroute.store.records import TurnRecord

# A Markdown append re-parses the open block and re-lays out the whole screen, so doing one
# per token (hundreds a second) saturates the event loop; ~20 a second reads as live.
FLUSH_INTERVAL_S = 0.05
# Buffered tokens arrive without the network read ever blocking, so the consumer must hand
# the loop back itself or keys, timers and repaints wait for the whole buffer.
YIELD_INTERVAL_S = 0.01
# How the engine words a turn stopped by the user (Esc, ctrl+c, quitting) in the stored record.
STOPPED_BY_USER = "stopped before the reply was complete"
# Bounded work per append: a new block's widgets are built, mounted and laid out in one go,
# so a backlog is appended MAX_APPEND_LINES lines at a time (blocks start on new lines).
# Text that only makes the last paragraph longer builds no widgets, so its bound is larger.
MAX_APPEND_LINES = 16
MAX_APPEND_CHARS = 4000
# Finished blocks are pictured (see FrozenBlocks) once they hold this many widgets: each
# picture is one more widget and costs a small layout of its own, so not block by block.
FREEZE_MIN_WIDGETS = 30
# Settling a streamed answer shows its hidden blocks again, about this many widgets a frame.
THAW_STEP_WIDGETS = 150
# Waiting for a frame is pacing only: a widget being removed never answers.
FRAME_TIMEOUT_S = 0.5
# A line begun with only these so far may still turn out to continue the list above it
# ("5" -> "5. five"). Appended alone it would become a block of its own, and Textual's
# append, which re-parses from the last block only, would never join it back.
_UNDECIDED_LINE = re.compile(r"[ \t]*(?:\d{1,9}[.)]?|[-+*])?")


class MarkdownFeed:
    """Streams fragments into a Markdown widget in batches.

    At most one append per `interval` while fragments arrive (the first goes at once) and
    per frame, so each frame re-parses and re-lays out once however fast tokens come; each
    append is bounded (see _append_cut), so when rendering falls behind a fast stream it
    catches up a bounded step a frame instead of mounting one huge backlog in a single long
    stall. `stop` drains what is left the same way. Before each append, the blocks no append
    can change any more are pictured (AnswerMarkdown.freeze_finished).
    """

    def __init__(self, markdown: Markdown, interval: float | None = None) -> None:
        self._markdown = markdown
        self._interval = FLUSH_INTERVAL_S if interval is None else interval
        self._pending: list[str] = []
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._at_line_start = True  # everything appended so far ends with a newline

    def write(self, fragment: str) -> None:
        self._pending.append(fragment)
        self._wake.set()
        if self._task is None:
            COLLECTOR.begin_busy()
            self._task = asyncio.create_task(self._run(), name="markdown-feed")

    def _next_chunk(self) -> str:
        text = "".join(self._pending)
        self._pending.clear()
        cut = _append_cut(text)
        if cut < len(text):
            self._pending.append(text[cut:])
            text = text[:cut]
        elif not self._stopping.is_set():
            newline = text.rfind("\n")
            if newline >= 0 or self._at_line_start:
                tail = text[newline + 1:]
                if tail and _UNDECIDED_LINE.fullmatch(tail):
                    self._pending.append(tail)  # until the line says what it is
                    text = text[:newline + 1]
        if text:
            self._at_line_start = text.endswith("\n")
        return text

    async def _run(self) -> None:
        while True:
            chunk = self._next_chunk()
            if not chunk:
                if self._stopping.is_set():
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            started = time.perf_counter()
            if isinstance(self._markdown, AnswerMarkdown):
                # Before the append, so hiding the finished blocks and mounting the new ones
                # share one layout.
                await self._markdown.freeze_finished()
            await self._markdown.append(chunk)
            # One append per frame, also when draining: appends queued between two frames
            # were all laid out in the second, one long stall for a backlog.
            await next_frame(self._markdown)
            pause = self._interval - (time.perf_counter() - started)
            if pause > 0 and not self._stopping.is_set():  # let fragments gather (stop() cuts it short)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), pause)

    async def stop(self) -> bool:
        """Append everything still pending, then stop. True if every fragment written was
        applied; False if an append failed (the caller should render the text afresh)."""
        task, self._task = self._task, None
        if task is None:
            return True
        self._stopping.set()
        self._wake.set()
        try:
            await asyncio.wait([task])  # never raises the task's error: it is read below
        finally:
            COLLECTOR.end_busy()
        return not task.cancelled() and task.exception() is None

    def cancel(self) -> None:
        """Drop everything (the widget is going away)."""
        task, self._task = self._task, None
        if task is not None:
            COLLECTOR.end_busy()
            task.cancel()
        self._pending.clear()


def _append_cut(text: str) -> int:
    """Where the next append ends: after MAX_APPEND_LINES lines, else within MAX_APPEND_CHARS
    (at a line end if there is one)."""
    newline = -1
    for _ in range(MAX_APPEND_LINES):
        newline = text.find("\n", newline + 1, MAX_APPEND_CHARS)
        if newline < 0:
            break
    else:
        return newline + 1
    if len(text) <= MAX_APPEND_CHARS:
        return len(text)
    return text.rfind("\n", 0, MAX_APPEND_CHARS) + 1 or MAX_APPEND_CHARS


async def next_frame(widget: Widget, timeout: float = FRAME_TIMEOUT_S) -> None:
    """Wait until the screen has laid out and painted what was changed so far."""
    painted = asyncio.Event()
    if widget.call_after_refresh(painted.set):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(painted.wait(), timeout)


def _top_level_blocks(text: str) -> list[tuple[str, tuple[int, int]]] | None:
    """(token type, source lines) of each top-level block a one-shot render builds from
    `text`, parsed as Textual's Markdown does; None if blocks depend on text after them
    (reference-style links), which an append-by-append render cannot know."""
    env: dict[str, Any] = {}
    tokens = answer_parser().parse(text, env)
    if env.get("references"):
        return None
    return [(t.type, (t.map[0], t.map[1])) for t in tokens if t.level == 0 and t.nesting >= 0 and t.map]


async def streamed_render_is_faithful(markdown: Markdown, text: str) -> bool:
    """Do the streamed blocks match those of a one-shot render of `text`? Textual's append
    re-parses from the last block only, so a line that joins an earlier block (a list item
    after a paragraph-looking fragment) can leave the blocks split."""
    expected = await asyncio.get_running_loop().run_in_executor(None, _top_level_blocks, text)
    if expected is None:
        return False
    shown = [(block.name, tuple(block.source_range)) for block in markdown.children if isinstance(block, MarkdownBlock)]
    return shown == expected


async def repair_streamed_tables(markdown: Markdown) -> None:
    """Make tables that grew row by row look exactly as a one-shot render builds them.

    Textual appends streamed table rows as plain Statics (links in them do nothing) rather
    than the MarkdownTableCellContents a full render uses; only those tables' cells are
    rebuilt here, from the rows the table already parsed. Raises if Textual's internals
    differ (the caller then renders the whole answer afresh).
    """
    for content in _streamed_tables(markdown):
        await _rebuild_table(content)


def _streamed_tables(root: Widget) -> list[MarkdownTableContent]:
    return [content for content in root.query(MarkdownTableContent)
            if not all(isinstance(cell, MarkdownTableCellContents) for cell in content.children)]


async def _rebuild_table(content: MarkdownTableContent) -> None:
    table = content.parent
    if not isinstance(table, MarkdownTable):
        raise TypeError("unexpected table structure")
    fresh = MarkdownTableContent(table._headers, table._rows)
    await content.remove()
    await table.mount(fresh)


async def settle_streamed_render(markdown: Markdown, text: str, streamed_ok: bool) -> None:
    """Leave `markdown` showing `text` as a one-shot render would, re-rendering it whole
    only when the streamed render cannot be repaired cheaply."""
    COLLECTOR.begin_busy()  # still the stream's rendering (the feed has just ended its spell)
    try:
        if streamed_ok and markdown.source == text:
            try:
                if await streamed_render_is_faithful(markdown, text):
                    if isinstance(markdown, AnswerMarkdown):
                        await markdown.thaw()
                    await repair_streamed_tables(markdown)
                    return
            except Exception:  # Textual's internals changed: the slow, sure way
                pass
        await markdown.update(text)
    finally:
        COLLECTOR.end_busy()


def _picture(markdown: Widget, blocks: Sequence[Widget]) -> list[Strip] | None:
    """The lines `blocks` show now, from the top of the first to the bottom of the last and
    across the markdown's content width; None if they are not laid out at their size yet.

    A compositor of its own, rooted at `markdown`, draws them exactly as the screen's does:
    backgrounds, margins, nested containers and scrollbars included.
    """
    from textual._compositor import (
        Compositor,  # private: a failure here turns freezing off
    )

    size = markdown.outer_size
    compositor = Compositor()
    compositor.reflow(markdown, size)
    placed = compositor.full_map
    first, last = placed.get(blocks[0]), placed.get(blocks[-1])
    if first is None or last is None:
        return None
    top, bottom = first.region.y, last.region.bottom
    if not top < bottom <= size.height:
        return None
    band = Region(0, top, size.width, bottom - top)
    for widget, geometry in placed.items():
        # A widget the screen has not laid out at this size yet would draw at its old size.
        if widget is not markdown and geometry.region.overlaps(band) and geometry.region.size != widget.outer_size:
            return None
    chops = compositor._render_chops(band, lambda y: top <= y < bottom)
    left = markdown.styles.gutter.left
    right = left + markdown.size.width
    return [Strip.join(chops[y].values()).crop(left, right) for y in range(top, bottom)]


class FrozenBlocks(Widget):
    """A picture of finished blocks of a streaming answer, shown in their place.

    Textual walks every displayed widget on each layout (the compositor's reflow, tens of
    microseconds a widget), so a long answer's finished lists, tables and code blocks made
    every later frame of its stream slower, however little changed. Those blocks stay mounted
    but hidden (display: none) while this single widget draws the lines they drew. Settling
    the answer shows them again, so the result is the one-shot render; a change to what the
    picture depends on (width, theme, background) shows them again at once.
    """

    ALLOW_SELECT = False
    DEFAULT_CSS = "FrozenBlocks { width: 1fr; }"

    def __init__(
        self, blocks: Sequence[Widget], strips: list[Strip], widget_count: int, look: tuple[object, ...]
    ) -> None:
        super().__init__()
        self.blocks = blocks
        self.widget_count = widget_count
        self.look = look
        self._strips = strips
        # Collapsed with the neighbours' margins exactly as the blocks' own were.
        self.styles.height = len(strips)
        self.styles.margin = (blocks[0].styles.margin.top, 0, blocks[-1].styles.margin.bottom, 0)

    def render_lines(self, crop: Region) -> list[Strip]:
        markdown = self.parent
        if isinstance(markdown, AnswerMarkdown) and markdown.look() != self.look:
            markdown.thaw_soon()  # this frame still shows the picture
        strips = self._strips
        return [strips[y].crop_extend(crop.x, crop.right, None) if y < len(strips) else Strip.blank(crop.width)
                for y in range(crop.y, crop.bottom)]

    async def action_link(self, href: str) -> None:
        """A link in the picture was clicked: as the block it shows would report it."""
        markdown = self.parent
        if isinstance(markdown, Markdown):
            self.post_message(Markdown.LinkClicked(markdown, href))


class HeightFromContent:
    """Mixin for a height: auto container whose children's heights never depend on its own.

    Textual lays out such a container's children against the container's current height
    whenever every child is height: auto, and that height is part of every child's layout
    cache key. A streaming answer grows a line at a time, so each append re-laid out every
    list, table and code block it held, recursively, however little changed. With no fr or
    % heights among the children the height makes no difference to the result, and Textual
    itself arranges against height 0 in that case (layout.get_content_height); always doing
    so keeps the children's cached layouts valid as the container grows.
    """

    def _heights_own(self) -> bool:
        return not any(child.styles.is_relative_height for child in self.children)  # type: ignore[attr-defined]

    def arrange(self, size: Size, optimal: bool = False) -> DockArrangeResult:
        if size.height and self._heights_own():
            size = Size(size.width, 0)
        return super().arrange(size, optimal)  # type: ignore[misc]

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        if width and self.children and self._heights_own():  # type: ignore[attr-defined]
            return self.arrange(Size(width, 0)).total_region.height
        return super().get_content_height(container, viewport, width)  # type: ignore[misc]


_parser: MarkdownIt | None = None


def _soft_breaks_are_hard(state: Any) -> None:
    for token in state.tokens:
        if token.type == "inline" and token.children:
            for child in token.children:
                if child.type == "softbreak":
                    child.type = "hardbreak"


def answer_parser() -> MarkdownIt:
    """GFM, with a single newline as a line break, as chat UIs show answers: a haiku or an
    address keeps its lines instead of running into one paragraph. markdown-it's `breaks`
    option only changes its HTML output, so the soft-break tokens Textual reads are made hard
    ones; only text inside paragraphs has them, so code blocks, lists and tables are as before."""
    parser = MarkdownIt("gfm-like", {"breaks": True})
    parser.core.ruler.push("soft_breaks_are_hard", _soft_breaks_are_hard)
    return parser


def _shared_parser() -> MarkdownIt:
    """One parser for every stored answer (building one per answer costs more than parsing it)."""
    global _parser
    if _parser is None:
        _parser = answer_parser()
    return _parser


class AnswerMarkdown(HeightFromContent, Markdown):
    """Markdown whose last block carries the class `-last`, so CSS can drop that block's
    bottom margin (the badge then sits right under the text). A `:last-child` rule would do
    the same, but Textual then restyles every block, children included, whenever a block is
    mounted: work that grows with the answer on every streamed append.

    A stored answer (`prebuilt`) builds its blocks in compose, so they mount with the message
    in the chat view's batch. Markdown's own way parses in a thread after mounting and then
    mounts the blocks on its own: paging ten stored messages into a long conversation took
    six layouts and frames instead of one. Past PREBUILT_MAX_CHARS the thread is worth it.
    """

    PREBUILT_MAX_CHARS = 20_000
    _last_block: Widget | None = None

    def __init__(self, markdown: str | None = None, *, prebuilt: bool = False, **kw: Any) -> None:
        kw.setdefault("parser_factory", _shared_parser)
        super().__init__(markdown, **kw)
        self._prebuilt = prebuilt and bool(markdown) and len(markdown or "") <= self.PREBUILT_MAX_CHARS
        self._frozen: list[FrozenBlocks] = []  # in document order
        self._can_freeze = True
        self._thawing: asyncio.Task[None] | None = None

    def compose(self) -> ComposeResult:
        if not self._prebuilt:
            return
        text, self._initial_markdown = self._initial_markdown or "", None
        # The state Markdown.update leaves behind, so a later update or append works as usual.
        self._markdown = text
        self._theme = self.app.theme
        lines = text.splitlines()
        self._last_parsed_line = len(lines) - (1 if lines and lines[-1] else 0)
        blocks = list(self._parse_markdown(_shared_parser().parse(text)))
        if blocks:
            blocks[-1].add_class("-last")
            self._last_block = blocks[-1]
        yield from blocks

    # [override]: Textual's Markdown makes Widget's sync _on_mount async, so no signature satisfies both.
    async def _on_mount(self, event: events.Mount) -> None:  # type: ignore[override]
        if self._prebuilt:
            # Markdown's own mount handler would parse the text again and replace the blocks.
            event.prevent_default()

    def update(self, markdown: str) -> AwaitComplete:
        pictures, self._frozen = self._frozen, []  # update replaces every block, hidden or not
        return AwaitComplete(self._mark_last_after(super().update(markdown), drop=pictures))

    def append(self, markdown: str) -> AwaitComplete:
        return AwaitComplete(self._mark_last_after(super().append(markdown)))

    async def _mark_last_after(self, change: Awaitable[Any], drop: list[FrozenBlocks] | None = None) -> None:
        if drop:
            await self.remove_children(drop)
        await change
        last = self.children[-1] if self.children else None
        if last is not self._last_block:
            # Only the block's own margin depends on the class, so only the block is restyled:
            # add_class restyles the whole subtree, every cell of a table that just ended.
            changed: list[Widget] = []
            if self._last_block is not None:
                changed.append(self._last_block.remove_class("-last", update=False))
            if last is not None:
                changed.append(last.add_class("-last", update=False))
            self.app.stylesheet.update_nodes(changed, animate=False)
            self._last_block = last

    # ---- a streaming answer's finished blocks (see FrozenBlocks) ----
    def look(self) -> tuple[object, ...]:
        """What a picture of the blocks depends on besides the blocks themselves."""
        return (self.size.width, self.app.theme, self.colors)

    async def freeze_finished(self) -> None:
        """Picture the blocks no append can change any more and hide them behind it.

        Textual's append re-parses from the start of the last block and updates only that
        block, so every block before it is final: open code fences, lists and tables are
        always in the last one. Streamed tables are rebuilt as a one-shot render builds them
        first, and pictured at a later step once the screen has laid them out.
        """
        if not self._can_freeze or not self.is_attached:
            return
        async with self.lock:
            try:
                await self._freeze_step()
            except Exception:  # Textual's internals differ: stream without pictures
                self._can_freeze = False
                await self.thaw(step_widgets=None)

    async def _freeze_step(self) -> None:
        shown = [child for child in self.children if isinstance(child, MarkdownBlock) and child.display]
        finished = shown[:-1]
        if not finished:
            return
        streamed = [content for block in finished for content in _streamed_tables(block)]
        if streamed:
            for content in streamed:
                await _rebuild_table(content)
            return
        count = sum(1 + len(block.walk_children()) for block in finished)
        if count < FREEZE_MIN_WIDGETS:
            return
        look = self.look()
        strips = _picture(self, finished)
        if strips is None:
            return
        picture = FrozenBlocks(finished, strips, count, look)
        try:
            with self.app.batch_update():
                for block in finished:
                    block.display = False
                await self.mount(picture, after=finished[-1])
        except Exception:
            for block in finished:
                block.display = True
            raise
        self._frozen.append(picture)

    async def thaw(self, step_widgets: int | None = THAW_STEP_WIDGETS) -> None:
        """Show the hidden blocks again and drop their pictures, about `step_widgets` widgets
        a frame (all at once if None), the latest first: they are nearest the bottom the
        chat view follows."""
        while self._frozen:
            async with self.lock:
                batch: list[FrozenBlocks] = []
                count = 0
                while self._frozen and (step_widgets is None or count < step_widgets):
                    batch.append(self._frozen.pop())
                    count += batch[-1].widget_count
                with self.app.batch_update():
                    for picture in batch:
                        for block in picture.blocks:
                            block.display = True
                    await self.remove_children(batch)
            if step_widgets is not None:  # the last step too: settled means laid out
                await next_frame(self)

    def thaw_soon(self) -> None:
        """A picture no longer looks like its blocks would: show the blocks (in a task of its
        own: called while the screen draws)."""
        if self._thawing is None and self._frozen:
            self._thawing = asyncio.create_task(self._thaw_all(), name="markdown-thaw")

    async def _thaw_all(self) -> None:
        try:
            if self.is_attached:
                await self.thaw(step_widgets=None)
        finally:
            self._thawing = None


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
    """A prompt. A long one (a pasted log) shows its first lines and a note of what is left out:
    laying out a megabyte took seconds on every send and every reopen, for text nobody reads in
    the chat. `text` stays whole, for copy (c), retry and regenerate; the store and the exports
    hold all of it."""

    DEFAULT_CSS = """
    UserMessage { height: auto; padding: 0 1; margin: 1 0 0 0; border-left: thick $primary; }
    UserMessage:focus { background: $boost; }
    UserMessage > .user-more { color: $text-muted; }
    """
    # Shown whole up to about a screenful; past that, the first PREVIEW_LINES lines (at most
    # PREVIEW_CHARS characters: one line may be a megabyte of minified JSON). The gap between
    # the two keeps a note from hiding only a line or two.
    PREVIEW_AFTER_LINES = 30
    PREVIEW_AFTER_CHARS = 4_000
    PREVIEW_LINES = 15
    PREVIEW_CHARS = 2_000

    def compose(self) -> ComposeResult:
        shown, note = self.text, None
        if len(self.text) > self.PREVIEW_AFTER_CHARS or count_lines(self.text) > self.PREVIEW_AFTER_LINES:
            shown, note = preview(self.text, max_lines=self.PREVIEW_LINES, max_chars=self.PREVIEW_CHARS)
        yield Static(Text(shown), classes="user-text")
        if note is not None:
            yield Static(Text(f"{note} · c copies all of it"), classes="user-more")


class AssistantMessage(HeightFromContent, MessageWidget):
    DEFAULT_CSS = """
    AssistantMessage { height: auto; padding: 0 1; margin: 1 0 0 0; border-left: thick $accent; }
    AssistantMessage:focus { background: $boost; }
    AssistantMessage > .reroutes { color: $warning; height: auto; }
    AssistantMessage > .routing { color: $text-muted; height: auto; }
    AssistantMessage > .error-line { color: $error; height: auto; }
    AssistantMessage > Markdown { margin: 0; padding: 0; }
    AssistantMessage > Markdown > MarkdownBlock.-last { margin-bottom: 0; }
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
            msg = self.error or "the stream was interrupted"
            # "press r" alone read as an instruction for the prompt, where r is just a letter
            err.update(Text(f"⚠ {msg}" + ("  — r retries (↑ from the prompt reaches it)" if self.retryable else "")))
            err.display = True
        else:
            err.display = False

    def stopped_by_user(self) -> bool:
        return self._stopped_by_user or STOPPED_BY_USER in (self.error or "")

    # ---- actions (the chat screen does the work) ----
    async def action_why(self) -> None:
        panels = self.query(WhyPanel)
        if panels:
            await panels.remove()
            return
        panel = WhyPanel(self.route, self.model)
        await self.mount(panel, after=self.query_one(Badge))
        # On a short screen the panel opens below the fold: bring it into view.
        self.call_after_refresh(panel.scroll_visible, animate=False)

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
