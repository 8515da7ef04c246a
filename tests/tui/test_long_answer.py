"""A stored answer past AnswerMarkdown.LARGE_MIN_CHARS is drawn whole by one widget, not a widget
per block (a 1,200-item list took 13.7 s to its first frame that way; see
benchmarks/long_answer_bench.py). Real engine and store: the answer is read back as the app reads it."""

from __future__ import annotations

from textual.widgets import Static
from textual.widgets.markdown import MarkdownBlock

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.markdown.answer import AnswerMarkdown
from chatroute.tui.widgets.message import AssistantMessage
from tests.tui.helpers import settle

SIZE = (120, 40)


def _answer(items: int) -> str:
    return "# Steps\n\n" + "".join(f"{i}. Step {i}: **check** the `value` and go on.\n" for i in range(1, items + 1))


async def test_a_long_stored_answer_is_one_widget_with_all_its_text(real_engine: Engine) -> None:
    text = _answer(600)
    assert len(text) > AnswerMarkdown.LARGE_MIN_CHARS
    conv = real_engine.store.create_conversation("long")
    user = real_engine.store.add_message(conv.id, "user", "all the steps")
    real_engine.store.add_message(conv.id, "assistant", text, parent_id=user.id, model="openai/gpt-4o")
    app = ChatrouteApp(real_engine, close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        [message] = list(app.screen.query(AssistantMessage))
        markdown = message.query_one(AnswerMarkdown)
        assert list(markdown.query(MarkdownBlock)) == []
        [whole] = list(markdown.query(".answer-whole"))
        lines = [strip.text for strip in whole.render_lines(whole.region.reset_offset)]
        assert "Steps" in lines[0] and any("600" in line and "Step 600: check the value" in line for line in lines)
        assert message.text == text  # copy (c) and retry read the whole answer
        await markdown.update("A *short* answer in its place.")  # as a sibling shown instead
        await pilot.pause()
        assert list(markdown.query(".answer-whole")) == [] and list(markdown.query(MarkdownBlock))


async def test_a_short_stored_answer_keeps_its_blocks(real_engine: Engine) -> None:
    conv = real_engine.store.create_conversation("short")
    user = real_engine.store.add_message(conv.id, "user", "a few steps")
    real_engine.store.add_message(conv.id, "assistant", _answer(5), parent_id=user.id, model="openai/gpt-4o")
    app = ChatrouteApp(real_engine, close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        markdown = app.screen.query_one(AssistantMessage).query_one(AnswerMarkdown)
        assert list(markdown.query(MarkdownBlock)) and not list(markdown.query(Static).filter(".answer-whole"))
