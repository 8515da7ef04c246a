"""A streamed render checked against a one-shot render of the same text, and its tables
rebuilt as a one-shot render builds them."""

from __future__ import annotations

import asyncio
from typing import Any

from textual.widget import Widget
from textual.widgets import Markdown
from textual.widgets.markdown import MarkdownBlock

from chatroute.tui.markdown.parser import answer_parser
from chatroute.tui.textual_compat import (
    MarkdownTable,
    MarkdownTableCellContents,
    MarkdownTableContent,
    rebuilt_table_content,
)


def top_level_blocks(text: str) -> list[tuple[str, tuple[int, int]]] | None:
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
    expected = await asyncio.get_running_loop().run_in_executor(None, top_level_blocks, text)
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
    for content in streamed_tables(markdown):
        await rebuild_table(content)


def streamed_tables(root: Widget) -> list[MarkdownTableContent]:
    return [content for content in root.query(MarkdownTableContent)
            if not all(isinstance(cell, MarkdownTableCellContents) for cell in content.children)]


async def rebuild_table(content: MarkdownTableContent) -> None:
    table = content.parent
    if not isinstance(table, MarkdownTable):
        raise TypeError("unexpected table structure")
    fresh = rebuilt_table_content(table)
    await content.remove()
    await table.mount(fresh)

