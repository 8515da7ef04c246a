"""A file chatroute owns that cannot be written (a full disk, a read-only folder) is one line
naming the file, exit 2, and the old file is left whole with no temporary beside it. The same
for the database when a full disk stops it at open (a migration, the -shm SQLite maps).

The full disk is the real errno: the temporary file's descriptor is /dev/full, so every write
to it fails with ENOSPC as on a full disk, while the database (on the same folder) still works.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chatroute import fsutil
from chatroute.fsutil import atomic_write
from chatroute.store import Store, TurnRecord
from tests.catalog.helpers import make_feed
from tests.engine.helpers import ANTHROPIC_KEY, OPENAI_KEY, run_cli, run_subprocess, write_config
from tests.fakeserver import FakeServer
from tests.hardening.crash_support import REPO, chatroute_argv
from tests.hardening.tmpfs import small_disk

KEYS = {"TEST_OPENAI_KEY": OPENAI_KEY, "TEST_ANTHROPIC_KEY": ANTHROPIC_KEY}


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every atomic_write's temporary file is full from its first byte."""
    real = fsutil._create_temp

    def create_temp(path: Path) -> tuple[int, str]:
        fd, tmp = real(path)
        full = os.open("/dev/full", os.O_WRONLY)
        os.dup2(full, fd)
        os.close(full)
        return fd, tmp

    monkeypatch.setattr(fsutil, "_create_temp", create_temp)


def _one_line(err: str, path: Path, says: str) -> None:
    said = [line for line in err.splitlines() if line.startswith("chatroute:")]
    assert len(said) == 1 and said[0].startswith("chatroute: error: ") and "Traceback" not in err, err
    assert f"{path}: could not be written" in err and says in err, err
    assert ".tmp" not in err  # the hidden temporary file is not what the user has to know about


def _no_temporary(folder: Path) -> None:
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def _feed(tmp_path: Path, gpt4o_input: float) -> Path:
    feed = make_feed()
    feed["gpt-4o"]["input_cost_per_token"] = gpt4o_input
    path = tmp_path / f"feed-{gpt4o_input}.json"
    path.write_text(json.dumps(feed))
    return path


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_prices_update_on_a_full_disk_keeps_the_old_table(capsys: pytest.CaptureFixture[str], chatroute_home: Path,
                                                          tmp_path: Path, request: pytest.FixtureRequest) -> None:
    code, _, err = run_cli(capsys, "prices", "update", "--from", str(_feed(tmp_path, 2.5e-6)))
    assert code == 0, err
    prices = chatroute_home / "prices.json"
    before = prices.read_bytes()
    request.getfixturevalue("full_disk")
    code, _, err = run_cli(capsys, "prices", "update", "--from", str(_feed(tmp_path, 3e-6)))
    assert code == 2, err
    _one_line(err, chatroute_home / "prices.json.bak", "No space left on device")
    assert prices.read_bytes() == before
    _no_temporary(chatroute_home)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("args", [["serve", "--rotate-token"], ["serve", "--client-token", "editor"],
                                  ["serve", "--port", "0"]], ids=["rotate", "client-token", "start"])
def test_serve_tokens_on_a_full_disk(capsys: pytest.CaptureFixture[str], chatroute_home: Path, full_disk: None,
                                     args: list[str]) -> None:
    tokens = chatroute_home / "serve-tokens.json"
    code, out, err = run_cli(capsys, *args)
    assert code == 2, err
    assert "crt-" not in out  # no token is shown that was never kept
    _one_line(err, tokens, "(No space left on device); nothing was written")
    assert not tokens.exists()
    _no_temporary(chatroute_home)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_prefs_reset_on_a_full_disk(capsys: pytest.CaptureFixture[str], chatroute_home: Path,
                                    full_disk: None) -> None:
    code, out, err = run_cli(capsys, "prefs", "reset")
    assert code == 2 and out == "", err
    _one_line(err, chatroute_home / "preferences-reset-at", "No space left on device")


def test_a_folder_chatroute_may_not_write_in_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As in a read-only CHATROUTE_HOME (root writes anyway, so the refusal is the kernel's errno
    given at the temporary file's creation)."""
    from chatroute.fsutil import WriteFailedError

    target = tmp_path / "prices.json"
    target.write_text("{}")

    def refuse(path: Path) -> tuple[int, str]:
        raise PermissionError(errno.EACCES, "Permission denied", str(path.parent / f".{path.name}.abc.tmp"))

    monkeypatch.setattr(fsutil, "_create_temp", refuse)
    with pytest.raises(WriteFailedError) as failed:
        atomic_write(target, '{"a": 1}')
    assert str(failed.value) == (f"{target}: could not be written ({tmp_path} is not writable: Permission denied); "
                                 "the file is as it was")
    assert isinstance(failed.value, OSError) and failed.value.errno == errno.EACCES  # best-effort writers go on
    assert failed.value.exit_code == 2
    assert target.read_text() == "{}"


# -- the database on a full disk, before any answer: a migration, the -shm it must size ----------


def _old_database(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, int]:
    """A database of schema 3 holding 300 turns and their messages; (messages, summed input)."""
    import chatroute.store.db as db

    with monkeypatch.context() as m:
        m.setattr(db, "SCHEMA_VERSION", 3)
        m.setattr(db, "MIGRATIONS", db.MIGRATIONS[:3])
        with Store.open(path) as old:
            conv = old.create_conversation("kept through the upgrade")
            parent = None
            for i in range(300):
                msg = old.add_message(conv.id, "user" if i % 2 == 0 else "assistant", f"message {i} " * 40,
                                      parent_id=parent)
                parent = msg.id
                row = TurnRecord(conversation_id=conv.id, message_id=msg.id, model="anthropic/claude-haiku-4-5",
                                 provider="anthropic", input_tokens=1000, cached_tokens=100, output_tokens=50,
                                 cost_usd=0.001).to_row()
                row.pop("client")  # a column of schema 5
                row.pop("price_source")  # and of schema 9
                sql = f"INSERT INTO turns ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})"
                old._write(lambda c, sql=sql, row=row: c.execute(sql, tuple(row.values())))
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # all in the main file: the -wal starts empty
    return _contents(path)[1:]  # type: ignore[return-value]


def _contents(path: Path) -> tuple[int, int, int]:
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return (int(conn.execute("PRAGMA user_version").fetchone()[0]),
                int(conn.execute("SELECT count(*) FROM messages").fetchone()[0]),
                int(conn.execute("SELECT sum(input_tokens) FROM turns").fetchone()[0]))


def test_a_migration_on_a_full_disk_is_one_line_and_leaves_the_old_file(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import chatroute.store.db as db

    path = chatroute_home / "chatroute.db"
    before = _old_database(path, monkeypatch)
    real = db.MIGRATIONS[3]

    def runs_out_of_space(database: Any) -> None:  # half-way through: the migration has written
        real(database)
        raise sqlite3.OperationalError("database or disk is full")

    with monkeypatch.context() as m:
        m.setattr(db, "MIGRATIONS", [*db.MIGRATIONS[:3], runs_out_of_space, *db.MIGRATIONS[4:]])
        for command in (["costs"], ["ask", "-m", "openai/gpt-4o-mini", "hello"]):
            code, out, err = run_cli(capsys, *command)
            assert code == 2, err
            assert err.startswith(f"chatroute: error: {path}: ") and err.count("\n") == 1, err
            assert "disk is full" in err and "free some space" in err, err
    assert _contents(path) == (3, *before)  # not a byte of the migration kept, nothing lost
    assert not configured.requests
    code, _, err = run_cli(capsys, "costs")  # with room again: migrated once, restated once
    assert code == 0, err
    assert _contents(path) == (db.SCHEMA_VERSION, before[0], 300 * 1100)


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    with small_disk(tmp_path / "small-disk", "16m") as where:
        yield where


def _fill(folder: Path, leave: int) -> None:
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError:
        pass
    finally:
        os.close(fd)
    os.truncate(filler, max(0, filler.stat().st_size - leave))


@pytest.mark.parametrize("leave", [0, 200_000], ids=["no-room-at-all", "no-room-for-the-migration"])
def test_a_real_full_disk_at_open_is_said_as_such(tiny_tmpfs: Path, fake_server: FakeServer, leave: int,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """With no byte free, SQLite cannot size the -shm it maps and says 'disk I/O error'; with a
    little, the migration's -wal runs out ('database or disk is full'). Both are a full disk."""
    home = tiny_tmpfs / "home"
    monkeypatch.setenv("CHATROUTE_HOME", str(home))
    home.mkdir()
    write_config(home, fake_server)
    path = home / "chatroute.db"
    before = _old_database(path, monkeypatch)
    _fill(tiny_tmpfs, leave)
    for command in (["costs"], ["ask", "-m", "openai/gpt-4o-mini", "hello"]):
        child = run_subprocess(*command, env={**KEYS, "CHATROUTE_DEBUG": ""})
        err = child.stderr.decode()
        assert child.returncode == 2, err
        assert err.startswith(f"chatroute: error: {path}: ") and err.count("\n") == 1, err
        assert "disk is full" in err, err
    assert _contents(path) == (3, *before)
    (tiny_tmpfs / "filler").unlink()
    assert run_subprocess("costs", env=KEYS).returncode == 0
    assert _contents(path)[0] > 3


# -- the serve tokens' lock file -------------------------------------------------------------


def _as_other_user(home: Path) -> list[str]:
    """The command prefix that runs a command as a user who owns `home` but, once it is 0555, may
    not write in it: root writes anyway, so root runs it as nobody."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv")
    for p in [home, *home.rglob("*")]:
        os.chown(p, 65534, 65534)
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.mark.parametrize("args", [["serve", "--rotate-token"], ["serve", "--port", "0"]], ids=["rotate", "start"])
def test_serve_in_a_read_only_home_says_which_file(args: list[str]) -> None:
    base = Path(tempfile.mkdtemp(prefix="chatroute-ro-", dir="/tmp"))  # reachable by nobody
    try:
        base.chmod(0o755)
        home = base / "home"
        (home / "cache").mkdir(parents=True)
        prefix = _as_other_user(home)
        home.chmod(0o555)
        env = dict(os.environ, CHATROUTE_HOME=str(home), CHATROUTE_NO_DISCOVERY="1", CHATROUTE_DEBUG="")
        child = subprocess.run([*prefix, *chatroute_argv(*args)], env=env, capture_output=True, text=True,
                               timeout=60, cwd=REPO)
        assert child.returncode == 2, child.stderr
        _one_line(child.stderr, home / "serve-tokens.json", f"({home} is not writable: Permission denied)")
        assert sorted(p.name for p in home.iterdir()) == ["cache"]
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_a_link_at_the_serve_tokens_lock_is_refused(capsys: pytest.CaptureFixture[str], chatroute_home: Path,
                                                    tmp_path: Path, open_umask: None) -> None:
    outside = tmp_path / "precious.txt"
    outside.write_text("the user's own file\n")
    lock = chatroute_home / "serve-tokens.json.lock"
    lock.symlink_to(outside)
    code, out, err = run_cli(capsys, "serve", "--rotate-token")
    assert code == 2 and "crt-" not in out, err
    assert err.startswith(f"chatroute: error: {lock}: ") and "symbolic link" in err and err.count("\n") == 1, err
    assert outside.read_text() == "the user's own file\n" and lock.is_symlink()
    lock.unlink()
    code, out, err = run_cli(capsys, "serve", "--rotate-token")  # a lock of its own: owner-only like its tokens
    assert code == 0, err
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600


# -- temporaries left by a process killed mid-write --------------------------------------------


def test_a_temporary_left_by_a_killed_write_is_swept_by_the_next_write(chatroute_home: Path, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """SIGTERM, SIGHUP or kill -9 between a write's temporary and its rename (a 250 kB price
    table, a serve token) left the hidden temporary for good. The next write of the same file
    removes those over an hour old; a younger one may be another process's write in progress."""
    stale = chatroute_home / ".prices.json.0123456789ab.tmp"
    stale.write_text("half a price table")
    os.utime(stale, (os.path.getmtime(stale) - 2 * 3600,) * 2)
    fresh = chatroute_home / ".prices.json.ba9876543210.tmp"
    fresh.write_text("another process's write, under way")
    unrelated = chatroute_home / ".health.json.0123456789ab.tmp"
    unrelated.write_text("{}")
    os.utime(unrelated, (os.path.getmtime(unrelated) - 2 * 3600,) * 2)
    code, _, err = run_cli(capsys, "prices", "update", "--from", str(_feed(tmp_path, 2.5e-6)))
    assert code == 0, err
    assert not stale.exists()
    assert fresh.exists() and unrelated.exists()  # swept by the writes of their own files


@pytest.mark.parametrize("leave", [40_000, 100_000])
def test_cache_clear_on_a_real_full_disk_says_the_disk_is_full(tiny_tmpfs: Path, fake_server: FakeServer,
                                                                leave: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache's rebuild rolled back after its COMMIT failed; SQLite had rolled the transaction
    back already for the full disk, so the ROLLBACK raised 'cannot rollback - no transaction is
    active', which hid the full disk: an internal error, exit 70 (with room for its -shm and a
    few pages of -wal, not for the rebuild's)."""
    home = tiny_tmpfs / "home"
    monkeypatch.setenv("CHATROUTE_HOME", str(home))
    home.mkdir()
    write_config(home, fake_server)
    assert run_subprocess("costs", env=KEYS).returncode == 0  # the database, made
    path = home / "chatroute.db"
    _fill(tiny_tmpfs, leave)
    child = run_subprocess("cache", "clear", env={**KEYS, "CHATROUTE_DEBUG": ""})
    err = child.stderr.decode()
    assert child.returncode == 2, err
    assert err.startswith(f"chatroute: error: {path}: cannot be written: the disk is full"), err
    assert err.count("\n") == 1, err
    models = run_subprocess("models", env={**KEYS, "CHATROUTE_DEBUG": ""})
    assert models.returncode == 0 and "internal error" not in models.stderr.decode(), models.stderr.decode()
    (tiny_tmpfs / "filler").unlink()
    assert run_subprocess("cache", "clear", env=KEYS).returncode == 0
