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


def _paste_what_models_prints(capsys: pytest.CaptureFixture[str], config: Path) -> str:
    code, out, err = run_cli(capsys, "models")
    assert code == 0, err
    snippet = out[out.index("[providers."):]
    with config.open("a", encoding="utf-8") as f:
        f.write("\n" + snippet)
    return snippet


def test_the_lines_models_prints_keep_the_local_server_when_pasted(
        local_server: FakeServer, capsys: pytest.CaptureFixture[str], chatroute_home: Path) -> None:
    """Doing what the first run says ("to keep it, add what `chatroute models` prints") must
    keep it: the lines held a provider but no pool, so after pasting them every command said
    "no models to use: set OPENAI_API_KEY …"."""
    snippet = _paste_what_models_prints(capsys, chatroute_home / "config.toml")
    assert '[router]\npool = ["llamacpp/qwen2.5-7b-instruct"]' in snippet
    code, out, err = run_cli(capsys, "route", "--json", "hi")
    assert code == 0, err
    assert json.loads(out)["model"] == "llamacpp/qwen2.5-7b-instruct" and "local server" not in err


def test_pasting_the_offer_beside_a_key_keeps_the_keys_provider(
        local_server: FakeServer, capsys: pytest.CaptureFixture[str], chatroute_home: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With OPENAI_API_KEY set and no [providers] in the file, the first [providers] table
    pasted replaces the provider the key made: the offer writes it out too."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    snippet = _paste_what_models_prints(capsys, chatroute_home / "config.toml")
    assert '[providers.openai]\nkind = "openai"' in snippet
    code, out, err = run_cli(capsys, "models", "--json")
    assert code == 0, err
    pool = json.loads(out)["pool"]
    assert "llamacpp/qwen2.5-7b-instruct" in pool and any(m.startswith("openai/") for m in pool)


def test_a_provider_without_a_pool_is_said_plainly(capsys: pytest.CaptureFixture[str], chatroute_home: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")  # a key is set: asking for one is no help
    (chatroute_home / "config.toml").write_text(
        '[providers.local]\nkind = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n', encoding="utf-8")
    code, out, err = run_cli(capsys, "route", "hi")
    assert code == 2
    assert "router.pool is empty" in err and "(local)" in err and "OPENAI_API_KEY" not in err


def test_models_all_lists_what_a_configured_local_server_serves(
        local_server: FakeServer, capsys: pytest.CaptureFixture[str], chatroute_home: Path) -> None:
    """`models --all` promises every model of the configured providers: a configured local
    server's were missing ("No models: … add providers"), since the price table lists none."""
    (chatroute_home / "config.toml").write_text(
        f'[providers.local]\nkind = "openai"\nbase_url = "http://127.0.0.1:{local_server.port}/v1"\n',
        encoding="utf-8")
    code, out, err = run_cli(capsys, "models", "--all", "--json")
    assert code == 0, err
    assert "local/qwen2.5-7b-instruct" in [m["id"] for m in json.loads(out)["models"]]


@pytest.mark.parametrize("config", ["", '[providers.local]\nkind = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n'],
                         ids=["nothing configured", "a provider without a pool"])
@pytest.mark.parametrize("args", [(), ("--json",), ("--all",)], ids=["table", "json", "all"])
def test_models_with_no_models_says_what_to_set_as_ask_and_route_do(
        config: str, args: tuple[str, ...], capsys: pytest.CaptureFixture[str], chatroute_home: Path) -> None:
    """`models` printed 'No models: …' (or, with --json, an empty list) and exited 0, where
    `ask` and `route` give the one-line error naming what to set, exit 2."""
    if config:
        (chatroute_home / "config.toml").write_text(config, encoding="utf-8")
    code, out, expected = run_cli(capsys, "route", "hi")
    assert code == 2 and expected.startswith("chatroute: error: no models to use: "), expected
    code, out, err = run_cli(capsys, "models", *args)
    assert (code, err) == (2, expected)
    if "--json" in args:  # and the error as JSON on stdout (89cf874)
        assert json.loads(out) == {"status": "error", "error": expected.strip().removeprefix("chatroute: error: "),
                                   "exit_code": 2}
    else:
        assert out == ""
