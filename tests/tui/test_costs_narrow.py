"""The costs screen on a narrow terminal and with wide (CJK) titles: every card's amount whole,
and each table's costs on screen beside what they are the costs of, without scrolling sideways."""

from __future__ import annotations

import pytest
from textual.containers import VerticalScroll
from textual.widgets import DataTable

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from tests.fakeserver import FakeServer, Reply
from tests.tui.helpers import settle, type_and_send

JAPANESE = "東京と大阪と京都と奈良と神戸と横浜と名古屋と札幌と福岡と仙台の観光名所を三つずつ教えてください"
LATIN = "Plan a two-week rail itinerary through Portugal and Spain with night trains"


def screen_lines(app: ChatrouteApp) -> list[str]:
    return [strip.text for strip in app.screen._compositor.render_strips()]


async def _seed(pilot, fake_server: FakeServer) -> None:  # type: ignore[no-untyped-def]
    for prompt in (JAPANESE, LATIN):
        # gpt-4o-mini at $0.15/M in, $0.60/M out: 100 in + 30 out = $0.000033 a turn
        fake_server.script("gpt-4o-mini", Reply(text="answer", input_tokens=100, output_tokens=30))
        await type_and_send(pilot, f"@gpt-4o-mini {prompt}")
        await pilot.press("ctrl+n")
        await settle(pilot, pilot.app)


async def _table_lines(pilot, table_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    app = pilot.app
    app.screen.query_one(VerticalScroll).scroll_to_widget(app.screen.query_one(table_id), animate=False, top=True)
    await pilot.pause()
    return screen_lines(app)


@pytest.mark.parametrize("size", [(40, 12), (60, 20), (80, 24)])
async def test_costs_stay_on_screen_beside_wide_titles_and_narrow_terminals(
        real_engine: Engine, fake_server: FakeServer, size: tuple[int, int]) -> None:
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=size) as pilot:
        await _seed(pilot, fake_server)
        await pilot.press("f5")
        await settle(pilot, app)
        lines = screen_lines(app)
        for key in ("today", "week", "month", "all"):
            box = app.screen.query_one(f"#total-{key}").region
            shown = [line[box.x:box.right] for line in lines[box.y:box.bottom]]
            # the amount whole on one line of the card, and the card on screen
            assert any("$0.000066" in line for line in shown) and box.bottom < len(lines), (key, "\n".join(lines))
        lines = await _table_lines(pilot, "#by-conversation")
        for title in (JAPANESE, LATIN):
            [row] = [line for line in lines if title[:6] in line]
            assert row.rstrip().endswith("$0.000033"), (title, "\n".join(lines))
        lines = await _table_lines(pilot, "#by-model")
        [row] = [line for line in lines if "gpt-4o-mini" in line]
        assert row.rstrip().endswith("$0.000066"), "\n".join(lines)


async def test_the_tables_fit_again_after_the_terminal_narrows(real_engine: Engine, fake_server: FakeServer) -> None:
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await _seed(pilot, fake_server)
        await pilot.press("f5")
        await settle(pilot, app)
        await pilot.resize_terminal(40, 12)
        await settle(pilot, app)
        lines = await _table_lines(pilot, "#by-conversation")
        [row] = [line for line in lines if JAPANESE[:6] in line]
        assert row.rstrip().endswith("$0.000033"), "\n".join(lines)
        assert all("$0.000066" in str(app.screen.query_one(f"#total-{k}").render()) for k in ("today", "all"))
        table = app.screen.query_one("#by-conversation", DataTable)
        assert table.row_count == 2
