"""Local-server discovery against real HTTP servers on 127.0.0.1 random ports."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chatroute.config import Config, ProviderConfig
from chatroute.discovery import (
    LocalServer,
    discover_local_servers,
    discover_local_servers_async,
    pool_from_discovery,
    providers_from_discovery,
    unconfigured,
)


def _handler(status: int, body: bytes, content_type: str = "application/json") -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if self.path != "/v1/models":
                self.send_error(404)
                return
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def serve() -> Iterator:
    servers: list[ThreadingHTTPServer] = []

    def start(status: int, body: bytes, content_type: str = "application/json") -> int:
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(status, body, content_type))
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(httpd)
        return httpd.server_address[1]

    yield start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def discovery_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHATROUTE_NO_DISCOVERY", raising=False)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


MODELS = json.dumps({"object": "list", "data": [{"id": "qwen2.5:7b", "object": "model"}, {"id": "llama3.2"}]}).encode()


def test_finds_openai_compatible_servers_only(serve, discovery_on) -> None:
    good = serve(200, MODELS)
    html = serve(200, b"<html>some other web app</html>", "text/html")
    locked = serve(401, b'{"error": "no key"}')
    ports = {"ollama": good, "webapp": html, "llamacpp": locked, "lmstudio": _closed_port()}
    found = discover_local_servers(ports=ports)
    assert found == [LocalServer("ollama", f"http://127.0.0.1:{good}/v1", ["qwen2.5:7b", "llama3.2"])]


def test_hanging_port_costs_only_the_timeout(discovery_on) -> None:
    # A socket that listens but never answers: the probe must give up after `timeout`.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        start = time.perf_counter()
        found = discover_local_servers(timeout=0.2, ports={"a": s.getsockname()[1], "b": _closed_port()})
        elapsed = time.perf_counter() - start
    assert found == [] and elapsed < 1.5


def test_disabled_by_env(serve) -> None:
    # conftest sets CHATROUTE_NO_DISCOVERY=1 for every test.
    assert discover_local_servers(ports={"ollama": serve(200, MODELS)}) == []


async def test_async_variant(serve, discovery_on) -> None:
    port = serve(200, MODELS)
    found = await discover_local_servers_async(ports={"lmstudio": port})
    assert [s.name for s in found] == ["lmstudio"]


def test_providers_and_pool_from_discovery() -> None:
    servers = [
        LocalServer("ollama", "http://127.0.0.1:11434/v1", ["qwen2.5:7b"]),
        LocalServer("lmstudio", "http://127.0.0.1:1234/v1", ["phi-4", "gemma"]),
    ]
    providers = providers_from_discovery(servers)
    assert providers["ollama"] == ProviderConfig(name="ollama", kind="openai", base_url="http://127.0.0.1:11434/v1")
    assert providers["lmstudio"].api_key() == "not-needed"
    assert pool_from_discovery(servers) == ["ollama/qwen2.5:7b", "lmstudio/phi-4", "lmstudio/gemma"]
    # Already configured (by name or by URL): not offered again.
    config = Config(providers={"local": ProviderConfig(name="local", base_url="http://127.0.0.1:1234/v1/")})
    assert [s.name for s in unconfigured(servers, config)] == ["ollama"]


def test_a_listed_id_with_control_characters_is_no_model(serve, discovery_on) -> None:
    """A local server's listing reaches every `chatroute models` and `route` line: an id carrying
    an escape sequence (retitle the terminal, clear the screen) is dropped, the others kept."""
    hostile = json.dumps({"data": [{"id": "evil\x1b]0;pwned\x07"}, {"id": "x\x1b[2J"}, {"id": "qwen2.5:7b"}]})
    port = serve(200, hostile.encode())
    (found,) = discover_local_servers(ports={"ollama": port})
    assert found.models == ["qwen2.5:7b"]


def test_a_listed_id_that_is_not_one_printable_line_is_no_model(serve, discovery_on) -> None:
    """A newline in an id put a forged row into the `models` and `route` tables (the row below
    claims a price); a tab broke their columns; a bidi override or a zero-width character makes
    an id read as another one, or reverses the rest of its line on a terminal that does bidi."""
    odd = ["evil\nopenai/gpt-4o      $0.00       $0.00     128k", "tab\there", "gpt-4o\u200b", "gpt\u202eo4-",
           "line\u2028sep", "nb\u00a0sp"]
    port = serve(200, json.dumps({"data": [{"id": m} for m in odd] + [{"id": "llama 3 (q4)"}]}).encode())
    (found,) = discover_local_servers(ports={"ollama": port})
    assert found.models == ["llama 3 (q4)"]  # an ordinary space is printable


def test_the_config_snippet_quotes_model_ids_as_toml() -> None:
    """llama.cpp lists a model by the path it was loaded from, and on Windows that path has
    backslashes: written inside "…" as it was, `\\m` is an invalid escape and the pasted
    config fails to load; a quote in an id ended the string early."""
    import tomllib

    from chatroute.discovery import config_snippet

    odd = ["C:\\models\\llama-3.2-3b.gguf", 'say "hi"', "plain:7b"]
    snippet = config_snippet([LocalServer("llamacpp", "http://127.0.0.1:8080/v1", odd)])
    assert tomllib.loads(snippet)["router"]["pool"] == [f"llamacpp/{m}" for m in odd]
