"""Streaming renders in batches (chatroute/tui/markdown/feed.py MarkdownFeed): no text may be
lost on the way, and the answer must end up rendered exactly as a one-shot render of the
same Markdown would show it — code blocks, nested lists, tables and all."""

from __future__ import annotations

import asyncio
from typing import Any

from textual.command import CommandPalette
from textual.widget import Widget
from textual.widgets import Markdown, SelectionList
from textual.widgets._markdown import MarkdownFence, MarkdownTable
from textual.widgets.markdown import MarkdownBlock

import chatroute.tui.markdown.feed as feed_module
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.markdown.answer import AnswerMarkdown
from chatroute.tui.markdown.fence import LongFences
from chatroute.tui.markdown.freeze import FrozenBlocks
from chatroute.tui.markdown.parser import answer_parser
from chatroute.tui.screens.compare import CompareColumn
from chatroute.tui.widgets.chat_view import ChatView
from chatroute.tui.widgets.message import AssistantMessage
from tests.tui.fake_engine import FakeEngine, Reply
from tests.tui.helpers import assistants, palette_matches, settle, until

SIZE = (120, 40)

SECTION = """## Step {i}: configure the router

The router scores each model for quality, cost and latency, then picks the best utility. Step {i}
explains **why** the badge shows `what it shows`, with a paragraph long enough to wrap twice at
this width so that wrapping is exercised as well as parsing.

1. Open the configuration.
2. Pin a model:
   - with `@override`
   - or with the picker
3. Compare the cost report.

```python
def pick_{i}(scores: dict[str, float]) -> str:
    best = max(scores, key=scores.get)
    return best  # step {i}
```

| model | quality | cost |
|-------|---------|------|
| gpt-4o-mini | 0.71 | 0.0004 |
| claude-haiku | 0.74 | 0.0028 |

> Note {i}: cached answers only count above the threshold.

"""
LAST_PARAGRAPH = "The very last paragraph arrives in the final chunks: nothing may be dropped."
ANSWER = "# A long answer\n\n" + "".join(SECTION.format(i=i) for i in range(1, 6)) + LAST_PARAGRAPH + "\n"
# Loose lists (blank lines between items) as models write them: a fragment that ends after
# "2" at the start of a line must not become a paragraph of its own, splitting the list.
LOOSE_LISTS = ("Here are the steps:\n\n"
               + "".join(f"{n}. **Step {n}**: do thing {n}.\n\n" for n in range(1, 13))
               + "- first point\n\n- second point\n\n  continued, indented\n\n* third, another list\n\n"
               + "| step | cost |\n|---|---|\n| [one](https://example.com) | $0.01 |\n| two | $0.02 |\n\nDone.\n")


def rendering(markdown: Markdown) -> list[tuple[str, str]]:
    """What the widget shows: every descendant's type and rendered text, in order."""
    out = []
    for widget in markdown.walk_children(Widget):
        visual = widget.render()
        text = visual if isinstance(visual, str) else getattr(visual, "plain", type(visual).__name__)
        out.append((type(widget).__name__, text))
    return out


async def reference_rendering(app: ChatrouteApp, text: str) -> list[tuple[str, str]]:
    """The same Markdown rendered in one go, in the same app (same theme, width, parser and
    blocks: an answer's code blocks are drawn by CodeLines, see tui/markdown/fence.py)."""
    ref = LongFences(text, id="reference", parser_factory=answer_parser)
    await app.screen.mount(ref)
    await app.workers.wait_for_complete()
    result = rendering(ref)
    await ref.remove()
    return result


def record_calls(monkeypatch: Any, method: str, calls: list[str]) -> None:
    """Record the text passed to every Markdown.<method> (append or update) call."""
    original = getattr(Markdown, method)

    def recording(self: Markdown, markdown: str) -> Any:
        calls.append(markdown)
        return original(self, markdown)

    monkeypatch.setattr(Markdown, method, recording)


async def send_and_settle(pilot: Any, app: ChatrouteApp, prompt: str) -> AssistantMessage:
    """Send `prompt` (inserted, not typed) and return the one answer once the turn is done."""
    composer = app.screen.query_one("#composer")
    composer.insert(prompt)
    await pilot.press("enter")
    await settle(pilot, app)
    [msg] = assistants(app)
    return msg


async def submit_until_streaming(app: ChatrouteApp, prompt: str, share: int) -> None:
    """Send `prompt` and return once 1/`share` of ANSWER has streamed in (pilot.press would
    wait for the whole stream)."""
    composer = app.screen.query_one("#composer")
    composer.insert(prompt)
    composer.action_submit()
    for _ in range(200):
        await asyncio.sleep(0.01)
        msgs = assistants(app)
        if msgs and len(msgs[0].text) > len(ANSWER) // share:
            break


async def test_long_markdown_streams_in_batches_and_renders_whole(engine: FakeEngine, monkeypatch: Any) -> None:
    appends: list[str] = []
    record_calls(monkeypatch, "append", appends)
    # ~700 fragments cut at arbitrary points (mid-word, mid-line, mid-fence), as fast as possible
    engine.script.append(Reply(text=ANSWER, chunks=700))
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        msg = await send_and_settle(pilot, app, "explain the router at length")
        markdown = msg.query_one(Markdown)

        # Batched: far fewer appends than fragments, and together they carry every character.
        assert 0 < len(appends) < 100, len(appends)
        assert sum(map(len, appends)) == len(ANSWER)
        assert msg.text == ANSWER and markdown.source == ANSWER

        shown = rendering(markdown)
        assert shown == await reference_rendering(app, ANSWER)
        text = "\n".join(t for _, t in shown)
        assert LAST_PARAGRAPH in text and "return best  # step 5" in text and "Note 5:" in text
        assert len(markdown.query(MarkdownFence)) == 5 and len(markdown.query(MarkdownTable)) == 5
        # The bottom margin goes from the last block only (the badge sits under the text).
        lasts = [block.has_class("-last") for block in markdown.children]
        assert lasts == [False] * (len(markdown.children) - 1) + [True]

        chat = app.screen.query_one(ChatView)
        assert chat.max_scroll_y > 0 and chat.scroll_y == chat.max_scroll_y  # kept at the bottom


async def test_stopping_mid_stream_keeps_every_fragment_received(engine: FakeEngine) -> None:
    engine.script.append(Reply(text=ANSWER, chunks=400, delay=0.002))
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await submit_until_streaming(app, "explain", 3)
        await pilot.press("escape")
        await settle(pilot, app)
        [msg] = assistants(app)
        assert msg.status == "interrupted"
        assert 0 < len(msg.text) < len(ANSWER) and ANSWER.startswith(msg.text)
        # The last batch (still pending when Esc was pressed) was rendered too.
        assert msg.query_one(Markdown).source == msg.text
        assert rendering(msg.query_one(Markdown)) == await reference_rendering(app, msg.text)


async def test_cache_hit_renders_the_whole_answer(engine: FakeEngine) -> None:
    engine.script.append(Reply(text=ANSWER, chunks=1, cache_similarity=0.97, cache_source_turn="t000001"))
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        msg = await send_and_settle(pilot, app, "explain")
        assert msg.query_one(Markdown).source == ANSWER
        assert rendering(msg.query_one(Markdown)) == await reference_rendering(app, ANSWER)


async def test_loose_lists_stream_without_a_full_rerender(engine: FakeEngine, monkeypatch: Any) -> None:
    """Every fragment boundary is tried (one character a chunk, appended one by one): the
    blocks still match a one-shot render (tables grown row by row included), so finishing
    does not need to render it all again."""
    monkeypatch.setattr(feed_module, "FLUSH_INTERVAL_S", 0.0)
    updates: list[str] = []
    record_calls(monkeypatch, "update", updates)
    engine.script.append(Reply(text=LOOSE_LISTS, chunks=len(LOOSE_LISTS), delay=0.001))
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        msg = await send_and_settle(pilot, app, "steps?")
        markdown = msg.query_one(Markdown)
        assert markdown.source == LOOSE_LISTS
        assert rendering(markdown) == await reference_rendering(app, LOOSE_LISTS)
        assert [u for u in updates if u] == [LOOSE_LISTS]  # only the reference's own render


async def test_answer_removed_mid_stream_still_completes(engine: FakeEngine) -> None:
    """The streaming message can leave the screen (the chat window moves, another
    conversation opens): the turn goes on, keeps every fragment, and shows no error."""
    engine.script.append(Reply(text=ANSWER, chunks=300, delay=0.002))
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await submit_until_streaming(app, "explain", 4)
        [msg] = assistants(app)
        await msg.remove()
        await settle(pilot, app)
        assert msg.text == ANSWER and msg.status == "ok" and msg.error is None
        assert all(w.is_finished and w.error is None for w in app.workers)
        assert not app._notifications  # no error toast


def rich_section(i: int) -> list[str]:
    """One section of a rich answer, as the fragments a model might send: cut inside a link,
    a list marker's line, the fence's info string, a blank line inside the fence, a table row
    and a heading marker, where a naive split of finished and live blocks would go wrong."""
    return [
        f"## Part {i}: rou", "ting\n\nIntro with **bold**, `code` and a [li", "nk](https://exa",
        "mple.com) to keep.\n\n1. Open the configuration.\n2. Pin a mo", "del:\n   - with `@override`\n   - or wi",
        "th the picker\n3. Compare the cost report.\n\n```py", "thon\n",
        f"def pick_{i}(scores: dict[str, float]) -> str:\n",
        "    best = max(scores, key=scores.get)\n", "\n    return best  # after a blank line in the fence\n``",
        "`\n\n| model | quality | cost |\n|-------|---------|------|\n| gpt-4o-mini | 0.71 | 0.0",
        "004 |\n| claude-ha", f"iku | 0.7{i} | 0.0028 |\n\n> A quote to close part {i}.\n\n#",
    ]


RICH_PIECES = ["# A rich answer\n\n"] + [p for i in range(1, 5) for p in rich_section(i)] + ["# The end\n\nDone.\n"]
RICH = "".join(RICH_PIECES)
TALL = (110, 200)  # the whole answer on screen: pictures of finished blocks are drawn, not scrolled away


def screen_cells(app: ChatrouteApp) -> list[list[tuple[Any, ...]]]:
    """What the terminal shows of the conversation (not the composer: its cursor blinks),
    line by line: each segment's text and look."""
    region = app.screen.query_one(ChatView).region
    strips = app.screen._compositor.render_strips()[region.y:region.bottom]
    return [[(seg.text, seg.style.color, seg.style.bgcolor, seg.style.bold, seg.style.italic,
              seg.style.underline, seg.style.strike, seg.style.reverse) if seg.style else (seg.text,)
             for seg in strip.crop(region.x, region.right).simplify()]
            for strip in strips]


async def release(pilot: Any, gate: asyncio.Queue[None], markdown: Markdown, upto: int) -> None:
    """Let the engine send the next fragment and wait until the feed has appended it."""
    gate.put_nowait(None)
    expected = "".join(RICH_PIECES[:upto])
    for _ in range(300):
        await pilot.pause(0.01)
        if markdown.source == expected:
            await pilot.pause()
            return
    raise AssertionError(f"fragment {upto} was not appended: {markdown.source[-80:]!r}")


def gated_rich_reply(engine: FakeEngine, monkeypatch: Any) -> asyncio.Queue[None]:
    """Script the rich answer so each fragment waits for the returned gate, and append at once."""
    monkeypatch.setattr(feed_module, "FLUSH_INTERVAL_S", 0.0)
    gate: asyncio.Queue[None] = asyncio.Queue()
    engine.script.append(Reply(pieces=RICH_PIECES, gate=gate))
    return gate


async def ask_and_wait_for_answer(pilot: Any, app: ChatrouteApp) -> Any:
    """Send a prompt and return the answer widget once it is mounted."""
    app.screen.query_one("#composer").insert("report, please")
    await pilot.press("enter")
    for _ in range(100):
        await pilot.pause(0.01)
        if assistants(app):
            break
    [msg] = assistants(app)
    return msg


async def test_rich_answer_split_at_awkward_points_renders_as_one_shot(engine: FakeEngine, monkeypatch: Any) -> None:
    """Each fragment is appended on its own (the gate waits for it), finished blocks are
    pictured and hidden as the answer grows, and the settled answer is block for block and
    line for line what a one-shot render of the whole text shows."""
    gate = gated_rich_reply(engine, monkeypatch)
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        msg = await ask_and_wait_for_answer(pilot, app)
        markdown = msg.query_one(Markdown)
        pictured = 0
        for upto in range(1, len(RICH_PIECES) + 1):
            await release(pilot, gate, markdown, upto)
            pictured = max(pictured, len(markdown.query(FrozenBlocks)))
            hidden = [block for block in markdown.children if isinstance(block, MarkdownBlock) and not block.display]
            assert sum(len(p.blocks) for p in markdown.query(FrozenBlocks)) == len(hidden)
        assert pictured >= 2  # the split really happened, more than once
        await settle(pilot, app)

        assert msg.status == "ok" and markdown.source == RICH
        assert not markdown.query(FrozenBlocks)
        assert all(block.display for block in markdown.children)
        assert rendering(markdown) == await reference_rendering(app, RICH)
        lasts = [block.has_class("-last") for block in markdown.children]
        assert lasts == [False] * (len(markdown.children) - 1) + [True]


async def test_pictures_look_exactly_like_the_blocks_they_hide(engine: FakeEngine, monkeypatch: Any) -> None:
    """Mid-stream, the screen with finished blocks pictured is the screen with the blocks
    themselves, cell for cell (text, colours, attributes); also after switching the theme
    or resizing the terminal mid-stream, which old pictures must not survive."""
    gate = gated_rich_reply(engine, monkeypatch)
    app = ChatrouteApp(engine)
    async with app.run_test(size=TALL) as pilot:
        msg = await ask_and_wait_for_answer(pilot, app)
        markdown = msg.query_one(AnswerMarkdown)
        half = len(RICH_PIECES) // 2
        for upto in range(1, half + 1):
            await release(pilot, gate, markdown, upto)
        assert markdown.query(FrozenBlocks)

        async def shown_equals_real() -> None:
            shown = screen_cells(app)
            await markdown.thaw(step_widgets=None)
            await pilot.pause()
            assert not markdown.query(FrozenBlocks)
            assert screen_cells(app) == shown

        await shown_equals_real()
        await release(pilot, gate, markdown, half + 1)
        await release(pilot, gate, markdown, half + 2)
        assert markdown.query(FrozenBlocks)
        await pilot.press("ctrl+p")  # not run_palette_command: it waits for the turn to end
        await until(pilot, lambda: isinstance(app.screen, CommandPalette), "the command palette")
        assert isinstance(app.screen, CommandPalette)
        await palette_matches(pilot, app.screen, "theme: chatroute-light")
        await pilot.press("enter")
        await pilot.pause()
        assert app.theme == "chatroute-light"
        await shown_equals_real()  # no picture in the old colours is left on screen
        await release(pilot, gate, markdown, half + 3)
        await release(pilot, gate, markdown, half + 4)
        assert markdown.query(FrozenBlocks)  # pictured again, in the new colours
        await shown_equals_real()
        await release(pilot, gate, markdown, half + 5)
        assert markdown.query(FrozenBlocks)
        await pilot.resize_terminal(TALL[0] - 17, TALL[1])  # every line wraps differently
        await pilot.pause()
        await shown_equals_real()

        for _ in range(half + 6, len(RICH_PIECES) + 1):
            gate.put_nowait(None)
        await settle(pilot, app)
        assert markdown.source == RICH and not markdown.query(FrozenBlocks)


async def test_compare_columns_stream_through_the_same_feed(engine: FakeEngine, monkeypatch: Any) -> None:
    """Compare mode renders each column as the chat does (batched, no full re-render at the
    end) and ends with the one-shot render, from fragments of 8 characters."""
    updates: list[str] = []
    record_calls(monkeypatch, "update", updates)
    models = ["openai/gpt-4o-mini", "openai/gpt-4o"]
    engine.compare_script = {m: Reply(text=RICH, model=m) for m in models}
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        await pilot.pause()
        app.screen.query_one(SelectionList).deselect_all()  # from the pre-selected pair
        await pilot.press("space", "down", "space", "tab", "h", "i", "enter")
        await settle(pilot, app)
        cols = list(app.screen.query(CompareColumn))
        assert [c.model for c in cols] == models and [c.status for c in cols] == ["ok", "ok"]
        reference = await reference_rendering(app, RICH)
        for col in cols:
            markdown = col.query_one(AnswerMarkdown)
            assert markdown.source == RICH and not markdown.query(FrozenBlocks)
            assert rendering(markdown) == reference
        assert [u for u in updates if u] == [RICH]  # only the reference's own render
