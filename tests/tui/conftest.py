from __future__ import annotations

import pytest

from tests.tui.fake_engine import FakeEngine, FakeStore


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def engine(store: FakeStore) -> FakeEngine:
    return FakeEngine(store)
