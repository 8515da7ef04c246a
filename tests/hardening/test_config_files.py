"""The config file as users actually have it.

A config.toml that is a symbolic link leading nowhere (dangling, or a loop) is never replaced by
the example file: one line says what is wrong, exit 2, the link stays. A UTF-8 BOM (Windows
editors) is accepted; TOML nested thousands deep gives one line, not a RecursionError.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.engine.helpers import run_cli, write_config
from tests.fakeserver import FakeServer


def _one_error_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("kind", ["dangling", "loop"])
def test_a_config_link_that_leads_nowhere_is_reported_and_never_replaced(
        capsys: pytest.CaptureFixture[str], chatroute_home: Path, kind: str) -> None:
    config = chatroute_home / "config.toml"
    if kind == "dangling":
        target = str(chatroute_home / "dotfiles" / "chatroute.toml")  # e.g. a dotfiles repo not checked out
        os.symlink(target, config)
        says = f"is a symbolic link to {target}, which does not exist"
    else:
        other = chatroute_home / "other.toml"
        os.symlink(config, other)
        os.symlink(other, config)
        target = str(other)
        says = "is a symbolic link that loops"
    for command in (("costs",), ("cache", "stats"), ("route", "hello")):
        code, out, err = run_cli(capsys, *command)
        assert code == 2, (command, out, err)
        line = _one_error_line(err)
        assert line.startswith(f"chatroute: error: {config}: {says}"), line
        assert config.is_symlink() and os.readlink(config) == target  # the link is still the user's
    assert not (chatroute_home / "dotfiles").exists()


def test_a_working_config_link_is_read_and_kept(capsys: pytest.CaptureFixture[str], chatroute_home: Path,
                                                fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_OPENAI_KEY", "sk-test")
    real = write_config(chatroute_home, fake_server, pool=["openai/gpt-4o"])
    linked = real.rename(chatroute_home / "real.toml")
    os.symlink(linked, chatroute_home / "config.toml")
    code, out, err = run_cli(capsys, "route", "--json", "hello")
    assert code == 0, err
    assert json.loads(out)["model"] == "openai/gpt-4o"
    assert (chatroute_home / "config.toml").is_symlink()


def test_a_config_with_a_utf8_bom_is_read(capsys: pytest.CaptureFixture[str], chatroute_home: Path,
                                          fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_OPENAI_KEY", "sk-test")
    path = write_config(chatroute_home, fake_server, pool=["openai/gpt-4o"])
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))  # as Notepad saves it
    code, out, err = run_cli(capsys, "route", "--json", "hello")
    assert code == 0, err
    assert json.loads(out)["model"] == "openai/gpt-4o"  # the file's pool, not the default one


@pytest.mark.parametrize("nested", [
    "a = " + "[" * 5000 + "]" * 5000 + "\n",
    "a = " + "{b = " * 5000 + "1" + "}" * 5000 + "\n",
], ids=["arrays", "inline tables"])
def test_deeply_nested_toml_is_one_line(capsys: pytest.CaptureFixture[str], chatroute_home: Path, nested: str) -> None:
    config = chatroute_home / "config.toml"
    config.write_text(nested)
    code, out, err = run_cli(capsys, "costs")
    assert code == 2 and out == ""
    assert _one_error_line(err) == f"chatroute: error: {config}: config is nested too deeply to read"
    assert config.read_text() == nested


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999/v1", "http://127.0.0.1:abc/v1", "http://127.0.0.1:0/v1"],
                         ids=["too large", "not a number", "zero"])
def test_a_bad_port_in_base_url_is_a_config_error(capsys: pytest.CaptureFixture[str], chatroute_home: Path,
                                                   fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch,
                                                   url: str) -> None:
    monkeypatch.setenv("TEST_OPENAI_KEY", "sk-test")
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", "sk-test")
    config = write_config(chatroute_home, fake_server,
                          extra=f'\n[providers.local]\nkind = "openai"\nbase_url = "{url}"\n')
    line = config.read_text().splitlines().index(f'base_url = "{url}"') + 1
    for command in (("ask", "-m", "local/qwen", "hello"), ("route", "hello"), ("costs",)):
        code, out, err = run_cli(capsys, *command)
        assert code == 2, (command, err)
        assert _one_error_line(err) == (f"chatroute: error: {config}:{line}: providers.local.base_url: "
                                        "has a port that is not a number from 1 to 65535"), command
    assert fake_server.requests == [] and not (chatroute_home / "health.json").exists()


@pytest.mark.parametrize("under", [False, True], ids=["a file", "under a file"])
def test_chatroute_home_that_is_a_file_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch, under: bool) -> None:
    blocker = tmp_path / "notes.txt"
    blocker.write_text("mine\n")
    home = blocker / "chatroute" if under else blocker
    monkeypatch.setenv("CHATROUTE_HOME", str(home))
    says = "is a file, not a folder" if not under else f"cannot be made: {blocker} is a file, not a folder"
    for command in (("costs",), ("cache", "stats"), ("route", "hello"), ("ask", "hello"), ("prefs", "show")):
        code, out, err = run_cli(capsys, *command)
        assert code == 2, (command, err)
        assert _one_error_line(err).startswith(f"chatroute: error: {home}: {says}"), (command, err)
    assert blocker.read_text() == "mine\n"


@pytest.mark.parametrize("var", ["OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"])
def test_a_bad_base_url_variable_is_a_config_error(capsys: pytest.CaptureFixture[str], chatroute_home: Path,
                                                   monkeypatch: pytest.MonkeyPatch, var: str) -> None:
    # No config file: the providers come from the environment, and their URL from the variable.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    monkeypatch.setenv(var, "http://127.0.0.1:99999/v1")
    kind = "openai" if var.startswith("OPENAI") else "anthropic"
    for command in (("ask", "hello"), ("route", "hello")):
        code, out, err = run_cli(capsys, *command)
        assert code == 2, (command, err)
        assert _one_error_line(err) == (f"chatroute: error: {var} has a port that is not a number from 1 "
                                        f"to 65535 (provider '{kind}')"), command
    assert not (chatroute_home / "health.json").exists()
