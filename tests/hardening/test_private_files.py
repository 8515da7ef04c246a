"""The database holds every conversation: it and its -wal and -shm files are owner-only (0600),
whatever the umask, as health.json already is."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatroute.store import Store
from tests.engine.helpers import configured, run_cli  # noqa: F401 - the fixture
from tests.fakeserver import FakeServer

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0o022)  # the common default: new files readable by everyone
    try:
        yield
    finally:
        os.umask(old)


def _modes(db: Path) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode)
            for p in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")) if p.exists()}


def test_chatroute_ask_creates_the_database_owner_only(open_umask: None, configured: FakeServer,
                                                       chatroute_home: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "ask", "--no-cache", "-m", "gpt-4o-mini", "hello")
    assert code == 0, err
    db = chatroute_home / "chatroute.db"
    with Store.open(db):  # while open, the -wal and -shm files exist
        modes = _modes(db)
    assert set(modes) == {"chatroute.db", "chatroute.db-wal", "chatroute.db-shm"}
    assert modes == dict.fromkeys(modes, 0o600)


def test_a_readable_database_from_before_is_tightened(open_umask: None, tmp_path: Path) -> None:
    db = tmp_path / "chatroute.db"
    with Store.open(db) as store:
        store.create_conversation("secret")
    os.chmod(db, 0o644)
    with Store.open(db):
        modes = _modes(db)
    assert modes == dict.fromkeys(modes, 0o600) and "chatroute.db-wal" in modes
