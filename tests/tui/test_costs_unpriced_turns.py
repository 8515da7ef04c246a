"""The costs screen's (F5) baseline sentence says what the verdict of `chatroute costs` says: that
a turn with no known price is in neither the baseline nor the saving, and that with no turn
there is nothing to compare. Real engine and store, official SDKs, the fake provider."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import Static

from chatroute.cli import main
from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.screens.costs import CostsScreen
from tests.engine.helpers import OPENAI_KEY, write_config
from tests.fakeserver import FakeServer, Reply
from tests.tui.helpers import settle, type_and_send

UNPRICED = '[models."anthropic/mystery-1"]\ncontext_window = 128000\nmax_output_tokens = 4096\n'


async def test_the_costs_screen_says_a_turn_with_no_known_price_is_left_out_of_the_baseline(
        chatroute_home: Path, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Its card read '$0.00021 (+1 n/a)' and its baseline sentence 'Always using gpt-4o would have
    cost $0.0035; …' as if that covered both turns; `chatroute costs` said '1 turn with no known
    price is left out of both figures.'"""
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", "sk-ant-test")
    write_config(chatroute_home, fake_server, extra=UNPRICED)
    fake_server.script("mystery-1", Reply(text="Unpriced.", input_tokens=1000, output_tokens=100))
    fake_server.script("gpt-4o-mini", Reply(text="Priced.", input_tokens=1000, output_tokens=100))
    app = ChatrouteApp(Engine.open(), close_engine=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await type_and_send(pilot, "@anthropic/mystery-1 Say one thing")
        await type_and_send(pilot, "@gpt-4o-mini Say another")
        await pilot.press("f5")
        await settle(pilot, app)
        assert isinstance(app.screen, CostsScreen)
        assert "(+1 n/a)" in str(app.screen.query_one("#total-all", Static).render())
        sentence = str(app.screen.query_one("#baseline", Static).render())
    assert sentence.endswith(" 1 turn with no known price is left out of both figures."), sentence
    assert main(["costs", "--format", "json"]) == 0
    verdict = json.loads(capsys.readouterr().out)["verdict"]
    assert verdict.endswith(" 1 turn with no known price is left out of both figures."), verdict


async def test_with_no_turn_the_costs_screen_says_so_as_the_cli_does(
        real_engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    """Before any turn, F5 read 'Always using gpt-4o would have cost $0.00; routing saved $0.00, the
    cache saved $0.00.' where `chatroute costs` says 'No turns yet.'"""
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f5")
        await settle(pilot, app)
        assert isinstance(app.screen, CostsScreen)
        sentence = str(app.screen.query_one("#baseline", Static).render())
    assert main(["costs", "--format", "json"]) == 0
    assert sentence == json.loads(capsys.readouterr().out)["verdict"] == "No turns yet."
