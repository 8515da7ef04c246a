"""Config and catalogue warnings reach the TUI user as notifications, not as stderr lines the
full-screen app would wipe at once. The CLI commands keep printing them."""

from __future__ import annotations

import asyncio
import io
import sys
from pathlib import Path
from typing import Any

import pytest
from textual.widgets._toast import Toast

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from tests.engine.helpers import OPENAI_KEY, run_cli
from tests.fakeserver import FakeServer

PLAIN_HTTP = "neither https nor local; the API key would be sent unencrypted"
NO_SUCH_MODEL = "router.pool: unknown model 'gpt-nosuch-9'"


def _config(home: Path, server: FakeServer) -> None:
    # A key bound for a plain-http host (a config warning) and a pool entry naming no model (a
    # catalogue warning). Nothing is sent: the test never starts a turn.
    (home / "config.toml").write_text(f"""
[providers.openai]
kind = "openai"
base_url = "{server.openai_base_url}"
api_key_env = "TEST_OPENAI_KEY"

[providers.remote]
kind = "openai"
base_url = "http://example.invalid:9/v1"
api_key_env = "TEST_OPENAI_KEY"

[router]
pool = ["openai/gpt-4o-mini", "gpt-nosuch-9"]
default = "openai/gpt-4o-mini"
""", encoding="utf-8")


def test_warnings_are_notifications_in_the_tui_and_stderr_lines_in_the_cli(
        capsys: pytest.CaptureFixture[str], chatroute_home: Path, fake_server: FakeServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    _config(chatroute_home, fake_server)
    shown: list[Any] = []
    toasts: list[str] = []

    async def drive(engine: Engine) -> None:
        app = ChatrouteApp(engine)
        async with app.run_test(size=(160, 50), notifications=True) as pilot:
            await pilot.pause()
            shown.extend(app._notifications)
            toasts.extend(" ".join(str(toast.render()).split()) for toast in app.screen.query(Toast))
        await engine.aclose()

    # `chatroute` itself, with only the terminal part swapped for a headless Pilot (and standard
    # input taken for the terminal it would be: the TUI refuses to start from a pipe).
    monkeypatch.setattr("chatroute.tui.app.run_tui", lambda engine: asyncio.run(drive(engine)) or 0)
    monkeypatch.setattr("sys.stdin", io.StringIO())
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    code, out, err = run_cli(capsys)
    assert code == 0 and err == "" and out == ""
    warnings = [n for n in shown if n.severity == "warning"]
    messages = [str(n.message) for n in warnings]
    assert any(PLAIN_HTTP in m and "providers.remote" in m for m in messages), messages
    assert any(m.startswith(NO_SUCH_MODEL) for m in messages), messages
    assert all(n.timeout >= 20 for n in warnings)
    assert len(messages) == len(set(messages))  # each once
    assert any(PLAIN_HTTP in t for t in toasts) and any(NO_SUCH_MODEL in t for t in toasts), toasts  # on screen

    # A CLI command prints the config warning on stderr instead.
    code, out, err = run_cli(capsys, "route", "hello")
    assert code == 0 and out
    assert f"chatroute: warning: providers.remote: base_url http://example.invalid:9 is {PLAIN_HTTP}" in err
