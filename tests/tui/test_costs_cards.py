"""The costs screen's cards never split a figure across two lines. A card is 15 to 27 cells wide
inside from 40 to 120 columns (four a row from 72 columns, two below; 11 at 30); wrapped, an
amount with its unpriced turns read '≈$1,234.56 (+12' over 'n/a)', and '12,345,678' over 'turns'.
Now each figure is a line of its own when the card is too narrow for two on one, and a shorter
form of it when too narrow for it whole. Read off the screen as drawn, at the sizes a user has."""

from __future__ import annotations

import pytest

from chatroute.tui.app import ChatrouteApp
from chatroute.tui.screens.costs import short_usd
from tests.tui.fake_engine import FakeEngine, sample_cost_report
from tests.tui.helpers import settle

# key: the figures a card shows, each as one of the forms it may take (whole first, then short)
FIGURES = {
    "today": [("$0.000042",), ("1 turn",)],
    "week": [("≈$1,234.56", "≈$1.2k"), ("(+12 n/a)", "+12 n/a"), ("12,345 turns", "12.3k turns")],
    "month": [("$12,345.67", "$12.3k"), ("(+3 n/a)",), ("1,234,567 turns", "1.2M turns")],
    "all": [("≈$1,234,567.89", "≈$1.2M"), ("(+1234 n/a)",), ("12,345,678 turns", "12.3M turns")],
}


def _report() -> dict[str, object]:
    report = sample_cost_report()
    report["totals"] = {"today": 0.000042, "week": 1234.56, "month": 12345.67, "all": 1234567.89}
    report["markers"] = {"week": {"estimated_turns": 3, "unknown_cost_turns": 12},
                         "month": {"unknown_cost_turns": 3},
                         "all": {"estimated_turns": 1, "unknown_cost_turns": 1234}}
    report["turns"] = {"today": 1, "week": 12345, "month": 1234567, "all": 12345678}
    return report


@pytest.mark.parametrize("size", [(30, 20), (40, 20), (60, 20), (72, 24), (80, 24), (100, 30), (120, 40)])
async def test_no_figure_on_a_card_is_split_across_lines(engine: FakeEngine, size: tuple[int, int]) -> None:
    engine._cost_report = _report()
    app = ChatrouteApp(engine)
    async with app.run_test(size=size) as pilot:
        await pilot.press("f5")
        await settle(pilot, app)
        lines = [strip.text for strip in app.screen._compositor.render_strips()]
        widths = set()
        for key, figures in FIGURES.items():
            card = app.screen.query_one(f"#total-{key}")
            box = card.region
            widths.add(card.content_region.width)
            shown = [line[box.x:box.right] for line in lines[box.y:box.bottom]]
            assert box.bottom < len(lines), (key, "\n".join(lines))  # the card whole on screen
            for forms in figures:
                assert any(form in line for line in shown for form in forms), (key, forms, "\n".join(shown))
        # where there is room, the whole forms: a short one only when the card is too narrow
        if min(widths) >= 16:
            for key, figures in FIGURES.items():
                text = str(app.screen.query_one(f"#total-{key}").render())
                assert all(forms[0] in text for forms in figures[:2]), (key, text)


def test_the_short_amount() -> None:
    assert short_usd(999.99, estimated=False) == "$999.99"
    assert short_usd(12345.67, estimated=False) == "$12.3k"
    assert short_usd(1234567.89, estimated=True) == "≈$1.2M"
    assert short_usd(-2.5e9, estimated=False) == "-$2.5B"
    assert short_usd(None, estimated=True) == "n/a"


async def test_the_cards_are_laid_out_again_when_the_terminal_narrows(engine: FakeEngine) -> None:
    engine._cost_report = _report()
    app = ChatrouteApp(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f5")
        await settle(pilot, app)
        assert "≈$1,234.56 (+12 n/a)" in str(app.screen.query_one("#total-week").render())
        await pilot.resize_terminal(40, 20)
        await settle(pilot, app)
        lines = [strip.text for strip in app.screen._compositor.render_strips()]
        box = app.screen.query_one("#total-week").region
        shown = [line[box.x:box.right].strip("│ ") for line in lines[box.y:box.bottom]]
        assert shown[1:5] == ["this week", "≈$1,234.56", "(+12 n/a)", "12,345 turns"], shown
