"""The costs screen over the real store: every figure readable at 120x40 and 80x24, the same
money format as the CLI, spend shown with no cap set, ≈ and n/a markers kept."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from textual.app import App
from textual.containers import VerticalScroll
from textual.widgets import DataTable

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from chatroute.turn_events import TurnFinished, TurnStarted
from tests.engine.helpers import OPENAI_KEY, write_config
from tests.fakeserver import FakeServer, Reply
from tests.tui.fake_engine import FakeEngine, sample_cost_report
from tests.tui.helpers import settle, type_and_send


def screen_text(app: App) -> str:
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(seg.text for seg in strip) for strip in strips)


async def _seed(pilot, app: ChatrouteApp, fake_server: FakeServer, turns: int) -> None:  # type: ignore[no-untyped-def]
    for i in range(turns):
        # gpt-4o at $2.50/M in, $10/M out: 1,000 in + 90 out = $0.0034 a turn
        fake_server.script("gpt-4o", Reply(text=f"answer {i}", input_tokens=1000, output_tokens=90))
        await type_and_send(pilot, f"@gpt-4o Plan a two-week rail itinerary through Portugal and Spain, part {i}")


async def _seed_by_engine(engine: Engine, fake_server: FakeServer, turns: int) -> None:
    """_seed's turns in one conversation, run by the engine's turn (what the chat screen's send
    runs) without drawing each answer: the costs screen reads them from the store."""
    conversation = None
    for i in range(turns):
        fake_server.script("gpt-4o", Reply(text=f"answer {i}", input_tokens=1000, output_tokens=90))
        prompt = f"@gpt-4o Plan a two-week rail itinerary through Portugal and Spain, part {i}"
        events = [e async for e in engine.run_turn(conversation, prompt)]
        assert isinstance(events[0], TurnStarted) and isinstance(events[-1], TurnFinished)
        assert events[-1].record.status == "ok"
        conversation = events[0].conversation_id


def _holds(line: str, cells: list[str]) -> bool:
    pattern = r"\s+".join(re.escape(c) for c in cells)
    return re.search(rf"(^|\s){pattern}(\s|$)", line) is not None


async def _visible_everywhere(pilot, app: App) -> str:  # type: ignore[no-untyped-def]
    """Scroll each table into view; every cell of every row must then be on screen."""
    seen = []
    scroll = app.screen.query_one(VerticalScroll)
    for table in app.screen.query(DataTable):
        scroll.scroll_to_widget(table, animate=False, top=True)
        await pilot.pause()
        text = screen_text(app)
        lines = text.splitlines()
        for row_key in table.rows:
            cells = [str(c) for c in table.get_row(row_key)]
            # some line on screen holds every cell of the row, whole and in order
            assert any(_holds(line, cells) for line in lines), (table.id, cells, text)
        seen.append(text)
    scroll.scroll_home(animate=False)
    await pilot.pause()
    return screen_text(app)


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_costs_screen_shows_every_figure(real_engine: Engine, fake_server: FakeServer,
                                               size: tuple[int, int]) -> None:
    await _seed_by_engine(real_engine, fake_server, 15)
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=size) as pilot:
        await pilot.press("f5")
        await settle(pilot, app)
        top = await _visible_everywhere(pilot, app)
        table = app.screen.query_one("#by-conversation", DataTable)
        [row] = [table.get_row(k) for k in table.rows]
        assert [str(c) for c in row][1:] == ["15", "$0.051"]
        assert "$0.051" in top  # 15 x $0.0034, on the "today" card, as the CLI writes it
        budget = str(app.screen.query_one("#budget").render())
        assert "today: $0.051 (no cap)" in budget and "this month: $0.051 (no cap)" in budget


async def test_with_only_a_daily_cap_the_month_still_shows_its_spend(
        chatroute_home: Path, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    write_config(chatroute_home, fake_server, extra="[budget]\ndaily_usd = 5.0\n")
    app = ChatrouteApp(Engine.open())
    async with app.run_test(size=(120, 40)) as pilot:
        await _seed(pilot, app, fake_server, 2)
        await pilot.press("f5")
        await settle(pilot, app)
        budget = str(app.screen.query_one("#budget").render())
        assert "today: $0.0068 of $5.00 (0%)" in budget and "this month: $0.0068 (no cap)" in budget


async def test_a_zero_cap_shows_as_a_cap_used_up_not_as_no_cap(
        chatroute_home: Path, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # daily_usd = 0 means "spend nothing"; the screen said "today: $0.0034 (no cap)".
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    write_config(chatroute_home, fake_server, extra="[budget]\ndaily_usd = 0\n")
    app = ChatrouteApp(Engine.open())
    async with app.run_test(size=(120, 40)) as pilot:
        await _seed(pilot, app, fake_server, 1)
        await pilot.press("f5")
        await settle(pilot, app)
        budget = str(app.screen.query_one("#budget").render())
        assert "today: $0.0034 of $0.00 (100%) ⛔ over budget" in budget
        assert "budget reached" in budget and "$0.0034 of $0.00 today" in budget


async def test_the_budget_lines_mark_turns_with_no_known_price(
        chatroute_home: Path, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # The "today" card said "$0.0034 (+1 n/a)", the budget line under it "today: $0.0034 of $5.00".
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", "sk-ant-test")
    write_config(chatroute_home, fake_server,
                 pool=["openai/gpt-4o-mini", "openai/gpt-4o", "anthropic/claude-mystery-9"],
                 extra="[budget]\ndaily_usd = 5.0\n")
    app = ChatrouteApp(Engine.open())
    async with app.run_test(size=(120, 40)) as pilot:
        await _seed(pilot, app, fake_server, 1)
        fake_server.script("claude-mystery-9", Reply(text="unknown cost", input_tokens=100, output_tokens=10))
        await type_and_send(pilot, "@anthropic/claude-mystery-9 an unpriced turn")
        await settle(pilot, app)
        await pilot.press("f5")
        await settle(pilot, app)
        budget = str(app.screen.query_one("#budget").render())
        assert "today: $0.0034 (+1 n/a) of $5.00 (0%)" in budget
        assert "this month: $0.0034 (+1 n/a) (no cap)" in budget


async def test_cards_keep_estimate_and_unknown_markers_and_tokens_use_one_style(
        engine: FakeEngine) -> None:
    report = sample_cost_report()
    report["totals"]["today"] = 0.0034
    report["markers"] = {"today": {"estimated_turns": 1, "unknown_cost_turns": 2}}
    report["by_model"][0].update(input_tokens=6366, output_tokens=18000, cached_tokens=950)
    engine.cost_report = lambda since=None: report  # type: ignore[method-assign]
    app = ChatrouteApp(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f5")
        await settle(pilot, app)
        assert "≈$0.0034 (+2 n/a)" in str(app.screen.query_one("#total-today").render())
        assert "$12.87" in str(app.screen.query_one("#total-all").render())
        table = app.screen.query_one("#by-model", DataTable)
        first = [str(c) for c in table.get_row(next(iter(table.rows)))]
        assert first[2:5] == ["6.4k", "18.0k", "950"]


async def test_the_rows_holding_an_estimate_are_marked(real_engine: Engine, fake_server: FakeServer) -> None:
    """A turn whose server sent no usage is estimated: the model, day and conversation rows it
    is in carry ≈, as the period cards do; a row of reported turns does not."""
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await _seed(pilot, app, fake_server, 1)  # gpt-4o, with its usage report: $0.0034
        fake_server.script("gpt-4o-mini", Reply(text="a week in the Alps", omit_usage=True))
        await type_and_send(pilot, "@gpt-4o-mini And a week in the Alps?")
        await pilot.press("f5")
        await settle(pilot, app)

        def costs(table_id: str) -> dict[str, str]:
            table = app.screen.query_one(table_id, DataTable)
            return {str(row[0]): str(row[-1]) for row in map(table.get_row, table.rows)}

        by_model = costs("#by-model")
        assert by_model["gpt-4o"] == "$0.0034" and by_model["gpt-4o-mini"].startswith("≈$"), by_model
        [day] = costs("#by-day").values()
        [conversation] = costs("#by-conversation").values()
        assert day.startswith("≈$") and conversation.startswith("≈$"), (day, conversation)
