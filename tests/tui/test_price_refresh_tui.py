"""The TUI after `chatroute prices update`: which prices' date it names."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from textual.widgets import Static

from chatroute.catalog.prices import load_bundled, update_prices
from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
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
