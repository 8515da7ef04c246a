"""A long code block streamed into the chat: the screen keeps up and stays responsive, the code
is whole and coloured once the answer ends, and reads the same when reopened."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from textual.content import Content
from textual.pilot import Pilot
from textual.widgets.markdown import MarkdownFence

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.markdown.fence import STREAM_HIGHLIGHT_MAX_LINES, AnswerFence, CodeLines
from chatroute.tui.widgets.composer import Composer
from tests.fakeserver import FakeServer, Reply
from tests.tui.helpers import assistants, settle, type_and_send, until

LINES = 2500
CODE = "\n".join(f"value_{i} = compute({i})" for i in range(LINES))
ANSWER = f"Here is the module:\n\n```python\n{CODE}\n```\n\nThat is all."
# Bounds with room for a loaded machine: before, each append highlighted and rendered the whole
# open fence again, and the answer was drawn long after the server had sent it.
SETTLED_WITHIN_S = 40.0
LONGEST_STALL_S = 1.5


async def test_a_long_code_block_streams_without_freezing_the_screen(real_engine: Engine,
                                                                      fake_server: FakeServer) -> None:
    fake_server.script("gpt-4o", Reply(text="Ready."), Reply(text=ANSWER))  # the answer a chunk per line, flat out
    stalls: list[float] = []

    async def ticker() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            stalls.append(now - last)
            last = now

    app = ChatrouteApp(real_engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await type_and_send(pilot, "@gpt-4o Ready?")  # the first turn's one-off loads, not measured
        composer = app.screen.query_one("#composer")
        composer.insert("@gpt-4o Write the module")  # type: ignore[attr-defined]
        started = time.perf_counter()
        watch = asyncio.get_running_loop().create_task(ticker())
        await pilot.press("enter")
        await settle(pilot, app)
        watch.cancel()
        took = time.perf_counter() - started
        msg = assistants(app)[-1]
        assert msg.status == "ok" and msg.text == ANSWER
        assert took < SETTLED_WITHIN_S, f"the answer settled {took:.1f} s after Enter"
        assert max(stalls) < LONGEST_STALL_S, f"the screen froze for {max(stalls):.2f} s"
        [fence] = msg.query(AnswerFence)
        code = fence.query_one(CodeLines)
        assert code.plain == CODE and not fence.deferred
        assert code.render().spans  # coloured once the answer ended
        screen = "\n".join(strip.text for strip in app.screen._compositor.render_strips())
        assert f"value_{LINES - 1} = compute({LINES - 1})" in screen and "That is all." in screen
    async with ChatrouteApp(real_engine).run_test(size=(120, 40)) as pilot:
        await settle(pilot, pilot.app)
        assert assistants(pilot.app)[-1].text == ANSWER


async def test_a_short_code_block_is_coloured_as_it_streams(real_engine: Engine, fake_server: FakeServer) -> None:
    code = "\n".join(f"x{i} = {i}" for i in range(STREAM_HIGHLIGHT_MAX_LINES // 2))
    fake_server.script("gpt-4o", Reply(text=f"```python\n{code}\n```\n", tokens_per_s=400))
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=(120, 40)) as pilot:
        composer = app.screen.query_one("#composer")
        composer.insert("@gpt-4o Write it")  # type: ignore[attr-defined]
        await pilot.press("enter")
        for _ in range(500):
            await pilot.pause(0.01)
            fences = [f for m in assistants(app) for f in m.query(AnswerFence)]
            if fences and fences[0].code.count("\n") > 20:
                break
        [fence] = fences
        assert not fence.deferred and fence.query_one(CodeLines).render().spans
        await settle(pilot, app)


async def test_dragging_over_a_code_block_selects_and_shows_the_text_under_the_pointer(
        real_engine: Engine, fake_server: FakeServer) -> None:
    """As over Textual's own code blocks: the text between press and release is selected,
    drawn in the selection colour, and is what a copy takes."""
    fake_server.script("gpt-4o", Reply(text="Code:\n\n```python\ndef f(x):\n    return x * 2\n```\n\nDone."))
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_and_send(pilot, "@gpt-4o Double it")
        code = app.screen.query_one(CodeLines)
        box = code.content_region  # inside the padding: the code's first cell
        await pilot.mouse_down(offset=(box.x, box.y))
        await pilot.hover(offset=(box.x + 11, box.y + 1))
        await pilot.mouse_up(offset=(box.x + 11, box.y + 1))
        await pilot.pause()
        assert app.screen.get_selected_text() == "def f(x):\n    return x"
        line = [seg for seg in app.screen._compositor.render_strips()[box.y + 1] if seg.text.strip()]
        background = {seg.text: seg.style.bgcolor if seg.style else None for seg in line}
        # the selected words in the selection's colour, the rest of the line in the code's
        assert background["return"] == background["x"] != background["2"], line


async def test_a_code_line_wider_than_the_block_wraps_as_before(real_engine: Engine, fake_server: FakeServer) -> None:
    """Tabs take 8 cells and a line wider than the block goes on under it, as Textual's own
    code blocks draw them: nothing of it is cut off."""
    go = 'func main() {\n\tif ok {\n\t\tfmt.Println("a deeply indented line with a long tail of words")\n\t}\n}'
    fake_server.script("gpt-4o", Reply(text=f"Go:\n\n```go\n{go}\n```\n\nDone."))
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_and_send(pilot, "@gpt-4o Print it")
        code = app.screen.query_one(CodeLines)
        rows = [strip.text[code.content_region.x:code.content_region.right].rstrip()
                for strip in app.screen._compositor.render_strips()[code.content_region.y:code.content_region.bottom]]
        assert rows[2].startswith(" " * 16 + 'fmt.Println("a deeply') and "".join(rows).endswith("}")
        assert 'tail of words")' in "\n".join(rows), rows
        assert code.size.width == code.parent.size.width - 4  # the block's width, less its padding


class _HeldHighlight:
    """Textual's highlighting of a long code, held at its start until `release()` (or HOLD_S):
    while it is held, the test presses a key, which the app can only take if the highlighting
    runs off its event loop. `in_time` records, per held call, whether the key came first."""

    HOLD_S = 10.0

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.started = threading.Event()
        self._release = threading.Event()
        self.in_time: list[bool] = []
        self.original = MarkdownFence.highlight
        held = self

        def highlight(cls: type[MarkdownFence], code: str, language: str, ansi: bool = False,
                      dark: bool = False) -> Content:
            if code.count("\n") >= STREAM_HIGHLIGHT_MAX_LINES and held.armed:
                held.armed = False
                held.started.set()
                held.in_time.append(held._release.wait(held.HOLD_S))
            return held.original(code, language, ansi=ansi, dark=dark)

        self.armed = True
        monkeypatch.setattr(MarkdownFence, "highlight", classmethod(highlight))

    def arm(self) -> None:
        self.started.clear()
        self._release.clear()
        self.armed = True

    def release(self) -> None:
        self._release.set()


async def _a_key_is_answered_while_it_is_held(pilot: Pilot, held: _HeldHighlight, key: str) -> None:
    await until(pilot, held.started.is_set, "the long code block's highlighting", timeout=60)
    composer = pilot.app.screen.query_one(Composer)
    typed = composer.text
    await pilot.press(key)
    await until(pilot, lambda: composer.text == typed + key, f"{key!r} in the composer")
    held.release()


async def test_a_long_code_block_is_coloured_off_the_event_loop(real_engine: Engine, fake_server: FakeServer,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Colouring a long block (once its answer ends, and again for a new theme) took the event
    loop for a second or more at 5,000 lines: the screen froze and keys waited. A theme changed
    while it is coloured gets that theme's colours."""
    code = "\n".join(f"value_{i} = compute({i})" for i in range(STREAM_HIGHLIGHT_MAX_LINES + 20))
    fake_server.script("gpt-4o", Reply(text=f"Here:\n\n```python\n{code}\n```\n\nDone."))
    held = _HeldHighlight(monkeypatch)
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=(120, 40)) as pilot:
        app.theme = "textual-dark"
        composer = app.screen.query_one(Composer)
        composer.focus()
        composer.insert("@gpt-4o Write it")
        await pilot.press("enter")
        # Held as the answer ends: a key is taken meanwhile, and the theme is switched.
        await _a_key_is_answered_while_it_is_held(pilot, held, "a")
        app.theme = "textual-light"
        await settle(pilot, app)
        assert held.in_time == [True], "the answer's colouring held the event loop"
        [fence] = assistants(app)[-1].query(AnswerFence)
        shown = fence.query_one(CodeLines)
        assert shown.plain == code and not fence.deferred
        assert shown.render().spans == held.original(code, "python", dark=False).spans  # the light theme's
        # A theme change colours it again, off the loop too.
        held.arm()
        app.theme = "textual-dark"
        await _a_key_is_answered_while_it_is_held(pilot, held, "b")
        await settle(pilot, app)
        assert held.in_time == [True, True], "colouring for a new theme held the event loop"
        assert shown.render().spans == held.original(code, "python", dark=True).spans
        screen = "\n".join(strip.text for strip in app.screen._compositor.render_strips())
        assert "Done." in screen and composer.text == "ab"


async def test_a_streamed_append_to_uncoloured_code_draws_as_the_whole_code_would() -> None:
    """An append to a long uncoloured block splits and lays out only its new lines: tabs, lines
    wrapped under the block's width and a line continued by the next append draw as the whole
    code drawn at once."""
    from textual.app import App, ComposeResult

    code = "".join(f"\tline_{i} = {'word ' * (i % 7)}end\n" if i % 3 else f"x{i}" for i in range(60))

    class Host(App[None]):
        CSS = "CodeLines { width: 24; }"

        def compose(self) -> ComposeResult:
            yield CodeLines(Content(""), id="streamed")
            yield CodeLines(Content(code), id="whole")

    app = Host()
    async with app.run_test(size=(40, 400)) as pilot:
        streamed, whole = app.query_one("#streamed", CodeLines), app.query_one("#whole", CodeLines)
        for end in range(0, len(code) + 7, 7):  # cuts inside lines and tabs too
            streamed.update(Content(code[:end]))
            if end % 70 == 0:
                await pilot.pause()  # laid out between some appends, not others
        await pilot.pause()
        assert streamed.size == whole.size and streamed.size.height > code.count("\n") + 1  # some wrapped
        drawn = [[streamed.render_line(y).text, whole.render_line(y).text] for y in range(whole.size.height)]
        assert all(a == b for a, b in drawn), [pair for pair in drawn if pair[0] != pair[1]]
