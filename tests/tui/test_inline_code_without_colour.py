"""Inline code in an answer is set apart from prose only by colours: a tint behind it and a warm
foreground. With NO_COLOR those became greys a few steps from the prose's (chatroute-dark: letters
#cecece against #dedede, fill #242424 against #171717; chatroute-light: #404040 against #222222 on
#eeeeee against #f7f7f7), and under an ANSI theme the terminal's own colours, the prose's exactly:
'Run pip install x now.' read as one sentence of prose. Textual's Markdown gives inline code no
terminal style but colours (and a reverse one in CSS is not applied to it), so without colours it
is drawn with its backticks, as written. With colours it is drawn as before."""

from __future__ import annotations

import pytest
from rich.segment import Segment
from textual.geometry import Region
from textual.widget import Widget
from textual.widgets import Static

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.markdown.answer import AnswerMarkdown
from chatroute.tui.widgets.message import AssistantMessage
from tests.tui.fake_engine import FakeEngine, Reply
from tests.tui.helpers import assistants, settle, type_and_send

SIZE = (100, 30)
ANSWER = "Run `pip install x` now.\n\n- then ``a`b`` and `` `c` ``\n\n| cmd | what |\n|---|---|\n| `ls -l` | list |\n"


def _segments(widget: Widget) -> list[Segment]:
    """Every drawn segment of `widget` and of the widgets it holds."""
    found = []
    for part in [widget, *widget.query("*")]:
        width, height = part.outer_size
        found += [seg for strip in part.render_lines(Region(0, 0, width, height)) for seg in strip]
    return found


def _lines(widget: Widget) -> str:
    return "\n".join("".join(seg.text for seg in strip) for part in [widget, *widget.query("*")]
                     for strip in part.render_lines(Region(0, 0, *part.outer_size)))


def _style_of(segments: list[Segment], text: str) -> str:
    (style,) = {str(seg.style.without_color) for seg in segments if seg.text.strip() == text and seg.style}
    return style


@pytest.mark.parametrize("theme", ["chatroute-dark", "chatroute-light", "ansi-dark", "ansi-light"])
async def test_without_colours_inline_code_keeps_its_backticks(
        engine: FakeEngine, theme: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    engine.script += [Reply(text=ANSWER)]
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        app.theme = theme
        await type_and_send(pilot, "How?")  # streamed, in four chunks
        answer = assistants(app)[-1].query_one(AnswerMarkdown)
        drawn = _lines(answer)
        # before: 'Run pip install x now.', 'then a`b and `c`', 'ls -l'
        assert "Run `pip install x` now." in drawn, drawn
        assert "then ``a`b`` and `` `c` ``" in drawn, drawn
        assert "`ls -l`" in drawn, drawn
        # Its terminal style is the prose's: only the backticks tell it apart.
        segments = _segments(answer)
        assert _style_of(segments, "`pip install x`") == _style_of(segments, "Run")


async def test_with_colours_inline_code_is_drawn_as_before(engine: FakeEngine) -> None:
    engine.script += [Reply(text=ANSWER)]
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "How?")
        answer = assistants(app)[-1].query_one(AnswerMarkdown)
        drawn = _lines(answer)
        assert "Run pip install x now." in drawn and "`" not in drawn.replace("a`b", "").replace("`c`", ""), drawn
        code = next(seg for seg in _segments(answer) if seg.text == "pip install x")
        prose = next(seg for seg in _segments(answer) if seg.text.startswith("Run"))
        assert code.style and prose.style and code.style.bgcolor != prose.style.bgcolor  # the tint


async def test_a_long_stored_answer_drawn_whole_keeps_them_too(
        real_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past AnswerMarkdown.LARGE_MIN_CHARS a stored answer is drawn by Rich's Markdown."""
    monkeypatch.setenv("NO_COLOR", "1")
    text = "".join(f"{i}. Run `step {i}` now.\n" for i in range(1, 1200))
    assert len(text) > AnswerMarkdown.LARGE_MIN_CHARS
    conv = real_engine.store.create_conversation("long")
    user = real_engine.store.add_message(conv.id, "user", "all the steps")
    real_engine.store.add_message(conv.id, "assistant", text, parent_id=user.id, model="openai/gpt-4o")
    app = ChatrouteApp(real_engine, close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        whole = app.screen.query_one(AssistantMessage).query_one(".answer-whole", Static)
        lines = [strip.text for strip in whole.render_lines(whole.region.reset_offset)]
        assert any("Run `step 1` now." in line for line in lines), lines[:3]
