"""The Markdown widget an answer is shown in."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Any
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from rich.markdown import Markdown as RichMarkdown
from textual.app import ComposeResult
from textual.await_complete import AwaitComplete
from textual.widget import Widget
from textual.widgets import Markdown, Static

from chatroute.tui.markdown.fence import LongFences
from chatroute.tui.markdown.freeze import FreezingMarkdown
from chatroute.tui.markdown.parser import NO_HTML, code_in_backticks, shared_parser
from chatroute.tui.textual_compat import HeightFromContent, PrebuiltMarkdown, build_markdown_blocks

# Schemes a clicked link in an answer is opened for. The system's opener (xdg-open) launches
# whatever handles a scheme (a file share, an SSH client, a game launcher), and the user sees
# the link's text, not its target: the model's text gets a web page, nothing more.
WEB_SCHEMES = ("http", "https")


def web_link(href: str) -> bool:
    try:
        parts = urlsplit(href)
    except ValueError:  # "http://[::1": no address at all
        return False
    return parts.scheme.lower() in WEB_SCHEMES and bool(parts.netloc)


class WholeMarkdown(RichMarkdown):
    """Rich's Markdown, HTML in the text shown as written, as in the blocks (parser.NO_HTML)."""

    def __init__(self, markup: str, *, code_ticks: bool = False, **kw: Any) -> None:
        super().__init__("", **kw)
        self.markup = markup
        parser = MarkdownIt("commonmark", NO_HTML).enable("strikethrough").enable("table")
        if code_ticks:  # as the blocks do without colours (parser.code_in_backticks)
            parser.core.ruler.push("code_in_backticks", code_in_backticks)
        self.parsed = parser.parse(markup)


class AnswerMarkdown(HeightFromContent, FreezingMarkdown, LongFences, PrebuiltMarkdown):
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
    # A stored answer longer than this is drawn whole by one widget (Rich's Markdown) instead of
    # a widget per block, parsed in a thread: a 250-item list (22 KB) took 2.2 s to the first
    # frame and a 1,200-item one (108 KB) 10.7 s, with keys unanswered meanwhile. A change to it
    # (streaming into it, a sibling shown in its place) goes back to blocks.
    LARGE_MIN_CHARS = PREBUILT_MAX_CHARS
    _last_block: Widget | None = None

    def __init__(self, markdown: str | None = None, *, prebuilt: bool = False, **kw: Any) -> None:
        kw.setdefault("parser_factory", self.parser)
        kw["open_links"] = False  # on_markdown_link_clicked opens the web links only
        super().__init__(markdown, **kw)
        self._large = markdown if prebuilt and markdown and len(markdown) > self.LARGE_MIN_CHARS else None
        self._prebuilt = (prebuilt and bool(markdown) and len(markdown or "") <= self.PREBUILT_MAX_CHARS
                          or self._large is not None)

    def compose(self) -> ComposeResult:
        if self._large is not None:
            dark = self.app.current_theme.dark
            yield Static(WholeMarkdown(self._large, code_theme="monokai" if dark else "friendly", hyperlinks=False,
                                       code_ticks=self.app.no_color),
                         classes="answer-whole")
            return
        if not self._prebuilt:
            return
        blocks = build_markdown_blocks(self, self.parser())
        if blocks:
            blocks[-1].add_class("-last")
            self._last_block = blocks[-1]
        yield from blocks

    def parser(self) -> MarkdownIt:
        # Without colours, inline code is drawn with its backticks (parser.code_in_backticks).
        return shared_parser(code_ticks=self.app.no_color)

    def on_markdown_link_clicked(self, event: Markdown.LinkClicked) -> None:
        event.stop()
        if web_link(event.href):
            self.app.open_url(event.href)
        else:
            shown = event.href if len(event.href) <= 80 else event.href[:79] + "…"
            self.notify(f"Link not opened: {shown} is not a web address (only http and https links open)",
                        severity="warning", timeout=6, markup=False)

    def blocks_prebuilt(self) -> bool:
        return self._prebuilt

    def update(self, markdown: str) -> AwaitComplete:
        pictures = self.take_pictures()  # update replaces every block, hidden or not
        return AwaitComplete(self._mark_last_after(super().update(markdown), drop=pictures + self._take_whole()))

    def append(self, markdown: str) -> AwaitComplete:
        shown = self._large or ""
        whole = self._take_whole()
        if whole:  # the blocks of what it showed first, then the addition
            return AwaitComplete(self._mark_last_after(super().update(shown + markdown), drop=whole))
        return AwaitComplete(self._mark_last_after(super().append(markdown)))

    def _take_whole(self) -> list[Widget]:
        """The one widget a large stored answer is drawn by, to remove before blocks replace it."""
        if self._large is None:
            return []
        self._large = None
        return list(self.query_children(".answer-whole"))

    async def _mark_last_after(self, change: Awaitable[Any], drop: Sequence[Widget] | None = None) -> None:
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

