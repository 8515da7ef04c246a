"""The why panel shows the adjustment learned from the user's choices in its own column and in
the reason, over the real engine: an @model override typed in the TUI teaches the
router, and the next routed turn's panel shows what that did."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from chatroute.engine import Engine
from chatroute.routing.preferences import MAX_BIAS, PRIOR_COUNT
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.widgets.badge import WhyPanel
from tests.engine.helpers import OPENAI_KEY, POOL, write_config
from tests.fakeserver import FakeServer
from tests.tui.helpers import assistants, settle, type_and_send

SIZE = (140, 40)
HAIKU = "anthropic/claude-haiku-4-5"


@pytest.fixture
def weak_engine(chatroute_home: Path, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", "sk-ant-test")
    # Abilities the user set low: every model is predicted to fail a proof often, so what the
    # user taught the router applies in full; latency out, since the fake server's timings are not real.
    weak = "".join(f'\n[models."{m}"]\nability = 0.05\n' for m in POOL)
    write_config(chatroute_home, fake_server, extra="latency_weight = 0.0\n" + weak)
    return Engine.open()


def _why_text(msg: object) -> str:
    console = Console(width=SIZE[0], record=True)
    console.print(msg.query_one(WhyPanel).content)  # type: ignore[attr-defined]
    return console.export_text()


async def test_why_panel_shows_the_learned_adjustment(weak_engine: Engine) -> None:
    app = ChatrouteApp(weak_engine)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, f"@{HAIKU} Prove that the square root of 2 is irrational.")
        await type_and_send(pilot, "Prove that there are infinitely many primes.")
        await settle(pilot, app)
        answer = assistants(app)[-1]
        answer.focus()
        await pilot.press("w")
        await pilot.pause()
        why = _why_text(answer)
    [conv] = weak_engine.store.list_conversations()
    route = weak_engine.store.turns(conv.id)[-1].route
    cands = {c["model"]: c for c in route["candidates"]}
    step = MAX_BIAS / (1 + PRIOR_COUNT)
    assert cands[HAIKU]["adjustment"] == pytest.approx(step, abs=1e-4)
    header = next(line for line in why.splitlines() if line.lstrip().startswith("model"))
    assert "your adj." in header and "quality" in header
    haiku_row = next(line for line in why.splitlines() if line.lstrip().startswith("claude-haiku-4-5 "))
    assert f"{step:+.3f}" in haiku_row
    rejected = next(m for m, c in cands.items() if c["adjustment"] < 0)
    rejected_row = next(line for line in why.splitlines() if line.lstrip().startswith(rejected.split("/")[1] + " "))
    assert f"{-step:+.3f}" in rejected_row
    # The reason names the adjustment of the model it picked.
    picked = cands[route["model"]]
    assert f"adjustment {picked['adjustment']:+.3f}" in " ".join(why.split())
    await weak_engine.aclose()


async def test_why_panel_says_when_an_ability_is_a_guess(chatroute_home: Path, fake_server: FakeServer,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", "sk-ant-test")
    # The fake server is on 127.0.0.1: a name the price feed does not know is a free local model.
    write_config(chatroute_home, fake_server, pool=["openai/gpt-4o-mini", "openai/gpt-4o", "openai/mystery-model"],
                 extra="latency_weight = 0.0")
    engine = Engine.open()
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "Prove that there are infinitely many primes.")
        await settle(pilot, app)
        answer = assistants(app)[-1]
        answer.focus()
        await pilot.press("w")
        await pilot.pause()
        why = _why_text(answer)
    row = next(line for line in why.splitlines() if line.lstrip().startswith("mystery-model "))
    assert "ability unknown: prior 0.30" in row and "◀ chosen" not in row
    assert "$0" in row  # free, and still not chosen for a proof
    await engine.aclose()
