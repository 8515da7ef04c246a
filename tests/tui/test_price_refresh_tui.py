"""The TUI after `chatroute prices update`: which prices' date it names."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from textual.widgets import Static

from chatroute.catalog.prices import load_bundled, update_prices
from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.screens.models import ModelPicker
from tests.catalog.helpers import make_feed, write_json
from tests.fakeserver import FakeServer, Reply
from tests.tui.helpers import settle, type_and_send


async def test_the_costs_screen_dates_the_refreshed_prices(real_engine: Engine, fake_server: FakeServer,
                                                           tmp_path: Path) -> None:
    """After a refresh the costs screen said "prices as of" the bundled snapshot's date, the
    first table in the report's list, while every turn since was priced from the refresh."""
    feed = write_json(tmp_path / "feed.json", make_feed())
    refreshed = update_prices(str(feed), real_engine.paths)
    assert refreshed.as_of != load_bundled().as_of
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=(120, 40)) as pilot:
        fake_server.script("gpt-4o", Reply(text="ok", input_tokens=100, output_tokens=10))
        await type_and_send(pilot, "@gpt-4o a question")
        await pilot.press("f5")
        await settle(pilot, app)
        said = str(app.screen.query_one("#prices-as-of", Static).render())
    assert said == f"prices as of {refreshed.as_of}"


async def test_old_prices_are_said_with_what_to_run(real_engine: Engine, fake_server: FakeServer,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The status bar and the costs screen gave the prices' date and nothing more, however old
    it was: nothing said a refresh was due or how to make one."""
    as_of = load_bundled().as_of
    assert as_of is not None
    monkeypatch.setattr("chatroute.catalog.prices.today", lambda: date.fromisoformat(as_of) + timedelta(days=100))
    said = f"prices as of {as_of} (100 days old: run `chatroute prices update`)"
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot, app)
        assert said in str(app.screen.query_one("#status", Static).render())
        await pilot.press("f5")
        await settle(pilot, app)
        assert str(app.screen.query_one("#prices-as-of", Static).render()) == said


async def test_the_status_bar_names_every_date_the_pool_is_priced_at_and_ages_the_oldest(
        real_engine: Engine, fake_server: FakeServer, chatroute_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A refresh that lacks two of the pool's three models prices gpt-4o at its date and leaves
    the other two at the bundled snapshot's, as `models` lists them. The status bar named the
    most common date, the snapshot's, while a turn on gpt-4o was priced as of the refresh; it
    now names both, oldest first, and says how old the oldest is once that is old."""
    bundled = load_bundled().as_of
    assert bundled is not None
    newer = (date.fromisoformat(bundled) + timedelta(days=11)).isoformat()
    models = make_feed(0)
    for name in ("sample_spec", "gpt-4o-mini", "claude-haiku-4-5"):
        del models[name]
    (chatroute_home / "prices.json").write_text(json.dumps({"meta": {"source": "test", "as_of": newer},
                                                             "models": models}))
    real_engine.catch_up()  # as after `chatroute prices update` in another terminal
    assert {m.id: m.price_as_of for m in real_engine.models()} == {
        "openai/gpt-4o-mini": bundled, "openai/gpt-4o": newer, "anthropic/claude-haiku-4-5": bundled}
    monkeypatch.setattr("chatroute.catalog.prices.today", lambda: date.fromisoformat(bundled) + timedelta(days=30))
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=(160, 40)) as pilot:
        fake_server.script("gpt-4o", Reply(text="ok", input_tokens=100, output_tokens=10))
        await type_and_send(pilot, "@gpt-4o a question")
        status = str(app.screen.query_one("#status", Static).render())
        await pilot.press("ctrl+o")
        await settle(pilot, app)
        assert isinstance(app.screen, ModelPicker)
        picker = str(app.screen.query_one(".as-of", Static).render())
        await pilot.press("escape")
        monkeypatch.setattr("chatroute.catalog.prices.today", lambda: date.fromisoformat(bundled) + timedelta(days=100))
        app.screen.refresh_titles()
        await settle(pilot, app)
        old = str(app.screen.query_one("#status", Static).render())
        await pilot.press("f5")
        await settle(pilot, app)
        costs_screen = str(app.screen.query_one("#prices-as-of", Static).render())
    [turn] = real_engine.store.recent_turns()
    assert (turn.model, turn.price_as_of) == ("openai/gpt-4o", newer)
    assert status.endswith(f"prices as of {bundled} to {newer}"), status
    assert picker == f"prices as of {bundled} to {newer}"
    hint = "(the oldest 100 days old: run `chatroute prices update`)"
    assert old.endswith(f"prices as of {bundled} to {newer} {hint}"), old
    # The costs screen aged the newest table alone, and so said nothing of the old price, until stop 49.
    assert costs_screen == f"prices as of {bundled} to {newer} {hint}", costs_screen
