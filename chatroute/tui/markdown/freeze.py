"""A streaming answer's finished blocks, pictured: hidden behind one widget that draws the
lines they drew, so each later frame of the stream lays out fewer widgets."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Markdown
from textual.widgets.markdown import MarkdownBlock

from chatroute.tui.markdown.frames import next_frame
from chatroute.tui.markdown.repair import rebuild_table, streamed_tables
from chatroute.tui.textual_compat import OffscreenLayout

# Finished blocks are pictured (see FrozenBlocks) once they hold this many widgets: each
# picture is one more widget and costs a small layout of its own, so not block by block.
FREEZE_MIN_WIDGETS = 30
# Settling a streamed answer shows its hidden blocks again, about this many widgets a frame.
THAW_STEP_WIDGETS = 150


def picture_of(markdown: Widget, blocks: Sequence[Widget]) -> list[Strip] | None:
    """The lines `blocks` show now, from the top of the first to the bottom of the last and
    across the markdown's content width; None if they are not laid out at their size yet.

    Drawn by a compositor of its own, rooted at `markdown`, exactly as the screen's draws them.
    """
    size = markdown.outer_size
    layout = OffscreenLayout(markdown, size)
    placed = layout.placed
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
    left = markdown.styles.gutter.left
    right = left + markdown.size.width
    return [line.crop(left, right) for line in layout.lines(band)]


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
        if isinstance(markdown, FreezingMarkdown) and markdown.look() != self.look:
            markdown.thaw_soon()  # this frame still shows the picture
        strips = self._strips
        return [strips[y].crop_extend(crop.x, crop.right, None) if y < len(strips) else Strip.blank(crop.width)
                for y in range(crop.y, crop.bottom)]

    async def action_link(self, href: str) -> None:
        """A link in the picture was clicked: as the block it shows would report it."""
        markdown = self.parent
        if isinstance(markdown, Markdown):
            self.post_message(Markdown.LinkClicked(markdown, href))


class FreezingMarkdown(Markdown):
    """A Markdown whose finished blocks can be pictured while it streams (see FrozenBlocks)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._frozen: list[FrozenBlocks] = []  # in document order
        self._can_freeze = True
        self._thawing: asyncio.Task[None] | None = None

    def take_pictures(self) -> list[FrozenBlocks]:
        """Forget the pictures (an update replaces every block, hidden or not); the caller removes them."""
        pictures, self._frozen = self._frozen, []
        return pictures

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
        streamed = [content for block in finished for content in streamed_tables(block)]
        if streamed:
            for content in streamed:
                await rebuild_table(content)
            return
        count = sum(1 + len(block.walk_children()) for block in finished)
        if count < FREEZE_MIN_WIDGETS:
            return
        look = self.look()
        strips = picture_of(self, finished)
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
