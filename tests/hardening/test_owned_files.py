"""Every file chatroute writes in its folders goes through fsutil.atomic_write, which never
follows or replaces a symbolic link planted at the destination, keeps secrets 0600 from the
first byte, and leaves the old file whole when a write fails half-way.

Each writer is driven the way chatroute drives it (the serve token and state files, the
health board, learned preferences, local model sizes, `prefs reset` and `prices update`
through the real command); a link to a file outside the folder is planted at its destination.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from chatroute import fsutil
from chatroute.catalog.local_meta import local_sizes
from chatroute.fsutil import UnsafeFileError, atomic_write
from chatroute.paths import resolve_paths
from chatroute.routing.health import HealthBoard
from chatroute.routing.preferences import FILE_NAME as PREFS_FILE
from chatroute.routing.preferences import PreferenceModel
from chatroute.serve.state import LiveState
from chatroute.serve.tokens import Tokens, ensure_tokens, save_tokens, token_path
from tests.catalog.helpers import make_feed
from tests.engine.helpers import run_cli, run_subprocess
from tests.fakeserver import FakeServer

OUTSIDE = "the user's own file, outside chatroute's folder\n"


def _tokens(home: Path) -> None:
    save_tokens(home, Tokens("t" * 32))


def _state(home: Path) -> None:
    LiveState(home, "http://127.0.0.1:1").start()  # informative only: a refusal is not fatal


def _health(home: Path) -> None:
    board = HealthBoard.load(home / "health.json")
    board.record_failure("openai/gpt-4o-mini", "timeout")
    board.save()


def _preferences(home: Path) -> None:
    PreferenceModel(path=home / PREFS_FILE).save()


def _local_sizes(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import chatroute.discovery as discovery

    monkeypatch.setattr(discovery, "discovery_disabled", lambda: False)
    monkeypatch.setattr(discovery, "fetch_model_sizes", lambda base, names: {n: 1.5 for n in names})
    local_sizes({"http://127.0.0.1:11434": ["m"]}, home / "local_models.json", probe=True)


# name -> (file, writer, whether the refusal reaches the caller: the serve state and the local
# sizes are informative caches whose writers go on without them)
WRITERS: dict[str, tuple[str, Callable[..., None], bool]] = {
    "serve tokens": ("serve-tokens.json", _tokens, True),
    "serve state": ("serve-state.json", _state, False),
    "health board": ("health.json", _health, True),
    "preferences": (PREFS_FILE, _preferences, True),
    "local model sizes": ("local_models.json", _local_sizes, False),
}


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    target = tmp_path / "elsewhere" / "precious.txt"
    target.parent.mkdir()
    target.write_text(OUTSIDE)
    return target


def _assert_untouched(link: Path, target: Path) -> None:
    assert target.read_text() == OUTSIDE  # never written through
    assert link.is_symlink() and os.readlink(link) == str(target)  # never silently replaced either
    assert not [p for p in link.parent.iterdir() if p.name.endswith(".tmp")]  # no temporary left behind


@pytest.mark.parametrize("name", list(WRITERS))
def test_a_link_planted_at_a_file_chatroute_writes_is_refused(name: str, chatroute_home: Path, outside: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    filename, write, fatal = WRITERS[name]
    link = chatroute_home / filename
    link.symlink_to(outside)
    args = (chatroute_home, monkeypatch) if write is _local_sizes else (chatroute_home,)
    if fatal:
        with pytest.raises(UnsafeFileError) as refused:
            write(*args)
        assert str(link) in str(refused.value) and "symbolic link" in str(refused.value), refused.value
        assert refused.value.exit_code == 2
    else:
        write(*args)
    _assert_untouched(link, outside)


def test_the_prefs_reset_file_is_never_written_through_a_link(chatroute_home: Path, outside: Path) -> None:
    from chatroute.engine import PREFS_RESET_FILE

    link = chatroute_home / PREFS_RESET_FILE
    link.symlink_to(outside)
    child = run_subprocess("prefs", "reset")
    err = child.stderr.decode()
    assert child.returncode == 2, err
    assert "Traceback" not in err and str(link) in err and "symbolic link" in err, err
    _assert_untouched(link, outside)


def test_prices_update_refuses_a_link_at_the_prices_file(chatroute_home: Path, tmp_path: Path,
                                                         outside: Path) -> None:
    feed = tmp_path / "feed.json"
    feed.write_text(json.dumps(make_feed()))
    link = chatroute_home / "prices.json"
    link.symlink_to(outside)
    child = run_subprocess("prices", "update", "--from", str(feed))
    err = child.stderr.decode()
    assert child.returncode == 2, err
    assert "Traceback" not in err and str(link) in err, err
    _assert_untouched(link, outside)


def test_a_link_planted_at_the_temporary_name_is_not_followed(chatroute_home: Path, outside: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Someone who can guess the temporary name (here: forced) gets a refused open, not a write
    through their link; the helper picks another name."""
    names = iter(["guessed", "guessed", "fresh"])
    monkeypatch.setattr(fsutil.secrets, "token_hex", lambda n: next(names))
    planted = chatroute_home / ".serve-tokens.json.guessed.tmp"
    planted.symlink_to(outside)
    save_tokens(chatroute_home, Tokens("t" * 32))
    assert outside.read_text() == OUTSIDE
    assert json.loads(token_path(chatroute_home).read_text())["token"] == "t" * 32


def test_the_token_file_is_owner_only_from_its_first_byte(chatroute_home: Path, open_umask: None,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The mode is checked at the moment the token is written into the file, not after."""
    seen: list[int] = []
    real_fdopen = os.fdopen

    def fdopen(fd: int, *a: object, **kw: object) -> object:
        seen.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return real_fdopen(fd, *a, **kw)  # type: ignore[call-overload]

    monkeypatch.setattr(fsutil.os, "fdopen", fdopen)
    token_path(chatroute_home).write_text("{}")  # an old file, readable by everyone
    os.chmod(token_path(chatroute_home), 0o644)
    tokens, shown = ensure_tokens(chatroute_home, rotate=True)
    assert shown and seen and set(seen) == {0o600}
    assert stat.S_IMODE(token_path(chatroute_home).stat().st_mode) == 0o600


def test_a_write_that_fails_half_way_leaves_the_old_file(chatroute_home: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    save_tokens(chatroute_home, Tokens("a" * 32))
    before = token_path(chatroute_home).read_bytes()

    class Crash(Exception):
        pass

    real_fsync = os.fsync

    def crash_after_writing(fd: int) -> None:  # the new bytes are in the temporary file by now
        raise Crash

    monkeypatch.setattr(fsutil.os, "fsync", crash_after_writing)
    with pytest.raises(Crash):
        save_tokens(chatroute_home, Tokens("b" * 32))
    monkeypatch.setattr(fsutil.os, "fsync", real_fsync)
    assert token_path(chatroute_home).read_bytes() == before
    assert sorted(p.name for p in chatroute_home.iterdir()) == ["serve-tokens.json"]


def test_a_file_that_is_not_a_secret_keeps_its_mode_a_new_one_is_private(tmp_path: Path,
                                                                         open_umask: None) -> None:
    shared = tmp_path / "d" / "prices.json"
    atomic_write(shared, "{}")
    assert stat.S_IMODE(shared.stat().st_mode) == 0o600
    os.chmod(shared, 0o644)  # the user shares it on purpose
    atomic_write(shared, '{"a": 1}')
    assert stat.S_IMODE(shared.stat().st_mode) == 0o644
    atomic_write(shared, '{"a": 2}', secret=True)  # a secret never stays readable
    assert stat.S_IMODE(shared.stat().st_mode) == 0o600


def test_a_folder_at_the_destination_is_refused_in_words(tmp_path: Path) -> None:
    (tmp_path / "health.json").mkdir()
    with pytest.raises(UnsafeFileError, match="health.json: not written: it is a folder"):
        atomic_write(tmp_path / "health.json", "{}")


def test_the_files_checked_at_start_up_are_the_files_written() -> None:
    from chatroute.catalog.local_meta import CACHE_FILE
    from chatroute.catalog.prices import backup_path
    from chatroute.engine import PREFS_RESET_FILE
    from chatroute.routing.health import FILE_NAME as HEALTH_FILE
    from chatroute.serve.state import STATE_FILE
    from chatroute.serve.tokens import TOKEN_FILE

    paths = resolve_paths()
    written = {p.name for p in paths.written_files()}
    assert written == {paths.prices_file.name, backup_path(paths.prices_file).name, HEALTH_FILE, PREFS_FILE,
                       CACHE_FILE, TOKEN_FILE, STATE_FILE, PREFS_RESET_FILE}


def test_a_link_at_a_best_effort_file_is_said_at_start_up(capsys: pytest.CaptureFixture[str], configured: FakeServer,
                                                          chatroute_home: Path, outside: Path) -> None:
    """The health board's and the serve state's writes are best effort (a turn never fails for
    them), so a refused link there would go unnoticed: every command says it when it starts."""
    link = chatroute_home / "health.json"
    link.symlink_to(outside)
    code, _, err = run_cli(capsys, "ask", "-m", "openai/gpt-4o-mini", "hello")
    assert code == 0, err
    assert f"chatroute: warning: {link}: it is a symbolic link (-> {outside}); chatroute will not write it" in err, err
    _assert_untouched(link, outside)


def test_serve_never_takes_its_tokens_from_a_linked_file(chatroute_home: Path, tmp_path: Path) -> None:
    """A link to a token file someone else wrote would make their token the server's: refused,
    before the server starts (read or rotate)."""
    known = tmp_path / "elsewhere" / "tokens.json"
    known.parent.mkdir()
    known.write_text(json.dumps({"token": "k" * 32, "clients": {}}))
    link = token_path(chatroute_home)
    link.symlink_to(known)
    for args in (("serve", "--port", "0"), ("serve", "--port", "0", "--rotate-token")):
        child = run_subprocess(*args, timeout=30)
        err = child.stderr.decode()
        assert child.returncode == 2, err
        assert "Traceback" not in err and str(link) in err and "symbolic link" in err, err
        assert json.loads(known.read_text())["token"] == "k" * 32
        assert link.is_symlink()
