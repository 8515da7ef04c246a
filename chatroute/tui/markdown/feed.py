"""Streaming fragments into a Markdown widget, and settling it when the stream ends."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time

from textual.widgets import Markdown

from chatroute.tui.collector import COLLECTOR
from chatroute.tui.markdown.fence import LongFences
from chatroute.tui.markdown.frames import next_frame
from chatroute.tui.markdown.freeze import FreezingMarkdown
from chatroute.tui.markdown.repair import repair_streamed_tables, streamed_render_is_faithful

# A Markdown append re-parses the open block and re-lays out the whole screen, so doing one
# per token (hundreds a second) saturates the event loop; ~20 a second reads as live.
FLUSH_INTERVAL_S = 0.05
# Buffered tokens arrive without the network read ever blocking, so the consumer must hand
# the loop back itself or keys, timers and repaints wait for the whole buffer.
YIELD_INTERVAL_S = 0.01
# Bounded work per append: a new block's widgets are built, mounted and laid out in one go,
# so a backlog is appended MAX_APPEND_LINES lines at a time (blocks start on new lines).
# Text that only makes the last paragraph longer builds no widgets, so its bound is larger.
MAX_APPEND_LINES = 16
MAX_APPEND_CHARS = 4000
# A line begun with only these so far may still turn out to continue the list above it
# ("5" -> "5. five"). Appended alone it would become a block of its own, and Textual's
# append, which re-parses from the last block only, would never join it back.
_UNDECIDED_LINE = re.compile(r"[ \t]*(?:\d{1,9}[.)]?|[-+*])?")


class MarkdownFeed:
    """Streams fragments into a Markdown widget in batches.

    At most one append per `interval` while fragments arrive (the first goes at once) and
    per frame, so each frame re-parses and re-lays out once however fast tokens come; each
    append is bounded (see append_cut), so when rendering falls behind a fast stream it
    catches up a bounded step a frame instead of mounting one huge backlog in a single long
    stall. `stop` drains what is left the same way. Before each append, the blocks no append
    can change any more are pictured (FreezingMarkdown.freeze_finished).
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
            if isinstance(self._markdown, LongFences):
                self._markdown.streaming = True  # long open fences wait to be coloured
            COLLECTOR.begin_busy()
            self._task = asyncio.create_task(self._run(), name="markdown-feed")

    def _next_chunk(self) -> str:
        text = "".join(self._pending)
        self._pending.clear()
        cut = append_cut(text)
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
            if isinstance(self._markdown, FreezingMarkdown):
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


def append_cut(text: str) -> int:
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


async def settle_streamed_render(markdown: Markdown, text: str, streamed_ok: bool) -> None:
    """Leave `markdown` showing `text` as a one-shot render would, re-rendering it whole
    only when the streamed render cannot be repaired cheaply."""
    COLLECTOR.begin_busy()  # still the stream's rendering (the feed has just ended its spell)
    if isinstance(markdown, LongFences):
        markdown.streaming = False  # from here on every fence built is coloured
    try:
        if streamed_ok and markdown.source == text:
            try:
                if await streamed_render_is_faithful(markdown, text):
                    if isinstance(markdown, FreezingMarkdown):
                        await markdown.thaw()
                    await repair_streamed_tables(markdown)
                    if isinstance(markdown, LongFences):
                        markdown.highlight_deferred()
                    return
            except Exception:  # Textual's internals changed: the slow, sure way
                pass
        await markdown.update(text)
    finally:
        COLLECTOR.end_busy()

