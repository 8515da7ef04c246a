"""A file chatroute owns that cannot be written (a full disk, a read-only folder) is one line
naming the file, exit 2, and the old file is left whole with no temporary beside it.

The full disk is the real errno: the temporary file's descriptor is /dev/full, so every write
to it fails with ENOSPC as on a full disk, while the database (on the same folder) still works.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from chatroute import fsutil
from chatroute.fsutil import atomic_write
from tests.catalog.helpers import make_feed
from tests.engine.helpers import run_cli


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
