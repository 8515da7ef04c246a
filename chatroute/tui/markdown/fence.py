"""Code blocks of an answer, drawn so a long one costs no more per streamed append than a short one.

Textual's fence draws its code with a Label, which renders every line of it whenever the code
changes, and highlights the whole code again on each append of a stream: an open fence of
5,000 lines took seconds per append, the screen frozen meanwhile and minutes behind the stream.
Here the code's lines are rendered only when on screen (CodeLines), an append splits and lays
out only the lines it changed, and a long fence is highlighted off the event loop (a worker
thread): once when the answer settles (LongFences.highlight_deferred), not on every append,
and again when the theme changes: Pygments over thousands of lines on the loop froze the screen.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_right
from collections.abc import Callable
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

from chatroute.safetext import BIDI_MARKER
from chatroute.tui.collector import COLLECTOR
from chatroute.tui.textual_compat import LineDrawnFence

# A fence still streaming with more lines than this is shown uncoloured until the answer ends:
# highlighting is the one part of an append whose cost grows with the whole code. A fence this
# long is also never highlighted on the event loop (see AnswerFence.colour_soon).
STREAM_HIGHLIGHT_MAX_LINES = 300

# What a fence's shown colours were made for: its code, language, and ansi / dark theme.
ColourKey = tuple[str, str, bool, bool]


def code_lines(content: Content) -> list[Content]:
    """`content`'s lines as CodeLines draws them (tabs every 8 cells). Safe in a worker thread."""
    return [line.expand_tabs(8) if "\t" in line.plain else line
            for line in content.split("\n", allow_blank=True)]


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
        # Each laid-out line's first row, then the row after the last laid-out line (at _laid_for).
        self._starts: list[int] = [0]
        self._laid = 0  # lines laid out
        self._laid_for = -1
        self._set(content)

    def _set(self, content: Content, lines: list[Content] | None = None) -> None:
        old = self._content
        if lines is None and self._lines and not content.spans and not old.spans \
                and content.plain.startswith(old.plain):
            # A streamed append to uncoloured code: only its last line and what follows are new.
            keep = len(self._lines) - 1
            tail = Content(content.plain[old.plain.rfind("\n") + 1:])
            self._lines[keep:] = code_lines(tail)
            keep = min(keep, self._laid)
            del self._starts[keep + 1:]
            self._rows_of = {i: rows for i, rows in self._rows_of.items() if i < keep}
            self._laid = keep
        else:
            self._lines = code_lines(content) if lines is None else lines
            self._laid_for = -1
        self._content = content

    def update(self, content: Content, lines: list[Content] | None = None) -> None:
        """Draw `content`; `lines` are its code_lines, if already split."""
        self._set(content, lines)
        self.refresh(layout=True)

    def _lay_out(self, width: int) -> None:
        """Rows for `width`: a line that fits is one row; a wider one is wrapped (those only)."""
        if width != self._laid_for:
            self._laid_for, self._rows_of, self._starts, self._laid = width, {}, [0], 0
        if self._laid == len(self._lines):
            return
        row = self._starts.pop()
        for i in range(self._laid, len(self._lines)):
            line = self._lines[i]
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
        self._laid = len(self._lines)

    @property
    def plain(self) -> str:
        return self._content.plain

    def render(self) -> Content:
        """The whole code (what a selection is taken from); it is drawn by render_line."""
        return self._content

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        self._lay_out(width)
        return self._starts[-1]

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        style = self.visual_style
        # The rest of the row in the background alone, as a Label pads it.
        fill = RichStyle(bgcolor=style.rich_style.bgcolor)
        self._lay_out(width)
        if not 0 <= y < self._starts[-1] or width <= 0:
            return Strip.blank(width, fill)
        i = bisect_right(self._starts, y) - 1
        wrapped = self._rows_of.get(i)
        at, row = wrapped[y - self._starts[i]] if wrapped else (0, self._lines[i])
        if "<U+" in self._lines[i].plain:
            row = _bidi_markers_shown(row, self._lines[i].plain, at)
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
    """A fence whose code is drawn by CodeLines. A long one (STREAM_HIGHLIGHT_MAX_LINES) is
    `deferred`: shown as it is (uncoloured, or in the colours of a theme just left) until a
    worker thread has highlighted it, which waits while it still streams."""

    DEFAULT_CSS = """
    AnswerFence > CodeLines { padding: 1 2; }
    AnswerFence:ansi > CodeLines { padding: 1 0; }
    """

    def __init__(self, markdown: Markdown, token: Token, code: str) -> None:
        self._answer = markdown if isinstance(markdown, LongFences) else None
        self.deferred = self._answer is not None and _long(code)
        self._coloured_for: ColourKey | None = None
        super().__init__(markdown, token, code)

    def code_widget(self, content: Content) -> Widget:
        return CodeLines(content, id="code-content")

    def highlight_code(self, code: str, language: str, ansi: bool, dark: bool) -> Content:
        if self.deferred:
            return Content(code)
        self._coloured_for = (code, language, ansi, dark)
        return super().highlight_code(code, language, ansi, dark)

    def copied_from(self, block: MarkdownBlock) -> None:
        if isinstance(block, AnswerFence):
            self.deferred = block.deferred
            self._coloured_for = block._coloured_for

    def on_mount(self) -> None:
        if self.deferred and not self._streaming():
            self.colour_soon()

    def restyled(self) -> None:
        if self._colour_key() == self._coloured_for:
            return
        if self.deferred or _long(self.code):
            self.deferred = True
            if not self._streaming():
                self.colour_soon()  # the colours shown until then stay
            return
        super().restyled()

    def highlight_now(self) -> None:
        """Colour a deferred fence (off the loop): its answer has stopped streaming."""
        if self.deferred:
            self.colour_soon()

    def colour_soon(self) -> None:
        """Highlight the code in a worker thread and show it, if it is still what is shown."""
        if self.is_attached:
            self.run_worker(self._colour(), name="colour code", group="colour-code", exclusive=True,
                            exit_on_error=False)

    def _colour_key(self) -> ColourKey:
        return self.code, self.lexer, self.app.native_ansi_color, self.app.current_theme.dark

    def _streaming(self) -> bool:
        return self._answer is not None and self._answer.streaming

    async def _colour(self) -> None:
        COLLECTOR.begin_busy()  # still the answer's rendering: the full collection waits for it
        try:
            while True:
                key = self._colour_key()
                # super()'s, not self's: that one keeps a deferred fence plain.
                content, lines = await asyncio.to_thread(_coloured, super().highlight_code, key)
                if not self.is_attached or self._streaming():
                    return  # gone (regenerated, cleared), or streaming again: its end colours it
                if self._colour_key() == key:
                    break
                # The theme or the code changed meanwhile: colour what is there now.
            self.deferred = False
            self._coloured_for = key
            self.show_code(content, lines)
        finally:
            COLLECTOR.end_busy()


# A bidirectional control's marker in code, where such a control does its harm ("Trojan Source"):
# drawn in reverse, so it does not pass for part of the code.
_MARKER_STYLE = Style(reverse=True)


def _bidi_markers_shown(row: Content, line: str, at: int) -> Content:
    """`row`, the part of `line` from `at` (a wrapped line's row), with the markers in it
    reversed: found in the whole line, as the wrap may cut one between two rows."""
    for match in BIDI_MARKER.finditer(line):
        start, end = max(match.start() - at, 0), min(match.end() - at, len(row.plain))
        if start < end:
            row = row.stylize(_MARKER_STYLE, start, end)
    return row


def _long(code: str) -> bool:
    return code.count("\n") >= STREAM_HIGHLIGHT_MAX_LINES


def _coloured(highlight: Callable[[str, str, bool, bool], Content],
              key: ColourKey) -> tuple[Content, list[Content]]:
    """In a worker thread: the highlighted code, and its lines for CodeLines."""
    content = highlight(*key)
    return content, code_lines(content)


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
