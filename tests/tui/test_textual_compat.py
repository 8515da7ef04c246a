"""Every private Textual attribute, hook and module chatroute/tui/textual_compat.py relies on
still exists and behaves as relied on: a Textual upgrade that renames or changes one fails here
instead of silently skipping a hook (a faster stream, a leak fix, whole paste placeholders)."""

from __future__ import annotations

import inspect
import io
from importlib.metadata import version

from textual.app import App, ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.drivers.linux_driver import LinuxDriver
from textual.geometry import Region, Size
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Input, Markdown, SelectionList, Static, TextArea
from textual.widgets.markdown import MarkdownBlock, MarkdownFence
from textual.widgets.text_area import Location

from chatroute.tui import textual_compat as compat
from chatroute.tui.markdown.parser import answer_parser

TABLE = "| a | b |\n|---|---|\n| 1 | [x](http://example.invalid) |\n| 3 | 4 |\n"


class _Host(App[None]):
    def __init__(self, *widgets: Widget) -> None:
        super().__init__()
        self._widgets = widgets

    def compose(self) -> ComposeResult:
        yield from self._widgets


async def _settled(pilot: object) -> None:
    await pilot.pause()  # type: ignore[attr-defined]
    await pilot.pause()  # type: ignore[attr-defined]


def test_installed_textual_is_the_series_the_touches_were_checked_against() -> None:
    major, minor = (int(part) for part in version("textual").split(".")[:2])
    assert (major, minor) == compat.TESTED_SERIES, (
        "Textual moved to another minor series: re-check every touch in chatroute/tui/textual_compat.py, "
        "then update TESTED_SERIES and the pin in pyproject.toml")


async def test_markdown_table_internals_rebuild_a_table_as_a_one_shot_render() -> None:
    markdown = Markdown(TABLE)
    async with _Host(markdown).run_test() as pilot:
        await _settled(pilot)
        table = markdown.query_one(compat.MarkdownTable)
        assert [str(h) for h in table._headers] == ["a", "b"]
        assert [[str(c) for c in row] for row in table._rows] == [["1", "x"], ["3", "4"]]
        old = table.query_one(compat.MarkdownTableContent)
        await old.remove()
        fresh = compat.rebuilt_table_content(table)
        assert isinstance(fresh, compat.MarkdownTableContent)
        await table.mount(fresh)
        await _settled(pilot)
        cells = list(fresh.children)
        assert len(cells) == 6 and all(isinstance(c, compat.MarkdownTableCellContents) for c in cells)


class _Prebuilt(compat.PrebuiltMarkdown):
    def __init__(self, text: str, prebuilt: bool) -> None:
        super().__init__(text)
        self.prebuilt = prebuilt
        self.built: list[MarkdownBlock] = []

    def blocks_prebuilt(self) -> bool:
        return self.prebuilt

    def compose(self) -> ComposeResult:
        if self.prebuilt:
            self.built = compat.build_markdown_blocks(self, answer_parser())
            yield from self.built


async def test_prebuilt_markdown_keeps_its_blocks_and_state_for_appends() -> None:
    for name in ("_initial_markdown", "_markdown", "_theme", "_last_parsed_line"):
        assert hasattr(Markdown("x"), name), name
    assert callable(Markdown._parse_markdown)
    assert "_on_mount" in Markdown.__dict__  # the handler PrebuiltMarkdown stops
    text = "# Title\n\nfirst paragraph\n\n- one\n- two\n"
    # The control: a Markdown given the same text by update, then the same append.
    prebuilt, plain = _Prebuilt(text, prebuilt=True), Markdown("", parser_factory=answer_parser)
    async with _Host(prebuilt, plain).run_test() as pilot:
        await _settled(pilot)
        assert prebuilt.built and list(prebuilt.children) == prebuilt.built  # not parsed again on mount
        assert prebuilt.source == text
        await plain.update(text)
        for md in (prebuilt, plain):
            await md.append("- three\n\nafter\n")
        await _settled(pilot)

        def blocks(md: Markdown) -> list[tuple[str, tuple[int, int]]]:
            return [(b.name, tuple(b.source_range)) for b in md.children if isinstance(b, MarkdownBlock)]

        assert blocks(prebuilt) == blocks(plain) and len(blocks(plain)) == 4


async def test_without_the_skip_markdowns_mount_handler_replaces_prebuilt_blocks() -> None:
    """The control for the test above: Markdown._on_mount is what would re-parse."""
    md = _Prebuilt("# Title\n", prebuilt=True)
    md.prebuilt = True
    async with _Host(md).run_test() as pilot:
        await _settled(pilot)
        kept = list(md.children)
    unskipped = _Prebuilt("# Title\n", prebuilt=True)
    unskipped.blocks_prebuilt = lambda: False  # type: ignore[method-assign]
    async with _Host(unskipped).run_test() as pilot:
        await _settled(pilot)
        assert kept and list(unskipped.children) != unskipped.built


class _CodeShown(Static):
    def __init__(self, content: Content, **kw: object) -> None:
        super().__init__(content, **kw)  # type: ignore[arg-type]
        self.shown = content

    def update(self, content: Content) -> None:  # type: ignore[override]
        self.shown = content
        super().update(content)


class _Fence(compat.LineDrawnFence):
    calls: list[str] = []

    def code_widget(self, content: Content) -> Widget:
        return _CodeShown(content, id="code-content")

    def highlight_code(self, code: str, language: str, ansi: bool, dark: bool) -> Content:
        _Fence.calls.append(f"highlight {code.count(chr(10)) + 1}")
        return super().highlight_code(code, language, ansi, dark)

    def copied_from(self, block: MarkdownBlock) -> None:
        _Fence.calls.append("copied")

    def restyled(self) -> None:
        _Fence.calls.append("restyled")
        super().restyled()


class _FencedMarkdown(Markdown):
    BLOCKS = {**Markdown.BLOCKS, "fence": _Fence, "code_block": _Fence}


async def test_line_drawn_fence_hooks_are_what_a_streamed_fence_goes_through() -> None:
    for name in ("_highlighted_code", "_content"):
        assert name in inspect.getsource(MarkdownFence), name
    assert isinstance(inspect.getattr_static(MarkdownFence, "highlight"), classmethod)
    assert "self.highlight(" in inspect.getsource(MarkdownFence.__init__)
    assert "_copy_context" in inspect.getsource(MarkdownFence._update_from_block)
    # notify_style_update is replaced whole: Textual's only highlights and shows the code again.
    assert "self.highlight(" in inspect.getsource(MarkdownFence.notify_style_update)
    _Fence.calls.clear()
    md = _FencedMarkdown("", parser_factory=answer_parser)
    async with _Host(md).run_test() as pilot:
        await _settled(pilot)
        await md.append("```python\nx = 1\n")  # as an answer streams: appends from empty
        await _settled(pilot)
        [fence] = md.query(_Fence)
        code = fence.query_one(_CodeShown)
        assert code.shown.plain == "x = 1" and code.shown.spans  # highlighted, through the instance
        await md.append("y = 2\n")
        await _settled(pilot)
        assert md.query_one(_Fence) is fence  # the mounted fence kept, the new code handed to it
        assert code.shown.plain == "x = 1\ny = 2" and "copied" in _Fence.calls
        assert "highlight 2" in _Fence.calls
        assert "restyled" in _Fence.calls  # as its styles were applied, on mount
        fence.show_code(Content("plain"))
        assert code.shown.plain == "plain"


class _Recording(Vertical):
    arranged: list[Size] = []

    def arrange(self, size: Size, optimal: bool = False):  # type: ignore[no-untyped-def]
        _Recording.arranged.append(size)  # the size the mixin passes on
        return super().arrange(size, optimal)


class _Grows(compat.HeightFromContent, _Recording):
    DEFAULT_CSS = "_Grows { height: auto; } _Grows > Static { height: auto; }"


async def test_height_from_content_hooks_are_what_textual_lays_out_with() -> None:
    for hook, params in (("arrange", ["self", "size", "optimal"]),
                         ("get_content_height", ["self", "container", "viewport", "width"])):
        assert list(inspect.signature(getattr(Widget, hook)).parameters) == params, hook
    _Recording.arranged.clear()
    box = _Grows(Static("one\ntwo\nthree"), Static("four\nfive"))
    async with _Host(box).run_test(size=(40, 20)) as pilot:
        await _settled(pilot)
        assert box.size.height == 5
        assert _Recording.arranged and all(size.height == 0 for size in _Recording.arranged)
        assert [w.region.height for w in box.children] == [3, 2]


async def test_offscreen_layout_draws_a_band_as_the_screen_does() -> None:
    top, body = Static("top line"), Static("hello there")
    box = Vertical(top, body)
    async with _Host(box).run_test(size=(30, 6)) as pilot:
        await _settled(pilot)
        layout = compat.OffscreenLayout(box, box.outer_size)
        placed = layout.placed[body].region
        assert placed.y == 1 and placed.height == 1
        lines = layout.lines(Region(0, placed.y, box.outer_size.width, 1))
        assert len(lines) == 1 and lines[0].text.rstrip() == "hello there"


async def test_drop_rendered_lines_empties_the_styles_cache() -> None:
    from textual._styles_cache import StylesCache

    outer = Vertical(Static("a"), Static("b"))
    async with _Host(outer).run_test() as pilot:
        await _settled(pilot)
        nodes = list(outer.walk_children(Widget, with_self=True))
        assert all(isinstance(n._styles_cache, StylesCache) for n in nodes)
        assert any(n._styles_cache._cache for n in nodes)  # something was rendered and kept
        compat.drop_rendered_lines([outer])
        assert not any(n._styles_cache._cache for n in nodes)


class _Holder(Widget):
    value = reactive(0)


async def test_dead_watchers_stay_until_dropped() -> None:
    holder = _Holder()
    async with _Host(holder).run_test() as pilot:
        child = Static("watcher")
        await holder.mount(child)
        child.watch(holder, "value", lambda _v: None, init=False)
        watchers = getattr(holder, "__watchers")
        assert isinstance(watchers, dict) and any(node is child for node, _cb in watchers["value"])
        await child.remove()
        await _settled(pilot)
        assert child._closed or child._closing or not child.is_attached
        assert any(node is child for node, _cb in watchers["value"])  # Textual keeps it: the leak
        compat.drop_dead_watchers(holder)
        assert not any(node is child for node, _cb in watchers["value"])


async def test_forward_event_delivers_a_key() -> None:
    from textual import events

    field = Input()
    async with _Host(field).run_test() as pilot:
        field.focus()
        await _settled(pilot)
        key = events.Key("x", "x")
        key.set_sender(pilot.app)
        compat.forward_event(field, key)
        await _settled(pilot)
        assert field.value == "x"


def test_message_clock_is_the_clock_messages_are_stamped_with() -> None:
    from textual import events

    before = compat.message_clock()
    key = events.Key("x", "x")
    assert before <= key.time <= compat.message_clock()


class _Widening(compat.KeyboardEditsTextArea):
    def __init__(self) -> None:
        super().__init__("hello world")
        self.spans: list[tuple[Location, Location, bool]] = []

    def keyboard_span(self, start: Location, end: Location, *, insert: bool) -> tuple[Location, Location]:
        self.spans.append((start, end, insert))
        if not insert:  # a deletion takes everything before it too
            return (0, 0), max(start, end)
        return start, end


async def test_every_keyboard_edit_passes_through_keyboard_span() -> None:
    for name in ("_replace_via_keyboard", "_delete_via_keyboard"):
        assert name in TextArea.__dict__, name
    area = _Widening()
    async with _Host(area).run_test() as pilot:
        area.focus()
        area.move_cursor((0, 5))
        await pilot.press("!")
        assert area.text == "hello! world" and area.spans[-1][2] is True
        await pilot.press("backspace")
        assert area.text == " world" and area.spans[-1][2] is False
        area.replace_as_typed("hi", (0, 0), (0, 0))
        assert area.text == "hi world"
        area.read_only = True
        assert area.replace_as_typed("no", (0, 0), (0, 0)) is None and area.text == "hi world"


class _Cells(compat.CellIndexInput):
    def __init__(self) -> None:
        super().__init__(compact=True)
        self.cells: list[tuple[int, int]] = []

    def index_at_cell(self, cell: int, index: int) -> int:
        self.cells.append((cell, index))
        return 0


async def test_a_click_on_an_input_finds_its_index_through_index_at_cell() -> None:
    assert "_cell_offset_to_index" in Input.__dict__
    line = _Cells()
    async with _Host(line).run_test() as pilot:
        line.value = "hello"
        line.focus()
        await pilot.click(line, offset=(3, 0))
        assert line.cells == [(3, 3)] and line.cursor_position == 0


async def test_checkbox_edges_are_what_selection_list_draws() -> None:
    choices: SelectionList[str] = SelectionList(("one", "1"), ("two", "2", True))
    async with _Host(choices).run_test() as pilot:
        await _settled(pilot)
        left, right = compat.checkbox_edges()
        for y in range(2):
            drawn = [seg.text for seg in choices.render_line(y)]
            assert drawn[0] == left and drawn[2] == right, drawn


async def test_driver_output_file_is_the_writer_threads() -> None:
    assert "WriterThread(self._file)" in inspect.getsource(LinuxDriver.start_application_mode)
    driver = LinuxDriver(App())
    original = driver._file
    assert original is not None

    class Wrapped(io.StringIO):
        def __init__(self, inner: object) -> None:
            super().__init__()
            self.inner = inner

    assert compat.wrap_driver_output(driver, Wrapped)
    assert isinstance(driver._file, Wrapped) and driver._file.inner is original
    driver._file = None
    assert not compat.wrap_driver_output(driver, Wrapped)


def test_no_private_textual_import_outside_the_compat_module() -> None:
    """The room has one door: tui/ reaches Textual's private modules only through textual_compat."""
    from pathlib import Path

    import chatroute.tui

    root = Path(chatroute.tui.__file__).parent
    offenders = [str(path.relative_to(root)) for path in root.rglob("*.py")
                 if path.name != "textual_compat.py"
                 and any(marker in path.read_text(encoding="utf-8")
                         for marker in ("textual._", "textual.widgets._", "_styles_cache", "__watchers",
                                        "_forward_event", "_via_keyboard", "_parse_markdown"))]
    assert offenders == []



async def test_pump_busy_while_a_handler_awaits() -> None:
    """The key gate waits on this: a handler that awaits must count as busy, an idle pump not."""
    import asyncio

    from textual import on
    from textual.message import Message

    seen: list[bool] = []

    class Slow(Message):
        pass

    class _Busy(Input):
        @on(Slow)
        async def slow(self, message: Slow) -> None:
            seen.append(compat.pump_busy(self))
            await asyncio.sleep(0.01)

    field = _Busy()
    async with _Host(field).run_test() as pilot:
        await _settled(pilot)
        assert not compat.pump_busy(field)
        field.post_message(Slow())
        assert compat.pump_busy(field)  # queued
        await _settled(pilot)
        assert seen == [True] and not compat.pump_busy(field)
