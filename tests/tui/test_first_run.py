"""First run with no keys and no config: the TUI says at once what is missing and the exact
next step, lists the local model servers it finds (or says none answered), and shows no
"prices: unknown age" for a pool that does not exist yet."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Static

import chatroute.discovery as discovery
from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from tests.fakeserver import FakeServer
from tests.tui.helpers import recording_notices, settle


async def test_no_keys_says_what_to_set_before_anything_is_sent(chatroute_home: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHATROUTE_NO_DISCOVERY")
    monkeypatch.setattr(discovery, "DEFAULT_PORTS", {"llamacpp": 9})  # a port where nothing listens
    app = ChatrouteApp(Engine.open())
    notes = recording_notices(app)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        missing = [n for n in notes if "OPENAI_API_KEY" in n]
        assert missing and "ANTHROPIC_API_KEY" in missing[0] and str(chatroute_home / "config.toml") in missing[0]
        assert any("No local model server answered" in n and "9 (llamacpp)" in n for n in notes), notes
        status = str(app.screen.query_one("#status", Static).render())
        assert "unknown age" not in status


async def test_no_keys_uses_the_local_server_it_finds(chatroute_home: Path, fake_server: FakeServer,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """No keys and no config, but a local server answers: the first run uses it and says so in
    one line (with where to keep it), instead of telling the user to set a key."""
    monkeypatch.delenv("CHATROUTE_NO_DISCOVERY")
    monkeypatch.setattr(discovery, "DEFAULT_PORTS", {"llamacpp": fake_server.port})
    app = ChatrouteApp(Engine.open())
    notes = recording_notices(app)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        using = [n for n in notes if "using the local server found, llamacpp" in n]
        assert len(using) == 1, notes
        assert str(chatroute_home / "config.toml") in using[0]
        assert not any("OPENAI_API_KEY" in n for n in notes), notes
        assert app.engine.models(), "the local server's models are the pool"


async def test_with_discovery_off_the_first_run_notice_promises_no_search(chatroute_home: Path) -> None:
    """CHATROUTE_NO_DISCOVERY=1 (set for every test): the notice ended "Looking for local model
    servers…" and nothing ever followed it."""
    app = ChatrouteApp(Engine.open())
    notes = recording_notices(app)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
    [missing] = [n for n in notes if "OPENAI_API_KEY" in n]
    assert missing.endswith(".") and "Looking for local model servers" not in missing
