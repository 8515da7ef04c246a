"""Every place chatroute leans on Textual's private internals, in one room.

Textual is pinned to the minor series these were checked against (pyproject: `textual>=8.2,<8.3`).
Each touch sits behind a small named function or mixin here, and tests/tui/test_textual_compat.py
asserts that every private attribute, hook and module used below still exists and behaves as relied
on, so a Textual upgrade fails loudly in the tests instead of silently skipping a renamed hook.
Outside this module, tui/ uses Textual's public API only (docs/ARCHITECTURE.md lists the touches).

Where a touch can fail at run time the callers degrade rather than crash: table repair and
freezing fall back to a full re-render (see tui/markdown/), the footer and the driver keep
Textual's default behaviour.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import IO, TYPE_CHECKING, Any

from markdown_it import MarkdownIt
from markdown_it.token import Token
from textual import _time, events
from textual.app import ComposeResult
from textual.content import Content
from textual.dom import DOMNode
from textual.geometry import Region, Size
from textual.layout import DockArrangeResult
from textual.message_pump import MessagePump
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Input, Markdown, TextArea

# Not exported by Textual (textual.widgets.markdown exports neither): the table widgets a
# streamed table is rebuilt from, the checkbox glyph the model checklist redraws, and the footer's
# key widget, whose width the chat's footer measures to show only keys that fit.
from textual.widgets._footer import FooterKey
from textual.widgets._markdown import MarkdownTable, MarkdownTableCellContents, MarkdownTableContent
from textual.widgets._toggle_button import ToggleButton
from textual.widgets.markdown import MarkdownBlock, MarkdownFence
from textual.widgets.text_area import EditResult, Location

if TYPE_CHECKING:
    from textual.drivers.linux_driver import LinuxDriver
    from textual.map_geometry import MapGeometry

# The Textual minor series every touch below was checked against; the compat test fails on another.
TESTED_SERIES = (8, 2)

__all__ = [
    "TESTED_SERIES",
    "FooterKey",
    "HeightFromContent",
    "CellIndexInput",
    "KeyboardEditsTextArea",
    "LineDrawnFence",
    "MarkdownTable",
    "MarkdownTableCellContents",
    "MarkdownTableContent",
    "OffscreenLayout",
    "PrebuiltMarkdown",
    "build_markdown_blocks",
    "checkbox_edges",
    "drop_dead_watchers",
    "drop_rendered_lines",
    "forward_event",
    "pump_busy",
    "rebuilt_table_content",
    "wrap_driver_output",
]


# ---- Markdown ----

def rebuilt_table_content(table: MarkdownTable) -> MarkdownTableContent:
    """The cells a one-shot render builds for `table`, from the header and rows it has parsed
    (MarkdownTable._headers / _rows)."""
    return MarkdownTableContent(table._headers, table._rows)


def build_markdown_blocks(markdown: Markdown, parser: MarkdownIt) -> list[MarkdownBlock]:
    """Parse the text `markdown` was created with into its blocks now (for compose), leaving the
    state Markdown.update leaves behind so a later update or append works as usual."""
    text, markdown._initial_markdown = markdown._initial_markdown or "", None
    markdown._markdown = text
    markdown._theme = markdown.app.theme
    lines = text.splitlines()
    markdown._last_parsed_line = len(lines) - (1 if lines and lines[-1] else 0)
    return list(markdown._parse_markdown(parser.parse(text)))


class LineDrawnFence(MarkdownFence):
    """A MarkdownFence whose code is drawn by `code_widget` (any widget with `update(Content)`)
    instead of its Label, and highlighted by `highlight_code`, which sees the instance (a
    subclass may leave a long code uncoloured for now).

    Touches MarkdownFence's `_highlighted_code` (what it shows) and `_content`, its classmethod
    `highlight` called on the instance by `__init__`, `_copy_context`, by which a streamed
    append hands a freshly parsed block's code to the mounted one (`copied_from` sees it), and
    `notify_style_update`, where Textual's fence highlights the whole code again each time its
    styles are applied (mount, a theme change): here `restyled` does instead.
    """

    def __init__(self, markdown: Markdown, token: Token, code: str) -> None:
        super().__init__(markdown, token, code)

    def code_widget(self, content: Content) -> Widget:
        raise NotImplementedError

    def highlight_code(self, code: str, language: str, ansi: bool, dark: bool) -> Content:
        return MarkdownFence.highlight(code, language, ansi=ansi, dark=dark)

    # Textual's is a classmethod, called on the instance: this one needs the instance.
    def highlight(self, code: str, language: str, ansi: bool = False,  # type: ignore[override]
                  dark: bool = False) -> Content:
        return self.highlight_code(code, language, ansi, dark)

    def compose(self) -> ComposeResult:
        yield self.code_widget(self._highlighted_code)

    def set_content(self, content: Content) -> None:
        self._content = content
        for widget in self.query_children("#code-content"):
            widget.update(content)  # type: ignore[attr-defined]  # code_widget's: update(Content)

    def show_code(self, content: Content, prepared: object = None) -> None:
        """Draw `content` as the code from now on (a theme change calls `restyled`). `prepared`,
        if given, goes to the code widget's update with it (work done ahead, off the loop)."""
        self._highlighted_code = content
        if prepared is None:
            self.set_content(content)
            return
        self._content = content
        for widget in self.query_children("#code-content"):
            widget.update(content, prepared)  # type: ignore[attr-defined]  # code_widget's

    def restyled(self) -> None:
        """The fence's styles were applied again: as Textual's fence, highlight the code anew."""
        self.show_code(self.highlight(self.code, self.lexer, ansi=self.app.native_ansi_color,
                                      dark=self.app.current_theme.dark))

    def notify_style_update(self) -> None:
        self.restyled()
        # MarkdownFence's own only highlights and shows the code again, which restyled did.
        super(MarkdownFence, self).notify_style_update()

    def copied_from(self, block: MarkdownBlock) -> None:
        """A streamed append gave this mounted fence the code of `block`, parsed afresh."""

    def _copy_context(self, block: MarkdownBlock) -> None:
        super()._copy_context(block)
        self.copied_from(block)


class PrebuiltMarkdown(Markdown):
    """A Markdown that may build its blocks in compose (see build_markdown_blocks): Markdown's
    private mount handler would parse the text again and replace them, so it is skipped when
    `blocks_prebuilt()` says so."""

    def blocks_prebuilt(self) -> bool:
        return False

    # [override]: Textual's Markdown makes Widget's sync _on_mount async, so no signature satisfies both.
    async def _on_mount(self, event: events.Mount) -> None:  # type: ignore[override]
        if self.blocks_prebuilt():
            event.prevent_default()  # ends the handler walk before Markdown._on_mount


# ---- layout ----

class HeightFromContent:
    """Mixin for a height: auto container whose children's heights never depend on its own.

    Textual lays out such a container's children against the container's current height
    whenever every child is height: auto, and that height is part of every child's layout
    cache key. A streaming answer grows a line at a time, so each append re-laid out every
    list, table and code block it held, recursively, however little changed. With no fr or
    % heights among the children the height makes no difference to the result, and Textual
    itself arranges against height 0 in that case (layout.get_content_height); always doing
    so keeps the children's cached layouts valid as the container grows. `arrange` and
    `get_content_height` are public names but undocumented as hooks.
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


class OffscreenLayout:
    """A compositor of its own, rooted at `root` and laid out at `size`: where each widget
    below it is placed, and the lines a band of it draws, exactly as the screen's compositor
    would draw them (backgrounds, margins, nested containers and scrollbars included).
    Importing the private compositor may fail on another Textual: callers treat any error
    as "no picture"."""

    def __init__(self, root: Widget, size: Size) -> None:
        from textual._compositor import Compositor

        self._compositor = Compositor()
        self._compositor.reflow(root, size)

    @property
    def placed(self) -> Mapping[Widget, MapGeometry]:
        return self._compositor.full_map

    def lines(self, band: Region) -> list[Strip]:
        """Each line of `band`, whole across the layout's width (crop it as needed)."""
        top, bottom = band.y, band.bottom
        chops = self._compositor._render_chops(band, lambda y: top <= y < bottom)
        return [Strip.join(chops[y].values()) for y in range(top, bottom)]


def drop_rendered_lines(widgets: Iterable[Widget]) -> None:
    """Free the rendered lines each widget (and everything under it) caches: Textual clears its
    other caches on removal but not these (Widget._styles_cache)."""
    for widget in widgets:
        for node in widget.walk_children(Widget, with_self=True):
            node._styles_cache.clear()


# ---- reactive watchers ----

def drop_dead_watchers(obj: DOMNode) -> None:
    """Forget the watchers of `obj`'s reactives that belong to nodes already closed or
    removed. Textual keeps the (node, callback) pairs in an attribute literally named
    "__watchers" (textual/reactive.py _watch) and forgets them only when the watched reactive
    changes."""
    watchers = getattr(obj, "__watchers", None)
    if not isinstance(watchers, dict):
        return
    for pairs in watchers.values():
        pairs[:] = [(node, callback) for node, callback in pairs
                    if not getattr(node, "_closing", False) and not getattr(node, "_closed", False)
                    and getattr(node, "is_attached", True)]


# ---- events ----

def forward_event(target: Widget, event: events.Event) -> None:
    """Deliver `event` to `target` as if it had been sent there (Widget._forward_event)."""
    target._forward_event(event)


def message_clock() -> float:
    """Now, on the clock Textual stamps each message's `time` with (textual._time.get_time)."""
    return _time.get_time()


def pump_busy(pump: MessagePump) -> bool:
    """`pump` has messages queued or is handling one now. The public message_queue_size misses
    the message in hand, so a handler that awaits looked idle: a pump is idle only while it
    waits for its next message (a waiter on its queue's ready event; textual._queue.Queue,
    MessagePump._message_queue, asyncio.Event._waiters)."""
    queue: Any = pump._message_queue
    if queue.qsize():
        return True
    if not pump.is_running or pump._closed:
        return False
    return not queue.ready_event._waiters


# ---- TextArea ----

class KeyboardEditsTextArea(TextArea):
    """A TextArea whose every keyboard edit (typing, Backspace, Delete, ctrl+w, cut, paste)
    passes its span through `keyboard_span` first: TextArea routes all of them through two
    private methods, _replace_via_keyboard and _delete_via_keyboard."""

    def keyboard_span(self, start: Location, end: Location, *, insert: bool) -> tuple[Location, Location]:
        return start, end

    def replace_as_typed(self, insert: str, start: Location, end: Location) -> EditResult | None:
        """Replace as a keystroke would (undoable, read-only respected, span widened)."""
        return self._replace_via_keyboard(insert, start, end)

    def _replace_via_keyboard(self, insert: str, start: Location, end: Location) -> EditResult | None:
        start, end = self.keyboard_span(start, end, insert=True)
        return super()._replace_via_keyboard(insert, start, end)

    def _delete_via_keyboard(self, start: Location, end: Location) -> EditResult | None:
        start, end = self.keyboard_span(start, end, insert=False)
        return super()._delete_via_keyboard(start, end)


class CellIndexInput(Input):
    """An Input whose mouse (a click, a drag) finds the character under a cell through
    `index_at_cell`: Input maps a cell to an index in the private _cell_offset_to_index, which
    takes a cell past the last character for the index of the same number, as if every character
    took one cell."""

    def index_at_cell(self, cell: int, index: int) -> int:
        """The index for a click `cell` cells into the content (scroll not added); `index` is
        Textual's."""
        return index

    def _cell_offset_to_index(self, offset: int) -> int:
        return self.index_at_cell(offset, super()._cell_offset_to_index(offset))


# ---- checkbox edges ----

def checkbox_edges() -> tuple[str, str]:
    """The characters a SelectionList draws either side of the mark in each box."""
    return ToggleButton.BUTTON_LEFT, ToggleButton.BUTTON_RIGHT


# ---- terminal driver ----

def wrap_driver_output(driver: LinuxDriver, wrap: Callable[[IO[str]], object]) -> bool:
    """Replace the file a LinuxDriver writes frames to with `wrap(file)` (LinuxDriver._file,
    handed to its writer thread when the application mode starts). False if there is none."""
    file = driver._file
    if file is None:
        return False
    # [assignment]: Textual types the attribute as TextIOWrapper; the wrapper stands in for the
    # part its writer thread uses (write, flush, fileno, ...).
    driver._file = wrap(file)  # type: ignore[assignment]
    return True
