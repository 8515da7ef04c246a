"""Secrets: API keys reach the provider and nowhere else.

Two recognisable keys are planted — one in the environment (OPENAI_API_KEY, the usual way) and
one inline in config.toml (`api_key = ...`) — and turns are run through `chatroute ask` (in
process and as a real child process) and the TUI over the real engine, including failures
whose error bodies echo the key back (as some servers do). Then every file chatroute wrote
under CHATROUTE_HOME (the SQLite database and its -wal, read as raw bytes while the app still
has it open, health state, exports), the TUI's screenshots and every command's stdout and
stderr are searched for the keys. The fake server must have received both keys, so the
search cannot pass by the keys never being used.

Also: an inline key in a config readable by others gives a `chmod 600` warning, and a key
about to go to a plain-http, non-local base_url gives a warning first.
"""

from __future__ import annotations

import json
import os
import socket
import stat
from collections.abc import Iterable
from pathlib import Path

import pytest

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from tests.engine.helpers import run_cli, run_subprocess
from tests.fakeserver import FakeServer, Fault
from tests.tui.helpers import assistants, settle, type_and_send

ENV_KEY = "sk-PLANTED-CANARY-1234567890abcdef"
# Not shaped like an OpenAI/Anthropic key, so only exact-value scrubbing can catch it.
INLINE_KEY = "inline-CANARY-zx81qwerty77-0042"
# The tails too: a key shortened to "sk-PLA…" is fine, any longer piece of it is a leak.
NEEDLES = (ENV_KEY, INLINE_KEY, ENV_KEY[-16:], INLINE_KEY[-16:])
POOL = ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"]


def _config_text(server: FakeServer, *, mode_note: str = "") -> str:
    # openai: base URL and key from the environment, as most users set it up.
    # anthropic: the key inline in the file.
    return f"""{mode_note}
[providers.openai]
kind = "openai"

[providers.anthropic]
kind = "anthropic"
base_url = "{server.anthropic_base_url}"
api_key = "{INLINE_KEY}"

[router]
pool = {json.dumps(POOL)}
default = "{POOL[0]}"
"""


@pytest.fixture
def planted(chatroute_home: Path, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", fake_server.openai_base_url)
    config = chatroute_home / "config.toml"
    config.write_text(_config_text(fake_server), encoding="utf-8")
    config.chmod(0o600)
    return fake_server


def _leaks_in_text(where: str, text: str | bytes) -> list[str]:
    data = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
    return [f"{where}: {needle[:12]}…" for needle in NEEDLES if needle.encode() in data]


def _leaks_in_files(root: Path) -> list[str]:
    """Every file under `root` except the config file, which is meant to hold the inline key."""
    found: list[str] = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != "config.toml":
            found += _leaks_in_text(str(path.relative_to(root)), path.read_bytes())
    return found


def _assert_keys_were_sent(server: FakeServer) -> None:
    sent = {r.auth for r in server.requests}
    assert ENV_KEY in sent and INLINE_KEY in sent, "the canaries never reached the server: the test proves nothing"


def _assert_clean(outputs: Iterable[tuple[str, str | bytes]], home: Path) -> None:
    found = [leak for where, text in outputs for leak in _leaks_in_text(where, text)]
    found += _leaks_in_files(home)
    assert not found, f"API key found in: {found}"
    for where, text in outputs:
        assert b"Traceback" not in (text.encode() if isinstance(text, str) else text), where


def test_keys_never_leave_the_request_cli(planted: FakeServer, chatroute_home: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    server = planted
    outputs: list[tuple[str, str | bytes]] = []

    def cli(*args: str) -> int:
        code, out, err = run_cli(capsys, *args)
        outputs.extend([(f"{args[:2]} stdout", out), (f"{args[:2]} stderr", err)])
        return code

    # A real child process: a routed turn whose first choice answers 401 and whose fallback
    # answers 500, both echoing the key — reroute line, error line and badge on stderr.
    server.script("gpt-4o-mini", Fault(status=401, echo_key=True))
    server.script("claude-haiku-4-5", Fault(status=500, echo_key=True))
    env = {"OPENAI_API_KEY": ENV_KEY, "OPENAI_BASE_URL": server.openai_base_url,
           "CHATROUTE_HOME": str(chatroute_home)}
    child = run_subprocess("ask", "explain what a mutex is in one sentence", env=env)
    outputs += [("child stdout", child.stdout), ("child stderr", child.stderr)]
    assert child.returncode == 1, child.stderr
    assert b"chatroute: error:" in child.stderr and "\u2192".encode() in child.stderr  # error + reroute lines
    assert server.pending() == 0, child.stderr.decode()  # both faults were served

    assert cli("ask", "-m", "openai/gpt-4o-mini", "hello from the environment key") == 0
    assert cli("ask", "--json", "-m", "anthropic/claude-haiku-4-5", "hello from the inline key") == 0
    # Failures whose error bodies carry the key: 401 and 500 on each provider.
    server.script("gpt-4o-mini", Fault(status=401, echo_key=True))
    assert cli("ask", "--json", "-m", "openai/gpt-4o-mini", "this one fails auth") == 2
    server.script("claude-haiku-4-5", Fault(status=500, echo_key=True))
    assert cli("ask", "-m", "anthropic/claude-haiku-4-5", "this one hits a server error") == 1
    errors = [text if isinstance(text, str) else text.decode() for where, text in outputs if "stderr" in where]
    assert any("401" in e for e in errors) and any("500" in e for e in errors)
    assert any("***" in e for e in errors)  # the echoed key was there, and masked
    # Everything that reads the store back.
    for args in (("costs", "--format", "json"), ("costs", "--by", "model", "--format", "csv"),
                 ("costs", "--by", "conversation"), ("models", "--json"), ("models", "--all"),
                 ("route", "--json", "what is 2 + 2?"), ("cache", "stats"), ("prefs", "show")):
        assert cli(*args) == 0, args

    _assert_keys_were_sent(server)
    _assert_clean(outputs, chatroute_home)


async def test_keys_never_leave_the_request_tui(planted: FakeServer, chatroute_home: Path, tmp_path: Path) -> None:
    server = planted
    shots = tmp_path / "shots"
    shots.mkdir()
    engine = Engine.open()
    app = ChatrouteApp(engine)
    outputs: list[tuple[str, str | bytes]] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await type_and_send(pilot, "@openai/gpt-4o-mini hello from the environment key")
        await type_and_send(pilot, "@anthropic/claude-haiku-4-5 hello from the inline key")
        server.script("gpt-4o-mini", Fault(status=401, echo_key=True))
        await type_and_send(pilot, "@openai/gpt-4o-mini this one fails auth")
        server.script("claude-haiku-4-5", Fault(status=500, echo_key=True))
        await type_and_send(pilot, "@anthropic/claude-haiku-4-5 this one hits a server error")
        messages = assistants(app)
        assert [m.status for m in messages][:2] != ["error", "error"]
        shown = [str(w.render()) for m in messages for w in m.query("Static")]
        assert any("401" in s for s in shown) and any("500" in s for s in shown)
        await pilot.press("ctrl+e")  # export the conversation to Markdown and JSON
        await settle(pilot, app)
        exports = list((chatroute_home / "exports").glob("*"))
        assert {p.suffix for p in exports} == {".md", ".json"}
        assert "this one fails auth" in next(p for p in exports if p.suffix == ".md").read_text()
        app.save_screenshot(path=str(shots), filename="chat.svg")
        outputs.append(("text screenshot", app.export_screenshot()))
        # The database is still open: its write-ahead log holds the latest turns, unmerged.
        wal = chatroute_home / "chatroute.db-wal"
        assert wal.exists() and wal.stat().st_size > 0
        assert b"this one hits a server error" in wal.read_bytes() or b"this one hits" in (
            chatroute_home / "chatroute.db").read_bytes()
        open_leaks = _leaks_in_files(chatroute_home) + _leaks_in_files(shots)
    await engine.aclose()
    assert (shots / "chat.svg").stat().st_size > 0
    assert not open_leaks, f"API key found while the app was open: {open_leaks}"
    _assert_keys_were_sent(server)
    _assert_clean(outputs, chatroute_home)
    assert not _leaks_in_files(shots)


def test_inline_key_in_a_world_readable_config_warns(planted: FakeServer, chatroute_home: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    config = chatroute_home / "config.toml"
    config.chmod(0o644)
    code, out, err = run_cli(capsys, "ask", "-m", "anthropic/claude-haiku-4-5", "hello")
    assert code == 0 and out.strip()  # a warning, not a refusal
    [warning] = [line for line in err.splitlines() if "warning" in line]
    assert "chmod 600" in warning and str(config) in warning and "644" in warning
    assert not _leaks_in_text("stderr", err)

    config.chmod(0o600)
    code, out, err = run_cli(capsys, "ask", "-m", "anthropic/claude-haiku-4-5", "hello again")
    assert code == 0 and "warning" not in err
    assert stat.S_IMODE(config.stat().st_mode) == 0o600


@pytest.fixture
def no_dns(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Resolve only this machine's names, so a test can never reach the network."""
    asked: list[str] = []
    real = socket.getaddrinfo

    def guarded(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name in ("127.0.0.1", "localhost", "::1"):
            return real(host, *args, **kwargs)
        asked.append(name)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    return asked


def test_plain_http_remote_base_url_warns_before_the_key_is_sent(
        chatroute_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        no_dns: list[str]) -> None:
    monkeypatch.setenv("REMOTE_KEY", ENV_KEY)
    (chatroute_home / "config.toml").write_text(
        '[providers.remote]\nkind = "openai"\nbase_url = "http://example.invalid:9/v1"\n'
        'api_key_env = "REMOTE_KEY"\n\n[router]\npool = ["remote/some-model"]\n', encoding="utf-8")
    code, out, err = run_cli(capsys, "ask", "-m", "remote/some-model", "hello")
    lines = err.splitlines()
    warning = next(i for i, line in enumerate(lines) if line.startswith("chatroute: warning:"))
    assert "http://example.invalid:9" in lines[warning] and "neither https nor local" in lines[warning]
    # The warning comes first; then the request fails to connect: a clear line, exit 1.
    error = next(i for i, line in enumerate(lines) if line.startswith("chatroute: error:"))
    assert warning < error
    assert code == 1 and "connection" in lines[error] and "remote/some-model" in lines[error]
    assert "Traceback" not in err and not _leaks_in_text("stderr", err) and not _leaks_in_text("stdout", out)
    assert no_dns == ["example.invalid"]  # it did try to connect (no further), after warning

    # https, or a server on this machine, is not warned about.
    for url in ("https://example.invalid/v1", "http://127.0.0.1:9/v1"):
        (chatroute_home / "config.toml").write_text(
            f'[providers.remote]\nkind = "openai"\nbase_url = "{url}"\napi_key_env = "REMOTE_KEY"\n\n'
            '[router]\npool = ["remote/some-model"]\n', encoding="utf-8")
        code, out, err = run_cli(capsys, "route", "hello")
        assert code == 0 and "warning" not in err, (url, err)


def test_the_canaries_are_really_found(tmp_path: Path) -> None:
    """The search itself: a planted key in a file and in output is reported."""
    (tmp_path / "chatroute.db-wal").write_bytes(b"\x00\x01" + ENV_KEY[-16:].encode() + b"\xff")
    (tmp_path / "config.toml").write_text(INLINE_KEY)  # expected to hold it: skipped
    assert _leaks_in_files(tmp_path) == [f"chatroute.db-wal: {ENV_KEY[-16:][:12]}…"]
    assert _leaks_in_text("stderr", f"error: {INLINE_KEY}")
    assert os.environ.get("OPENAI_API_KEY") is None  # the host's key is never in play
