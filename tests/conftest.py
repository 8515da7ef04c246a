"""Test isolation: every test gets its own CHATROUTE_HOME and no provider keys from the host."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

_HOST_VARS = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "OPENROUTER_API_KEY",
)


def pytest_configure(config: pytest.Config) -> None:
    """Children get Ctrl+C as in a terminal. A shell without job control starts a background
    command (`pytest &`, nohup) with SIGINT ignored, children inherit that, and Python then
    leaves it ignored: the Ctrl+C tests of chatroute's commands would wait for nothing. A
    handler here (not an ignore) is reset to the default in every child at exec."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def chatroute_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("CHATROUTE_HOME", str(home))
    monkeypatch.setenv("CHATROUTE_NO_DISCOVERY", "1")  # never probe local ports from tests
    monkeypatch.setenv("CHATROUTE_DEBUG", "1")  # a bug raises with its traceback, not one line (cli._internal_error)
    for var in _HOST_VARS:
        monkeypatch.delenv(var, raising=False)
    return home


# The day prices are aged against in tests: a fixed one, so no output changes on the day the
# bundled snapshot (or a test's made-up date) turns old. A test of staleness sets its own.
PRICES_TODAY = date(2026, 12, 5)


@pytest.fixture(autouse=True)
def prices_aged_on_a_fixed_day(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("chatroute.catalog.prices.today", lambda: PRICES_TODAY)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The common default umask (022: new files readable by everyone), so a test of chatroute's
    private files cannot pass thanks to a stricter umask on the machine running it."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


from tests.fakeserver import fake_server  # noqa: E402,F401 - the fixture, for every test folder
