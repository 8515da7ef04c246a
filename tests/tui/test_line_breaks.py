"""A single newline in an answer is a line break, in the chat, in compare and in the Markdown
export, while code blocks, lists and tables keep their shape."""

from __future__ import annotations

import re
from pathlib import Path

from markdown_it import MarkdownIt
from textual.widgets import Markdown

from chatroute.markdown_breaks import hard_breaks
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.screens.compare import CompareScreen
from tests.tui.fake_engine import FakeEngine, Reply
from tests.tui.helpers import assistants, settle, type_and_send

HAIKU = "Morning light, I brew\nA delicate cup of green\nSteam curls, then is gone"
MIXED = HAIKU + "\n\n```python\nx = 1\ny = 2\n```\n\n- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"


def shown_lines(markdown: Markdown) -> list[str]:
    return [line.rstrip() for line in "\n".join(
        "".join(seg.text for seg in strip) for strip in markdown.screen._compositor.render_strips()
    ).splitlines()]


def ends_line(line: str, text: str) -> bool:
    """`text` is on `line` with nothing after it but spaces and borders."""
    return re.search(re.escape(text) + r"[\s▕▐▌│▎┃]*$", line) is not None


async def test_haiku_keeps_its_lines_in_the_chat_and_compare(engine: FakeEngine) -> None:
    engine.script.append(Reply(text=MIXED))
    app = ChatrouteApp(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await type_and_send(pilot, "a haiku about tea")
        lines = shown_lines(assistants(app)[0].query_one(Markdown))
        for verse in HAIKU.split("\n"):
            assert any(ends_line(line, verse) for line in lines), (verse, lines)
        assert any(ends_line(line, "x = 1") for line in lines)  # code block lines stay their own
        assert any(ends_line(line, "one") for line in lines)
        engine.compare_script = {"openai/gpt-4o-mini": Reply(text=HAIKU), "openai/gpt-4o": Reply(text=HAIKU)}
        app.push_screen(CompareScreen(app.backend, None, "haiku", models=["openai/gpt-4o-mini", "openai/gpt-4o"]))
        await pilot.pause()
        app.screen.action_start()
        await settle(pilot, app)
        lines = shown_lines(app.screen.query(Markdown).first())
        assert all(any(ends_line(line, verse) for line in lines) for verse in HAIKU.split("\n")), lines


def test_export_marks_single_newlines_as_hard_breaks_only_in_paragraphs() -> None:
    out = hard_breaks(MIXED)
    html = MarkdownIt("gfm-like").render(out)
    assert "I brew<br />\nA delicate cup of green<br />\nSteam curls" in html
    assert "x = 1\ny = 2" in html and "x = 1  " not in out  # code untouched
    assert "<td>1</td>" in html and "<li>one</li>" in html  # table and list intact


def test_export_of_an_answer_with_crlf_line_ends_has_no_cr_before_the_breaks(chatroute_home: Path) -> None:
    from chatroute.store import Store

    store = Store.open(chatroute_home / "chatroute.db")
    try:
        conv = store.create_conversation("CRLF")
        asked = store.add_message(conv.id, "user", "a haiku")
        store.add_message(conv.id, "assistant", HAIKU.replace("\n", "\r\n"), parent_id=asked.id)
        old_mac = store.create_conversation("CR")  # a lone CR ends a line for Markdown too
        asked = store.add_message(old_mac.id, "user", "a haiku")
        store.add_message(old_mac.id, "assistant", HAIKU.replace("\n", "\r"), parent_id=asked.id)
        exported = [store.export_conversation(c.id, "markdown") for c in (conv, old_mac)]
    finally:
        store.close()
    for md in exported:
        assert "\r" not in md
        assert "I brew  \nA delicate cup of green  \nSteam curls, then is gone\n" in md


def test_export_keeps_a_prompts_lines_and_a_titles_markdown_literal(chatroute_home: Path) -> None:
    """A three-line prompt read as one line in a Markdown viewer (only answers got hard breaks),
    and a title's *stars* and [links] were rendered, where the app shows them as typed."""
    from chatroute.store import Store

    store = Store.open(chatroute_home / "chatroute.db")
    try:
        conv = store.create_conversation("a *haiku* about [sea](x)")
        asked = store.add_message(conv.id, "user", "haiku\nplease\nthree lines")
        store.add_message(conv.id, "assistant", "ok", parent_id=asked.id)
        md = store.export_conversation(conv.id, "markdown")
    finally:
        store.close()
    html = MarkdownIt("gfm-like").render(md)
    assert "haiku<br />\nplease<br />\nthree lines" in html
    assert "<h1>a *haiku* about [sea](x)</h1>" in html
