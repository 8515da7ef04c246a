"""A database file chatroute cannot use.

Each broken file — random bytes, a junk header, a truncated copy, text, a directory, a FIFO,
damaged pages, a read-only file, one from a newer chatroute — gives one line on stderr that
names the file and the fault, exit 2, in `ask`, `costs`, `cache stats` and `cache clear`, and
the file is left exactly as it was. The TUI shows the same in a dialog with the path. A new
database is owner-only from its creation whatever the first command is; a -wal deleted under
an open connection is noticed at the next write.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import stat
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from chatroute.store import Store
from tests.engine.helpers import ask_json, run_cli
from tests.fakeserver import FakeServer, Reply
from tests.hardening.crash_support import REPO, PtyChild, chatroute_argv, wait_until

COMMANDS = (("ask", "-m", "openai/gpt-4o-mini", "hello"), ("costs",), ("cache", "stats"), ("cache", "clear"))


def _good_database(path: Path) -> None:
    """A real chatroute database with some pages of content."""
    store = Store.open(path)
    try:
        conv = store.create_conversation(title="kept")
        parent = None
        for i in range(40):
            msg = store.add_message(conv.id, "user" if i % 2 == 0 else "assistant", f"message {i} " * 60,
                                    parent_id=parent)
            parent = msg.id
    finally:
        store.close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything into the main file: the copies below are whole
    db.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _junk(db: Path) -> None:
    db.write_bytes(os.urandom(8192))


def _junk_header(db: Path) -> None:
    _good_database(db)
    with open(db, "r+b") as fh:
        fh.write(b"JUNKJUNKJUNKJUNK")


def _truncated(db: Path) -> None:
    _good_database(db)
    data = db.read_bytes()
    db.write_bytes(data[:3000])


def _text(db: Path) -> None:
    db.write_text("these are my notes, not a database\n")


def _directory(db: Path) -> None:
    db.mkdir()


def _fifo(db: Path) -> None:
    os.mkfifo(db)


def _damaged_pages(db: Path) -> None:
    _good_database(db)
    data = bytearray(db.read_bytes())
    for i in range(4096, len(data), 7):  # every page but the first (the header stays valid)
        data[i] = 0xAB
    db.write_bytes(bytes(data))


FAULTS: dict[str, tuple[Callable[[Path], None], str]] = {
    "random bytes": (_junk, "is not a SQLite database"),
    "junk header": (_junk_header, "is not a SQLite database"),
    "truncated": (_truncated, "is truncated"),
    "a text file": (_text, "is not a SQLite database"),
    "a directory": (_directory, "is a directory"),
    "a FIFO": (_fifo, "is not a regular file"),
    "damaged pages": (_damaged_pages, "is damaged"),
}


def _fingerprint(path: Path) -> tuple[int, str]:
    st = path.lstat()
    if stat.S_ISREG(st.st_mode):
        return st.st_mode, hashlib.sha256(path.read_bytes()).hexdigest()
    return st.st_mode, ""


def _one_line(err: str, path: Path, says: str) -> None:
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"chatroute: error: {path}: ") and says in lines[0], err


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_broken_database_file_is_one_line_exit_2_and_left_as_it_was(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path, fault: str) -> None:
    make, says = FAULTS[fault]
    db = chatroute_home / "chatroute.db"
    make(db)
    before = _fingerprint(db)
    sent = len(configured.requests)
    for command in COMMANDS:
        code, out, err = run_cli(capsys, *command)
        assert code == 2, (command, out, err)
        _one_line(err, db, says)
        assert _fingerprint(db) == before, command
    assert len(configured.requests) == sent  # nothing was sent to a provider either


def test_a_read_only_database_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    root_run = os.geteuid() == 0
    # Root writes anyway: the commands then run as nobody, who owns the file but may not write
    # it, in a folder another user can reach (pytest's own is private to root).
    base = Path(tempfile.mkdtemp(prefix="chatroute-ro-", dir="/tmp")) if root_run else tmp_path
    try:
        home = base / "home"
        home.mkdir()
        db = home / "chatroute.db"
        _good_database(db)
        db.chmod(0o400)
        env = dict(os.environ, CHATROUTE_HOME=str(home), CHATROUTE_NO_DISCOVERY="1")
        prefix: list[str] = []
        if root_run:
            setpriv = shutil.which("setpriv")
            if setpriv is None:
                pytest.skip("running as root without setpriv")
            base.chmod(0o755)
            os.chown(home, 65534, 65534)
            os.chown(db, 65534, 65534)
            prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
        before = _fingerprint(db)
        for command in (["costs"], ["cache", "stats"], ["cache", "clear"]):
            proc = subprocess.run([*prefix, *chatroute_argv(*command)], env=env, capture_output=True, text=True,
                                  timeout=60, cwd=REPO)
            assert proc.returncode == 2, proc.stderr
            _one_line(proc.stderr, db, "is read-only")
        assert _fingerprint(db) == before
    finally:
        if root_run:
            shutil.rmtree(base, ignore_errors=True)


def test_the_tui_shows_a_broken_database_in_a_dialog_with_its_path(chatroute_home: Path) -> None:
    db = chatroute_home / "chatroute.db"
    _junk_header(db)
    before = _fingerprint(db)
    tui = PtyChild(chatroute_argv(), env=dict(os.environ), cwd=REPO, cols=110, rows=30)
    try:
        # The dialog's frame can arrive in pieces: wait for its last line, not only its title.
        wait_until(lambda: "cannot open its database" in tui.output()
                   and "is not a SQLite database" in tui.output(), 30, "the dialog", alive=tui.exited)
        assert "Traceback" not in tui.output()
        tui.type("\r")
        wait_until(lambda: tui.proc.poll() is not None, 15, "the TUI to exit")
        assert tui.proc.returncode == 2
        # After the screen is restored, the same one line stays in the terminal.
        assert f"chatroute: error: {db}: is not a SQLite database" in tui.output()
    finally:
        tui.close()
    assert _fingerprint(db) == before


async def test_the_failure_dialog_names_the_path_and_quits_with_2() -> None:
    from textual.widgets import Static

    from chatroute.store.dbfile import DatabaseFileError
    from chatroute.tui.failure import database_failure_app

    app = database_failure_app(DatabaseFileError("/data/chatroute.db", "is damaged (database disk image is malformed)"))
    async with app.run_test() as pilot:
        await pilot.pause()
        shown = [str(w.render()) for w in app.screen.query(Static)]
        assert "/data/chatroute.db" in shown and any("is damaged" in s for s in shown)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 2


# ---------------------------------------------------------------------------------------------
# Item 8: a database from a newer chatroute


def test_a_newer_database_is_refused_by_every_command_and_cache_clear_deletes_nothing(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path) -> None:
    code, out = ask_json(capsys, "-m", "openai/gpt-4o-mini", "a question worth caching")
    assert code == 0 and out["status"] == "ok"
    db = chatroute_home / "chatroute.db"
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM cache_entries").fetchone()[0] == 1
        conn.execute("PRAGMA user_version = 99")
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = _fingerprint(db)
    for command in COMMANDS:
        code, _, err = run_cli(capsys, *command)
        assert code == 2, (command, err)
        _one_line(err, db, "newer than this chatroute understands")
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM cache_entries").fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 2
    assert _fingerprint(db) == before


def test_a_newer_database_in_rollback_journal_mode_is_not_switched_to_wal(tmp_path: Path) -> None:
    from chatroute.store.dbfile import DatabaseFileError

    db = tmp_path / "chatroute.db"
    _good_database(db)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode = DELETE")  # as another tool may leave it
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    before = _fingerprint(db)
    with pytest.raises(DatabaseFileError, match="newer than this chatroute"):
        Store.open(db)
    assert _fingerprint(db) == before  # the header's journal-mode bytes included


# ---------------------------------------------------------------------------------------------
# Item 3: owner-only from creation


@pytest.mark.usefixtures("open_umask")
@pytest.mark.parametrize("command", [("cache", "stats"), ("cache", "clear")])
def test_the_database_is_private_when_the_first_command_is_a_cache_command(
        capsys: pytest.CaptureFixture[str], chatroute_home: Path, command: tuple[str, ...]) -> None:
    code, _, err = run_cli(capsys, *command)
    assert code == 0, err
    db = chatroute_home / "chatroute.db"
    made = [p for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists()]
    assert db in made
    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in made} == {p.name: "0o600" for p in made}


# ---------------------------------------------------------------------------------------------
# Item 9: the -wal deleted under an open connection


def test_a_wal_deleted_under_an_open_store_is_noticed_at_the_next_write(tmp_path: Path) -> None:
    from chatroute.store.dbfile import DatabaseFileError

    db = tmp_path / "chatroute.db"
    store = Store.open(db)
    try:
        conv = store.create_conversation(title="before")
        for suffix in ("-wal", "-shm"):
            Path(f"{db}{suffix}").unlink()
        with pytest.raises(DatabaseFileError, match=r"-wal file was deleted while chatroute had it open"):
            store.rename_conversation(conv.id, "after")
    finally:
        store.close()


def test_deleting_the_wal_while_ask_streams_is_reported(configured: FakeServer, chatroute_home: Path) -> None:
    configured.script("gpt-4o-mini", Reply(text="word " * 400, tokens_per_s=100))
    db = chatroute_home / "chatroute.db"
    env = dict(os.environ)
    proc = subprocess.Popen(chatroute_argv("ask", "-m", "openai/gpt-4o-mini", "--no-cache", "stream please"),
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    try:
        wal = Path(f"{db}-wal")
        wait_until(lambda: _streaming(db), 30, "the answer streaming",
                   alive=lambda: None if proc.poll() is None else f"exited {proc.returncode}")
        wal.unlink()
        Path(f"{db}-shm").unlink(missing_ok=True)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = err.decode()
    assert "Traceback" not in text, text
    assert f"{db}: its -wal file was deleted while chatroute had it open" in text, text
    assert proc.returncode == 2


def _streaming(db: Path) -> bool:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            row = conn.execute("SELECT length(content) FROM messages WHERE status = 'streaming'").fetchone()
    except sqlite3.Error:
        return False
    return bool(row and row[0])


def test_a_header_read_mid_checkpoint_is_not_reported_as_truncation(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process's checkpoint writes page 1 (with the new page count) before the pages it
    counts: for a moment the file looks truncated. Only a shortfall that persists is reported."""
    import chatroute.store.dbfile as dbfile

    path = tmp_path / "chatroute.db"
    with Store.open(path) as store:
        for i in range(50):
            store.create_conversation(f"conversation {i} " + "x" * 500)
    whole = path.read_bytes()
    assert len(whole) > 8192
    path.write_bytes(whole[:4096])  # page 1 written, the pages it counts not yet
    finished: list[bool] = []

    def checkpoint_finishes(_seconds: float) -> None:
        if not finished:
            path.write_bytes(whole)
            finished.append(True)

    monkeypatch.setattr(dbfile.time, "sleep", checkpoint_finishes)
    dbfile.check_file(path)  # no error: the second read sees the finished file
    assert finished

    path.write_bytes(whole[:4096])  # still short on every read: a real truncation
    finished.append(True)
    with pytest.raises(dbfile.DatabaseFileError, match="is truncated"):
        dbfile.check_file(path)
