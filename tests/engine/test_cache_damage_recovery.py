"""A long-running process (the TUI, `serve`) that found the answer cache damaged notices when
another terminal's `chatroute cache clear` rebuilds it: its next turn is kept in the cache and
the one after is served from it, and it says once that the cache works again. Before, the
process went on treating the cache as damaged until it restarted. Real engine, store and a
`cache clear` subprocess; the fake provider."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from chatroute.engine import Engine
from chatroute.turn_events import TurnFinished
from tests.engine.test_cache_damage import (
    CACHED,
    _db,
    _drop_a_column,
    _overwrite_the_exact_key_index,
)
from tests.fakeserver import FakeServer
from tests.hardening.crash_support import REPO, chatroute_argv


async def _turn(engine: Engine, prompt: str) -> str:
    """One turn in a new conversation; its cache status ('miss', 'hit', …)."""
    async for event in engine.run_turn(None, prompt):
        if isinstance(event, TurnFinished):
            assert event.record.status == "ok", event.error
            return event.record.cache_status
    raise AssertionError("no TurnFinished")


def _damage_from_another_process(damage: Callable[[Path], None], db: Path) -> None:
    # Not in this process: closing a file of its own on the database (the page overwrite opens it
    # as a plain file) would drop every POSIX lock this process's SQLite connections hold on it.
    code = (f"from pathlib import Path; from tests.engine.test_cache_damage import {damage.__name__} as d; "
            f"d(Path({str(db)!r}))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("damage", [_drop_a_column, _overwrite_the_exact_key_index],
                         ids=["column missing", "index page overwritten"])
def test_a_long_running_engine_uses_the_cache_again_once_another_process_rebuilt_it(
        configured: FakeServer, chatroute_home: Path, damage: Callable[[Path], None]) -> None:
    told: list[str] = []

    async def run() -> list[str]:
        engine = Engine.open()
        engine.on_cache_damaged = told.append
        try:
            statuses = [await _turn(engine, CACHED)]
            _damage_from_another_process(damage, _db(chatroute_home))
            statuses.append(await _turn(engine, CACHED))  # finds the damage
            assert len(told) == 1 and "answer cache is damaged" in told[0], told
            cleared = subprocess.run(chatroute_argv("cache", "clear"), cwd=REPO, capture_output=True, text=True,
                                     timeout=60)
            assert cleared.returncode == 0, cleared.stderr
            statuses.append(await _turn(engine, CACHED))  # kept again
            statuses.append(await _turn(engine, CACHED))  # and served
            _damage_from_another_process(_drop_a_column, _db(chatroute_home))
            await _turn(engine, CACHED)  # a second damage is told too
            return statuses
        finally:
            await engine.aclose()
            engine.store.close()

    sent_before = len(configured.requests)
    statuses = asyncio.run(run())
    assert statuses[0] == "miss" and statuses[2:] == ["miss", "hit"], statuses
    assert len(configured.requests) - sent_before == 4  # the hit never reached a model
    assert len(told) == 3 and "works again" in told[1] and "answer cache is damaged" in told[2], told
