"""The database holds every conversation: it and its -wal and -shm files are owner-only (0600),
whatever the umask, as health.json already is. The data, config and cache folders are owner-only
(0700) when chatroute creates them; a folder that was there before keeps its mode."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from chatroute.paths import resolve_paths
from chatroute.store import Store
from tests.engine.helpers import OPENAI_KEY, run_cli, write_config
from tests.fakeserver import FakeServer

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")


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


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_folders_chatroute_creates_are_owner_only(open_umask: None, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A first run with CHATROUTE_HOME naming a folder that does not exist yet."""
    home = tmp_path / "new" / "chatroute-home"
    monkeypatch.setenv("CHATROUTE_HOME", str(home))
    code, _, err = run_cli(capsys, "costs")
    assert code == 0, err
    assert (home / "config.toml").exists() and (home / "chatroute.db").exists()  # it did run
    assert _mode(home) == 0o700 and _mode(home / "cache") == 0o700
    assert _mode(home / "config.toml") == 0o600 and _mode(home / "chatroute.db") == 0o600
    assert _mode(tmp_path / "new") == 0o755  # a parent it had to make: default, as mkdir -p


def test_platform_dirs_the_leaf_is_private_the_users_folders_untouched(
        open_umask: None, tmp_path: Path, fake_server: FakeServer, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Without CHATROUTE_HOME: the user made the config folder (and put a config in it), chose
    XDG folders whose parents do not exist yet, and has a readable home folder."""
    xdg = tmp_path / "xdg"
    config_dir = xdg / "config" / "chatroute"
    config_dir.mkdir(parents=True)
    os.chmod(config_dir, 0o755)
    monkeypatch.delenv("CHATROUTE_HOME")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(xdg / "share"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg / "cache"))
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    paths = resolve_paths()
    if not paths.data_dir.is_relative_to(tmp_path) or not paths.config_file.is_relative_to(tmp_path):
        pytest.skip("this platform's user folders do not follow XDG_*")  # never touch the real ones
    write_config(config_dir, fake_server)
    before = _mode(tmp_path)
    code, _, err = run_cli(capsys, "ask", "--no-cache", "-m", "gpt-4o-mini", "hello")
    assert code == 0, err
    assert paths.database.exists()
    assert _mode(paths.data_dir) == 0o700 and _mode(paths.cache_dir) == 0o700
    assert _mode(paths.database) == 0o600
    assert _mode(config_dir) == 0o755  # the user's own folder keeps its mode
    assert _mode(xdg / "share") == 0o755 and _mode(xdg / "cache") == 0o755  # parents: default
    assert _mode(tmp_path) == before
