"""Local OpenAI-compatible servers that run but are not configured are offered by `chatroute models`."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from chatroute import discovery
from chatroute.cli import main


class _Models(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        body = json.dumps({"data": [{"id": "qwen2.5:7b"}, {"id": "llama3.2:3b"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def ollama_like(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Models)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.delenv("CHATROUTE_NO_DISCOVERY", raising=False)
    monkeypatch.setattr(discovery, "DEFAULT_PORTS", {"ollama": server.server_address[1]})
    yield server.server_address[1]
    server.shutdown()


def test_models_offers_an_unconfigured_local_server(ollama_like: int, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # A key configures a pool, so the local server is offered, not used (test_first_run_local.py).
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "found local servers not in your config: ollama (2 models)" in out
    assert f'base_url = "http://127.0.0.1:{ollama_like}/v1"' in out
    assert '"ollama/qwen2.5:7b"' in out


def test_with_no_pool_models_still_prints_the_offer_before_its_error(
        ollama_like: int, capsys: pytest.CaptureFixture[str], chatroute_home: Path) -> None:
    """The help for a provider without a pool sends the user to `chatroute models` for the lines
    of the local servers it finds: its exit 2 still prints them."""
    (chatroute_home / "config.toml").write_text(
        '[providers.groq]\nbase_url = "https://api.groq.com/openai/v1"\napi_key_env = "GROQ_API_KEY"\n',
        encoding="utf-8")
    assert main(["models"]) == 2
    out, err = capsys.readouterr()
    assert out.startswith("found local servers not in your config: ollama (2 models)"), out
    assert '"ollama/qwen2.5:7b"' in out
    [line] = err.splitlines()
    assert line.startswith("chatroute: error: no models to use: router.pool is empty") and "(groq)" in line, err
