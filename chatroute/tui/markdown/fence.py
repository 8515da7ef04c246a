"""Code blocks of an answer, drawn so a long one costs no more per streamed append than a short one.

Textual's fence draws its code with a Label, which renders every line of it whenever the code
changes, and highlights the whole code again on each append of a stream: an open fence of
5,000 lines took seconds per append, the screen frozen meanwhile and minutes behind the stream.
Here the code's lines are rendered only when on screen (CodeLines), and a long fence that is
still streaming is highlighted once, when the answer settles (LongFences.highlight_deferred).
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

from markdown_it.token import Token
from rich.segment import Segment
from rich.style import Style as RichStyle
from textual.content import Content
from textual.geometry import Size
from textual.selection import Selection
from textual.strip import Strip
from textual.style import Style
from textual.visual import Visual
from textual.widget import Widget
from textual.widgets import Markdown
from textual.widgets.markdown import MarkdownBlock

from chatroute.tui.textual_compat import LineDrawnFence

# A fence still streaming with more lines than this is shown uncoloured until the answer ends:
# highlighting is the one part of an append whose cost grows with the whole code.
STREAM_HIGHLIGHT_MAX_LINES = 300


class CodeLines(Widget):
    """A fence's code, each row rendered only when it is drawn. As Textual's Label draws it: as
    wide as the fence, tabs every 8 cells, a line wider than the fence wrapped onto more rows."""

    ALLOW_SELECT = True
    DEFAULT_CSS = "CodeLines { width: 100%; height: auto; }"

    def __init__(self, content: Content, **kw: Any) -> None:
        super().__init__(**kw)
        self._content = Content()
        self._lines: list[Content] = []
        self._rows_of: dict[int, list[tuple[int, Content]]] = {}  # a wrapped line's rows, at _laid_for
        self._starts: list[int] = []  # each line's first row, at _laid_for
        self._laid_for = -1
        self._set(content)

    def _set(self, content: Content) -> None:
        self._content = content
        self._lines = [line.expand_tabs(8) if "\t" in line.plain else line
                       for line in content.split("\n", allow_blank=True)]
        self._laid_for = -1

    def update(self, content: Content) -> None:
        self._set(content)
        self.refresh(layout=True)

    def _lay_out(self, width: int) -> None:
        """Rows for `width`: a line that fits is one row; a wider one is wrapped (those only)."""
        if width == self._laid_for:
            return
        self._laid_for, self._rows_of, self._starts = width, {}, []
        row = 0
        for i, line in enumerate(self._lines):
            self._starts.append(row)
            if line.cell_length <= width or width <= 0:
                row += 1
                continue
            rows, at = [], 0
            for part in line.wrap(width):
                at = line.plain.find(part.plain, at) if part.plain else at
                rows.append((max(at, 0), part))
                at += len(part.plain)
            self._rows_of[i] = rows
            row += len(rows)
        self._starts.append(row)

    @property
    def plain(self) -> str:
        return self._content.plain

    def render(self) -> Content:
        """The whole code (what a selection is taken from); it is drawn by render_line."""
        return self._content

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        self._lay_out(width)
        return self._starts[-1] if self._starts else 0

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        style = self.visual_style
        # The rest of the row in the background alone, as a Label pads it.
        fill = RichStyle(bgcolor=style.rich_style.bgcolor)
        self._lay_out(width)
        if not self._starts or not 0 <= y < self._starts[-1] or width <= 0:
            return Strip.blank(width, fill)
        i = bisect_right(self._starts, y) - 1
        wrapped = self._rows_of.get(i)
        at, row = wrapped[y - self._starts[i]] if wrapped else (0, self._lines[i])
        selection = self.text_selection
        if selection is not None and (span := selection.get_span(i)) is not None:
            start, end = span
            end = len(self._lines[i]) if end == -1 else end
            start, end = max(start - at, 0), min(end - at, len(row))
            if start < end:
                selected = Style.from_styles(self.screen.get_component_styles("screen--selection"))
                row = row.stylize(selected, start, end)
        strips = Visual.to_strips(self, row, width, 1, style, apply_selection=False)
        strip = strips[0] if strips else Strip([])
        return _on_row(strip, i, at).crop_extend(0, width, fill)

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        return selection.extract(self.plain), "\n"


class AnswerFence(LineDrawnFence):
    """A fence whose code is drawn by CodeLines; one that is long and still streaming is left
    uncoloured until `highlight_now`."""

    DEFAULT_CSS = """
    AnswerFence > CodeLines { padding: 1 2; }
    AnswerFence:ansi > CodeLines { padding: 1 0; }
    """

    def __init__(self, markdown: Markdown, token: Token, code: str) -> None:
        self.deferred = (isinstance(markdown, LongFences) and markdown.streaming
                         and code.count("\n") >= STREAM_HIGHLIGHT_MAX_LINES)
        super().__init__(markdown, token, code)

    def code_widget(self, content: Content) -> Widget:
        return CodeLines(content, id="code-content")

    def highlight_code(self, code: str, language: str, ansi: bool, dark: bool) -> Content:
        if self.deferred:
            return Content(code)
        return super().highlight_code(code, language, ansi, dark)

    def copied_from(self, block: MarkdownBlock) -> None:
        if isinstance(block, AnswerFence):
            self.deferred = block.deferred

    def highlight_now(self) -> None:
        if not self.deferred:
            return
        self.deferred = False
        self.show_code(self.highlight(self.code, self.lexer, ansi=self.app.native_ansi_color,
                                      dark=self.app.current_theme.dark))


class LongFences(Markdown):
    """A Markdown whose code blocks are AnswerFences. `streaming` is set while a stream
    appends to it; `highlight_deferred` colours the long fences it left uncoloured."""

    BLOCKS = {**Markdown.BLOCKS, "fence": AnswerFence, "code_block": AnswerFence}
    streaming = False

    def highlight_deferred(self) -> None:
        self.streaming = False
        for fence in self.query(AnswerFence):
            fence.highlight_now()


def _on_row(strip: Strip, y: int, x: int) -> Strip:
    """`strip`, rendered as a text of its own, with its place in the code in its cells' offsets
    (line `y`, from character `x`): the offsets map a mouse position to the text under it, for
    selecting (a Label's rows carry theirs; this one was rendered as line 0 from character 0)."""
    if not (x or y):
        return strip
    segments = []
    for segment in strip:
        style = segment.style
        offset = style.meta.get("offset") if style is not None else None
        if offset is not None and style is not None:
            segment = Segment(segment.text, style + RichStyle.from_meta({"offset": (offset[0] + x, y)}))
        segments.append(segment)
    return Strip(segments, strip.cell_length)
