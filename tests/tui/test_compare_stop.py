"""Ctrl+C in compare mode stops every answer still streaming, as it stops the one answer in the
chat: each is kept, saved as interrupted and priced, and nothing goes on billing out of sight.
Real engine and store, official SDKs, the fake provider."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import SelectionList, Static

from chatroute.engine import Engine
from chatroute.money import usd
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.data import short_model
from chatroute.tui.screens.compare import CompareColumn, CompareScreen
from chatroute.tui.widgets.badge import Badge
from chatroute.tui.widgets.composer import Composer
from tests.engine.helpers import OPENAI_KEY, write_config
from tests.fakeserver import FakeServer, Reply
from tests.tui.helpers import compare_composer_text, settle

SIZE = (120, 40)
MODELS = ["openai/gpt-4o-mini", "openai/gpt-4o"]


async def compare(pilot: Pilot, app: ChatrouteApp,
                  until: Callable[[list[CompareColumn]], bool], what: str) -> list[CompareColumn]:
    """F4, both models, a prompt: back with the two columns once `until` holds for them."""
    await compare_composer_text(pilot, app, "Tell me everything about lighthouses.", MODELS)
    for _ in range(500):
        await asyncio.sleep(0.01)
        columns = list(app.screen.query(CompareColumn))
        if len(columns) == 2 and until(columns):
            return columns
    raise AssertionError(f"waited in vain for {what}")


async def start(pilot: Pilot, app: ChatrouteApp) -> None:
    """Back once both answers are streaming."""
    await compare(pilot, app, lambda cs: all(len(c.text) > 40 for c in cs), "both answers to stream")


async def test_ctrl_c_stops_the_compare_streams(real_engine: Engine, fake_server: FakeServer) -> None:
    for model in MODELS:
        fake_server.script(model.split("/", 1)[1], Reply(endless=True, tokens_per_s=20))
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        columns = list(app.screen.query(CompareColumn))
        assert [c.status for c in columns] == ["streaming", "streaming"]
        await pilot.press("ctrl+c")
        for _ in range(100):
            await pilot.pause(0.02)
            if all(c.status != "streaming" for c in columns):
                break
        assert [c.status for c in columns] == ["interrupted", "interrupted"]
        assert isinstance(app.screen, CompareScreen)  # stopped, still there to read
        lengths = [len(c.text) for c in columns]
        await pilot.pause(0.3)
        assert [len(c.text) for c in columns] == lengths  # nothing more arrives
        conversation_id = columns[0].conversation_id
        # Each column shows what its stopped answer cost, as the chat's badge does (it showed
        # "⚠ interrupted" alone, though both were priced in the store).
        assert conversation_id is not None
        costs = {t.model: t.cost_usd for t in real_engine.store.turns(conversation_id)}
        assert all(t.usage_estimated for t in real_engine.store.turns(conversation_id))
        for column in columns:
            shown = column.query_one(Badge).text
            assert "interrupted" in shown and "$" in shown, shown
            assert costs[column.model] and shown.startswith(f"≈{usd(costs[column.model])} · "), shown
        await pilot.press("2")  # a stopped answer can be kept, as in the chat
        await settle(pilot, app)
        assert not isinstance(app.screen, CompareScreen)
        kept = columns[1].message_id
    turns = real_engine.store.turns(conversation_id)
    assert sorted(t.model for t in turns) == MODELS[::-1]
    assert all(t.status == "interrupted" and t.cost_usd for t in turns), turns
    active = [m.id for m in real_engine.store.siblings(kept or "") if m.active]
    assert active == [kept]


async def test_ctrl_q_saves_the_compare_streams_as_it_quits(real_engine: Engine, fake_server: FakeServer) -> None:
    for model in MODELS:
        fake_server.script(model.split("/", 1)[1], Reply(endless=True, tokens_per_s=20))
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        conversation_id = app.screen.query(CompareColumn).first().conversation_id
        await pilot.press("ctrl+q")
        await pilot.pause()
    assert conversation_id is not None
    turns = real_engine.store.turns(conversation_id)
    assert sorted(t.model for t in turns) == MODELS[::-1]
    assert all(t.status == "interrupted" and t.cost_usd for t in turns), turns
    assert all(m.status != "streaming" for m in real_engine.store.history(conversation_id))


async def test_each_compare_answer_shows_its_cost_at_80_columns(real_engine: Engine, fake_server: FakeServer) -> None:
    """At 80x24 a column's badge read 'claude-haiku-4-5 (compare) · $0.000…': the route kind,
    the same for every answer on the screen, took the room of the cost."""
    for model in MODELS:
        fake_server.script(model.split("/", 1)[1], Reply(text="short answer", input_tokens=1234, output_tokens=56))
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=(80, 24)) as pilot:
        columns = await compare(pilot, app, lambda cs: all(c.status == "ok" for c in cs), "both answers")
        await pilot.pause()
        for column in columns:
            badge = column.query_one(Badge)
            shown = badge.fitted(badge.content_size.width)
            record = real_engine.store.turns_for_messages([column.message_id])[column.message_id]
            assert usd(record.cost_usd) in shown and "(compare)" not in shown, shown


async def test_a_dropped_answer_can_be_kept_and_a_streaming_one_says_so(real_engine: Engine,
                                                                        fake_server: FakeServer) -> None:
    """A column whose connection dropped mid-answer kept its text, billed and badged as
    interrupted, yet '1' said it had 'no answer to pick'; so did a digit on a column still
    streaming, with its text on screen."""
    from tests.fakeserver import Drop

    words = " ".join(f"word{i}" for i in range(40))
    fake_server.script("gpt-4o-mini", Drop(after_chunks=20, text=words))
    fake_server.script("gpt-4o", Reply(endless=True, tokens_per_s=20))
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        first, second = await compare(
            pilot, app, lambda cs: cs[0].status not in ("pending", "streaming") and bool(cs[1].text),
            "the first answer to end and the second to stream")
        assert first.status == "interrupted" and first.text.startswith("word0 word1")
        await pilot.press("2")
        await pilot.pause()
        notes = [str(n.message) for n in app._notifications]
        assert any("gpt-4o is still answering" in n for n in notes), notes
        await pilot.press("1")
        await settle(pilot, app)
        assert not isinstance(app.screen, CompareScreen)  # kept: back in the chat, continuing from it
    [conv] = real_engine.store.list_conversations()
    shown = real_engine.store.history(conv.id)
    assert shown[-1].content.startswith("word0 word1") and shown[-1].status == "interrupted"


async def test_four_answers_at_80_columns_each_name_their_model_and_show_their_cost(
        chatroute_home: Path, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Four models at 80x24: a column's heading ('2  claude-sonnet-4-5') wrapped past its one
    line, so columns 2 and 4 showed only their number and nobody could tell which model was
    answering there; and every badge was cut before its cost ('gpt-4o-mini · $…'). Four columns
    of 20 cells are too narrow to read now, so the answers are shown one at a time (→ to the
    next): each names its whole model and shows its cost."""
    four = ["openai/gpt-4o-mini", "anthropic/claude-sonnet-4-5", "openai/gpt-4o", "anthropic/claude-haiku-4-5"]
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", "sk-ant-test")
    write_config(chatroute_home, fake_server, pool=four)
    for model in four:
        fake_server.script(model.split("/", 1)[1], Reply(text="short answer", input_tokens=1234, output_tokens=56))
    engine = Engine.open()
    app = ChatrouteApp(engine, close_engine=True)
    async with app.run_test(size=(80, 24)) as pilot:
        app.screen.query_one(Composer).insert("Tell me about lighthouses.")
        await pilot.press("f4")
        await pilot.pause()
        picker = app.screen.query_one(SelectionList)
        for model in four:
            picker.select(model)
        await pilot.press("ctrl+s")
        for _ in range(500):
            await asyncio.sleep(0.01)
            columns = list(app.screen.query(CompareColumn))
            if len(columns) == 4 and all(c.status == "ok" for c in columns):
                break
        await pilot.pause()
        for i, column in enumerate(columns, 1):
            assert [c for c in columns if c.display] == [column]
            head = column.query_one(".col-head", Static)
            line = "".join(seg.text for seg in head.render_line(0)).strip()
            assert line == f"{i}  {short_model(column.model)}", line
            badge = column.query_one(Badge)
            shown = badge.fitted(badge.content_size.width)
            record = engine.store.turns_for_messages([column.message_id])[column.message_id]
            assert usd(record.cost_usd) in shown, shown
            await pilot.press("right")
            await pilot.pause()
