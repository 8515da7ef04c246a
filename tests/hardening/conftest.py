"""Fixtures for every hardening test: `configured` (a config pointing at the fake server) and
`mini_env` (the environment of a chatroute child process whose pool is gpt-4o-mini there)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.engine.helpers import OPENAI_KEY, write_config
from tests.engine.helpers import configured as configured  # the fixture, for every hardening test
from tests.fakeserver import FakeServer


@pytest.fixture
def mini_env(chatroute_home: Path, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """For a `chatroute` started as a process (a pseudo-terminal's, a pipe's): keys set, config
    written, gpt-4o-mini on the fake server the only model to route to."""
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", "sk-ant-test")
    write_config(chatroute_home, fake_server, pool=["openai/gpt-4o-mini"])
    return dict(os.environ)
