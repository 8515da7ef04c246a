"""A running TUI picks up config edits from the palette's "Reload config": a budget removed
from the file stops blocking at once. Real engine and store, the fake provider server."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatroute.tui.app import ChatrouteApp
from chatroute.tui.screens.dialogs import OverBudgetScreen
from tests.engine.helpers import write_config
from tests.fakeserver import FakeServer, Reply
from tests.tui.helpers import run_palette_command, settle, type_and_send
from tests.tui.test_budget_tui import _engine, _spend, _status


async def test_reload_config_lifts_a_removed_budget(chatroute_home: Path, fake_server: FakeServer,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    engine = _engine(chatroute_home, fake_server, monkeypatch, "daily_usd = 0.000001")
    app = ChatrouteApp(engine, close_engine=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await _spend(pilot, fake_server, 1000, 100, "first")
        await settle(pilot, app)
        assert "budget reached" in _status(app)

        write_config(chatroute_home, fake_server)  # the [budget] section removed
        await run_palette_command(pilot, "Reload config")
        await settle(pilot, app)
        assert "budget" not in _status(app)
        assert any("Config reloaded" in str(n.message) for n in app._notifications)
        fake_server.script("gpt-4o-mini", Reply(text="routed freely"))
        await type_and_send(pilot, "Name three rivers in Europe.")
        assert not isinstance(app.screen, OverBudgetScreen)  # no longer asks before spending


async def test_a_broken_edit_is_reported_and_the_old_config_kept(chatroute_home: Path, fake_server: FakeServer,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    engine = _engine(chatroute_home, fake_server, monkeypatch, "")
    app = ChatrouteApp(engine, close_engine=True)
    async with app.run_test(size=(120, 40)) as pilot:
        before = engine.config
        notes: list[str] = []
        original = app.notify
        app.notify = lambda message, **kw: (notes.append(str(message)), original(message, **kw))[1]  # type: ignore[method-assign]
        (chatroute_home / "config.toml").write_text("[router\npool = ", encoding="utf-8")
        assert "Reload config" in [c.title for c in app.get_system_commands(app.screen)]
        app.action_reload_config()
        await settle(pilot, app)
        assert engine.config is before
        assert any("Config not reloaded" in n for n in notes), notes


async def test_reload_while_an_answer_streams_waits_for_it(chatroute_home: Path, fake_server: FakeServer,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The reload closes the providers' clients: during a stream it cut the answer off as a
    failed connection (billed, marked interrupted). It is refused until the answer ends."""
    import threading

    from chatroute.tui.widgets.composer import Composer
    from tests.tui.helpers import assistants, until

    engine = _engine(chatroute_home, fake_server, monkeypatch, "")
    app = ChatrouteApp(engine, close_engine=True)
    words = " ".join(f"word{i}" for i in range(150))
    tried = threading.Event()  # the answer's first word, then the rest once the reload was tried
    fake_server.script("gpt-4o-mini", Reply(text=words, hold=tried, hold_after=1))
    try:
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            app.screen.query_one("#composer", Composer).insert("@gpt-4o-mini tell me a long story")
            await pilot.press("enter")
            await until(pilot, lambda: assistants(app) and assistants(app)[-1].text, "the answer to stream")
            turn = app.chat_screen()._turn
            assert turn is not None and turn.is_running
            app.action_reload_config()
            refused = "Stop the answer first (Esc), then reload the config"
            await until(pilot, lambda: refused in [str(n.message) for n in app._notifications], "the refusal")
            tried.set()
            await settle(pilot, app)
            said = [str(n.message) for n in app._notifications]
            assert "Config reloaded" not in said, said
            answer = assistants(app)[-1]
            assert answer.text == words and answer.record is not None and answer.record.status == "ok"
            app.action_reload_config()  # once the answer is in, it goes through
            await settle(pilot, app)
            assert "Config reloaded" in [str(n.message) for n in app._notifications]
    finally:
        tried.set()
