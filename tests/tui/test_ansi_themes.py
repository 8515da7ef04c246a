"""Textual's ANSI themes (ansi-dark, ansi-light: the terminal's own 16 colours, picked with the
palette's theme list or `ui.theme`): no coloured text is drawn on a coloured fill. The 15%
tint that marks the focused message elsewhere is a solid ANSI colour here (an ANSI colour has
no alpha), which put the answer's red error line, and the default text, on solid blue. And
with NO_COLOR, the focused message is marked by more than a shade of grey."""

from __future__ import annotations

import pytest
from rich.segment import Segment
from textual.geometry import Region
from textual.widget import Widget

from chatroute.tui.app import ChatrouteApp
from chatroute.tui.widgets.message import MessageWidget, UserMessage
from tests.tui.fake_engine import Fail, FakeEngine, Reply
from tests.tui.helpers import assistants, settle, type_and_send

SIZE = (100, 30)


def _lines(widget: Widget) -> list[list[Segment]]:
    width, height = widget.outer_size
    return [list(strip) for strip in widget.render_lines(Region(0, 0, width, height))]


def _fills(widget: Widget) -> set[str]:
    """The background colours behind the text of the widget and all it holds (its bar aside)."""
    fills = set()
    for part in [widget, *widget.query("*")]:
        for line in _lines(part):
            body = line[1:] if part is widget and isinstance(widget, MessageWidget) else line
            fills |= {seg.style.bgcolor.name for seg in body if seg.text.strip() and seg.style and seg.style.bgcolor}
    return fills


@pytest.mark.parametrize("theme", ["ansi-dark", "ansi-light"])
async def test_the_focused_message_stands_out_with_no_fill_behind_its_text(engine: FakeEngine, theme: str) -> None:
    engine.script += [Reply(text="fine"), Fail(error="openai/gpt-4o-mini: rate limited (429)")]
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        app.theme = theme
        await type_and_send(pilot, "one")
        await type_and_send(pilot, "two")
        await pilot.press("up")
        await settle(pilot, app)
        failed, fine = assistants(app)[-1], assistants(app)[0]
        assert app.focused is failed and "rate limited" in failed.query_one(".error-line").render().plain
        assert _fills(failed) <= {"default"}, _fills(failed)  # was color(4): red, and the text, on blue
        # Still marked: its bar is not the others' (also with no colour at all, NO_COLOR).
        assert _lines(failed)[0][0].text != _lines(fine)[0][0].text
        await pilot.press("up")
        await settle(pilot, app)
        prompt = app.screen.query(UserMessage).last()
        assert app.focused is prompt and _fills(prompt) <= {"default"}
        assert _lines(prompt)[0][0].text != _lines(app.screen.query(UserMessage).first())[0][0].text


@pytest.mark.parametrize("theme", ["ansi-dark", "ansi-light"])
async def test_the_current_compare_tab_of_a_failed_answer_is_not_red_on_blue(engine: FakeEngine, theme: str) -> None:
    """Compare shown one answer at a time: the current tab was filled with 40% of the primary
    colour, solid blue here, under a failed answer's red."""
    from chatroute.tui.screens.compare import AnswerTab
    from tests.tui.fake_engine import MODELS
    from tests.tui.helpers import open_compare_ticking, until

    four = [m.id for m in MODELS]
    engine.compare_script = {four[0]: Fail(error="openai/gpt-4o-mini: 429 rate limited")}
    app = ChatrouteApp(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        app.theme = theme
        screen = await open_compare_ticking(pilot, app, four)
        await pilot.press("tab", *"Lisbon?", "ctrl+s")
        await until(pilot, lambda: len(list(screen.query(AnswerTab))) == 4, "the tabs")
        await settle(pilot, app)
        tabs = list(screen.query(AnswerTab))
        assert tabs[0].has_class("-current") and tabs[0].has_class("-failed")
        current, other = (_fills(tab) for tab in tabs[:2])
        assert current <= {"default"} and other <= {"default"}, (current, other)
        # Still told apart from the others without a colour.
        assert tabs[0].rich_style.bold and tabs[0].rich_style.underline and not tabs[1].rich_style.underline


@pytest.mark.parametrize("theme", ["chatroute-dark", "chatroute-light"])
async def test_with_no_color_the_focused_message_is_marked_by_more_than_a_shade(
        engine: FakeEngine, theme: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """NO_COLOR turns the screen to greys: the focused message's tint became a shade of grey a
    few steps from the others' (#1f2c3a against #14171c: 42 against 23 of 255), so a keyboard
    user could hardly tell which message w, c or g would act on. Its bar is drawn differently."""
    monkeypatch.setenv("NO_COLOR", "1")
    engine.script += [Reply(text="fine"), Reply(text="also fine")]
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        app.theme = theme
        await type_and_send(pilot, "one")
        await type_and_send(pilot, "two")
        await pilot.press("up")
        await settle(pilot, app)
        focused, other = assistants(app)[-1], assistants(app)[0]
        assert app.focused is focused and app.no_color
        assert _lines(focused)[0][0].text != _lines(other)[0][0].text
