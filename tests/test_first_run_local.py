"""Issue 12, first run: no keys, no config, but a local server running (Ollama, llama.cpp):
`ask` and `route` use it, and say so in one line, instead of refusing with "no models to use"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import chatroute.discovery as discovery
from tests.engine.helpers import run_cli
from tests.fakeserver import FakeServer, Reply


@pytest.fixture
def local_server(fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    """The fake server standing in for llama.cpp on its usual port."""
    monkeypatch.delenv("CHATROUTE_NO_DISCOVERY")
    monkeypatch.setattr(discovery, "DEFAULT_PORTS", {"llamacpp": fake_server.port})
    fake_server.models = ["qwen2.5-7b-instruct"]
    return fake_server


def test_ask_uses_the_local_server_when_nothing_is_configured(local_server: FakeServer,
                                                              capsys: pytest.CaptureFixture[str],
                                                              chatroute_home: Path) -> None:
    local_server.script(Reply(text="hello from the local model"))
    code, out, err = run_cli(capsys, "ask", "--json", "--no-cache", "hi")
    assert code == 0, err
    answer = json.loads(out)
    assert answer["model"] == "llamacpp/qwen2.5-7b-instruct" and answer["text"] == "hello from the local model"
    assert local_server.requests[-1].path.endswith("/chat/completions")
    notice = [line for line in err.splitlines() if "local server" in line]
    assert len(notice) == 1 and "llamacpp" in notice[0] and str(chatroute_home / "config.toml") in notice[0]
    code, out, err = run_cli(capsys, "route", "--json", "hi")
    assert code == 0 and json.loads(out)["model"] == "llamacpp/qwen2.5-7b-instruct"


def test_keys_win_over_a_local_server(local_server: FakeServer, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    code, out, err = run_cli(capsys, "route", "--json", "hi")
    assert code == 0 and json.loads(out)["model"].startswith("openai/")
    assert "local server" not in err


def test_models_lists_what_ask_would_use_and_the_lines_that_keep_it(
        local_server: FakeServer, capsys: pytest.CaptureFixture[str], chatroute_home: Path) -> None:
    code, out, err = run_cli(capsys, "models", "--json")
    assert code == 0, err
    assert json.loads(out)["pool"] == ["llamacpp/qwen2.5-7b-instruct"]
    code, out, err = run_cli(capsys, "models")
    assert code == 0 and "No models" not in out
    assert out.splitlines()[2].startswith("llamacpp/qwen2.5-7b-instruct")  # under the table's header
    assert f"to keep using them, add to {chatroute_home / 'config.toml'}:" in out
    assert "[providers.llamacpp]" in out and 'kind = "openai"' in out
    assert err.startswith("chatroute: no API keys or providers set: using the local server found, llamacpp")
