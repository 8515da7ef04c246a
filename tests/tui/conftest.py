from __future__ import annotations

from pathlib import Path

import pytest

from chatroute.engine import Engine
from tests.engine.helpers import OPENAI_KEY, write_config
from tests.fakeserver import FakeServer
from tests.tui.fake_engine import FakeEngine, FakeStore


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def engine(store: FakeStore) -> FakeEngine:
    return FakeEngine(store)


@pytest.fixture
def real_engine(chatroute_home: Path, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", "sk-ant-test")
    write_config(chatroute_home, fake_server)
    return Engine.open()
