"""Ctrl+E on a conversation whose answer ends inside a code block (cut at its token limit, or
stopped mid-code): the Markdown export closes the block where the answer ends, so the turns
after it read as turns. Real engine and store, official SDKs, the fake provider."""

from __future__ import annotations

from pathlib import Path

from markdown_it import MarkdownIt

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from tests.fakeserver import FakeServer, Reply
from tests.tui.helpers import settle, type_and_send, until

CUT = "Here is the script:\n\n```python\nfor i in range(3):\n    print(i)"


async def test_an_answer_cut_off_inside_a_code_block_leaves_the_rest_of_the_export_readable(
        real_engine: Engine, fake_server: FakeServer, chatroute_home: Path) -> None:
    fake_server.script("gpt-4o-mini", Reply(text=CUT, chunk_words=False, finish_reason="length"))
    fake_server.script("gpt-4o-mini", Reply(text="It prints 0, 1 and 2.", chunk_words=False))
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await type_and_send(pilot, "@gpt-4o-mini Write a loop in Python")
        await type_and_send(pilot, "@gpt-4o-mini What does it print?")
        await pilot.press("ctrl+e")
        await settle(pilot, app)
        await until(pilot, lambda: any("Exported to" in str(n.message) for n in app._notifications), "the export")
    [md] = (chatroute_home / "exports").glob("*.md")
    text = md.read_text(encoding="utf-8")
    tokens = MarkdownIt("gfm-like").parse(text)
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    # Before, the code block ran to the end of the file: the second question, its answer, both
    # badges and the total were code, and only the first two headings were headings.
    assert headings[1:] == ["You", "Assistant · openai/gpt-4o-mini", "You", "Assistant · openai/gpt-4o-mini"]
    [code] = [t for t in tokens if t.type == "fence"]
    assert code.info == "python" and code.content == "for i in range(3):\n    print(i)\n"
    assert "It prints 0, 1 and 2." in [t.content for t in tokens if t.type == "inline"]
