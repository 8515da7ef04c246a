"""Money is written one way: the TUI's budget warning names a spend exactly as `chatroute costs`
does (it once rounded $0.047 to $0.05 while the CLI said $0.047)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatroute.tui.app import ChatrouteApp
from tests.engine.helpers import run_cli
from tests.fakeserver import FakeServer
from tests.tui.helpers import settle
from tests.tui.test_budget_tui import SIZE, _engine, _mini_cost, _notes, _spend

# About $0.047 on gpt-4o-mini: a figure whose third decimal a two-decimal format would drop.
TOKENS_IN, TOKENS_OUT = 300_000, 3_333


async def test_the_budget_warning_and_chatroute_costs_write_the_spend_alike(
        chatroute_home: Path, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    cost = _mini_cost(chatroute_home, fake_server, monkeypatch, TOKENS_IN, TOKENS_OUT)
    assert 0.0465 < cost < 0.0475
    engine = _engine(chatroute_home, fake_server, monkeypatch, f"daily_usd = {cost / 0.9:.10f}")
    app = ChatrouteApp(engine, close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        await _spend(pilot, fake_server, TOKENS_IN, TOKENS_OUT, "a long paste")
        await settle(pilot, app)
        [warning] = [n for n in _notes(app) if n.startswith("budget at 80%")]
    assert "$0.047 of $0.052 today" in warning

    code, out, err = run_cli(capsys, "costs")
    assert code == 0, err
    assert "$0.047" in out and "$0.05 " not in out
