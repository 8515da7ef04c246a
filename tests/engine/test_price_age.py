"""How old the prices are, and a hint to refresh them once they are old."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from chatroute.catalog.prices import STALE_AFTER_DAYS, load_bundled
from tests.catalog.helpers import make_feed
from tests.engine.helpers import run_cli
from tests.fakeserver import FakeServer

HINT = "run `chatroute prices update`"


def _days_after_bundled(monkeypatch: pytest.MonkeyPatch, days: int) -> str:
    as_of = load_bundled().as_of
    assert as_of is not None
    monkeypatch.setattr("chatroute.catalog.prices.today", lambda: date.fromisoformat(as_of) + timedelta(days=days))
    return as_of


def test_old_prices_are_said_with_what_to_run(configured: FakeServer, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing told the user that the bundled snapshot had grown old: `models` printed its date
    among other lines, `costs` and `route` none at all, and no command said to refresh."""
    as_of = _days_after_bundled(monkeypatch, 200)
    said = f"prices as of {as_of} are 200 days old: {HINT} to refresh them"
    for command in (["models"], ["costs"], ["route", "Explain how a hash map works"], ["prices", "show"]):
        code, out, err = run_cli(capsys, *command)
        assert code == 0, err
        assert said in out, (command, out)


def test_fresh_prices_and_a_recent_refresh_say_nothing(configured: FakeServer, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch, chatroute_home: Path) -> None:
    _days_after_bundled(monkeypatch, STALE_AFTER_DAYS)
    for command in (["models"], ["costs"], ["prices", "show"]):
        assert HINT not in run_cli(capsys, *command)[1], command
    # Old bundled prices, but refreshed yesterday: the refresh is what is in use.
    bundled_as_of = _days_after_bundled(monkeypatch, 400)
    yesterday = (date.fromisoformat(bundled_as_of) + timedelta(days=399)).isoformat()
    doc = {"meta": {"source": "test", "as_of": yesterday}, "models": make_feed(0)}
    del doc["models"]["sample_spec"]
    (chatroute_home / "prices.json").write_text(json.dumps(doc))
    for command in (["models"], ["costs"], ["prices", "show"]):
        code, out, err = run_cli(capsys, *command)
        assert code == 0 and HINT not in out, (command, out)
    assert f"prices: refreshed from test, as of {yesterday}" in run_cli(capsys, "models")[1]


def test_every_command_ages_the_oldest_price_of_the_pool(configured: FakeServer, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch, chatroute_home: Path) -> None:
    """A refresh from yesterday that lacks gpt-4o-mini leaves it on the bundled snapshot's old
    price: `models` listed that date in its column but, ageing only the newest table, said
    nothing, while the TUI's status bar says how old the pool's oldest price is. `costs` and
    `route`, whose figures rest on the same prices, aged the newest table until stop 49."""
    bundled_as_of = _days_after_bundled(monkeypatch, 100)
    yesterday = (date.fromisoformat(bundled_as_of) + timedelta(days=99)).isoformat()
    doc = {"meta": {"source": "test", "as_of": yesterday}, "models": make_feed(0)}
    del doc["models"]["sample_spec"], doc["models"]["gpt-4o-mini"]
    (chatroute_home / "prices.json").write_text(json.dumps(doc))
    for command in (["models"], ["costs"], ["route", "Explain how a hash map works"]):
        code, out, err = run_cli(capsys, *command)
        assert code == 0, err
        assert f"prices as of {bundled_as_of} are 100 days old: {HINT} to refresh them" in out, (command, out)
