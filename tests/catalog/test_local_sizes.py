"""A local server's own metadata sets the ability prior of models the table does not know.

Fake Ollama and llama.cpp servers on 127.0.0.1 random ports answer the endpoints chatroute
reads (/api/tags, /api/show, /v1/models, /props); nothing reaches the internet."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from chatroute.catalog.abilities import UNKNOWN_ABILITY, ability_from_size, default_ability
from chatroute.discovery import fetch_model_sizes

Routes = dict[tuple[str, str], Callable[[dict[str, Any]], Any]]


def _handler(routes: Routes, seen: list[str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, method: str) -> None:
            seen.append(f"{method} {self.path}")
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}") if length else {}
            fn = routes.get((method, self.path))
            payload = fn(body) if fn else None
            if payload is None:
                self.send_error(404)
                return
            data = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self._answer("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._answer("POST")

        def log_message(self, *args: object) -> None:
            pass

    return Handler


class LocalServer:
    def __init__(self, routes: Routes) -> None:
        self.seen: list[str] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(routes, self.seen))
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def ollama_routes() -> Routes:
    """Ollama: /api/tags lists sizes; /api/show answers for a model the list lacks."""
    tags = {"models": [
        {"name": "mystery:latest", "model": "mystery:latest", "details": {"parameter_size": "70.6B"}},
        {"name": "other:1", "model": "other:1", "details": {}},
    ]}
    shows = {"tiny:latest": {"details": {"parameter_size": "135M"}},
             "counted": {"details": {}, "model_info": {"general.parameter_count": 3_821_079_552}}}
    return {
        ("GET", "/api/tags"): lambda _: tags,
        ("POST", "/api/show"): lambda body: shows.get(body.get("model")),
        ("GET", "/v1/models"): lambda _: {"data": [{"id": m["name"]} for m in tags["models"]]},
    }


def llamacpp_routes(*, n_params: int | None) -> Routes:
    meta = {"n_params": n_params, "n_ctx_train": 8192} if n_params else {"n_ctx_train": 8192}
    return {
        ("GET", "/v1/models"): lambda _: {"object": "list", "data": [{"id": "local-model", "meta": meta}]},
        ("GET", "/props"): lambda _: {"model_path": "/models/SmolLM2-135M-Instruct-Q8_0.gguf", "total_slots": 1},
    }


@pytest.fixture
def servers() -> Iterator[Callable[[Routes], LocalServer]]:
    started: list[LocalServer] = []

    def start(routes: Routes) -> LocalServer:
        server = LocalServer(routes)
        started.append(server)
        return server

    yield start
    for s in started:
        s.stop()


def test_ollama_sizes_from_tags_and_show(servers) -> None:  # type: ignore[no-untyped-def]
    server = servers(ollama_routes())
    sizes = fetch_model_sizes(server.base_url, ["mystery:latest", "tiny:latest", "counted", "nobody"])
    assert sizes == {"mystery:latest": 70.6, "tiny:latest": 0.135, "counted": pytest.approx(3.821, abs=1e-3)}
    assert "POST /api/show" in server.seen


def test_llamacpp_sizes_from_n_params_else_the_gguf_name(servers) -> None:  # type: ignore[no-untyped-def]
    with_meta = servers(llamacpp_routes(n_params=134_515_008))
    assert fetch_model_sizes(with_meta.base_url, ["local-model"]) == {"local-model": pytest.approx(0.1345, abs=1e-4)}
    without = servers(llamacpp_routes(n_params=None))
    assert fetch_model_sizes(without.base_url, ["whatever-name"]) == {"whatever-name": 0.135}


def test_a_server_that_says_nothing_gives_no_sizes(servers) -> None:  # type: ignore[no-untyped-def]
    silent = servers({("GET", "/v1/models"): lambda _: {"data": [{"id": "m"}]}})
    assert fetch_model_sizes(silent.base_url, ["m"]) == {}
    assert fetch_model_sizes("http://127.0.0.1:9/v1", ["m"]) == {}  # nothing listening


def _config(home: Path, base_url: str, pool: list[str], extra: str = "") -> None:
    (home / "config.toml").write_text(
        f'[providers.ollama]\nkind = "openai"\nbase_url = "{base_url}"\n\n'
        f"[router]\npool = {json.dumps(pool)}\ndefault = {json.dumps(pool[0])}\n{extra}",
        encoding="utf-8",
    )


def _models_json(home: Path, *, discovery: bool = True) -> dict[str, dict[str, Any]]:
    env = {**os.environ, "CHATROUTE_HOME": str(home)}
    if discovery:
        env.pop("CHATROUTE_NO_DISCOVERY", None)
    else:
        env["CHATROUTE_NO_DISCOVERY"] = "1"
    proc = subprocess.run([sys.executable, "-m", "chatroute", "models", "--json"], env=env, capture_output=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    return {m["id"]: m for m in json.loads(proc.stdout)["models"]}


def test_models_cli_uses_the_servers_sizes_and_caches_them(servers, chatroute_home: Path) -> None:  # type: ignore[no-untyped-def]
    server = servers(ollama_routes())
    pool = ["ollama/mystery:latest", "ollama/tiny:latest", "ollama/nobody", "ollama/qwen2.5:7b"]
    _config(chatroute_home, server.base_url, pool)
    models = _models_json(chatroute_home)
    big, tiny, nobody, known = (models[m] for m in pool)
    assert (big["ability_source"], big["ability"]) == ("server", ability_from_size(70.6))
    assert (tiny["ability_source"], tiny["ability"]) == ("server", ability_from_size(0.135))
    assert tiny["ability"] <= 0.08 < UNKNOWN_ABILITY < big["ability"]
    assert (nobody["ability_source"], nobody["ability"]) == ("unknown", UNKNOWN_ABILITY)
    assert nobody["ability_note"] == "ability unknown: prior 0.30"
    assert known["ability_source"] == "leaderboard"  # a name the table knows is never asked about
    asked = [s for s in server.seen if s.startswith("POST /api/show")]
    assert len(asked) == 2  # tiny and nobody: the list answered for mystery

    # Cached: the server is gone and the sizes are still known, without asking again.
    server.stop()
    again = _models_json(chatroute_home)
    assert again["ollama/mystery:latest"]["ability_source"] == "server"
    assert again["ollama/tiny:latest"]["ability"] == tiny["ability"]
    cache = json.loads((chatroute_home / "local_models.json").read_text(encoding="utf-8"))
    assert cache["servers"][server.base_url]["nobody"]["params_b"] is None


def test_config_ability_wins_over_server_and_no_discovery_means_no_probe(servers, chatroute_home: Path) -> None:  # type: ignore[no-untyped-def]
    server = servers(ollama_routes())
    pool = ["ollama/mystery:latest", "ollama/tiny:latest"]
    _config(chatroute_home, server.base_url, pool, '\n[models."ollama/mystery:latest"]\nability = 0.2\n')
    models = _models_json(chatroute_home, discovery=False)
    assert server.seen == []
    assert (models["ollama/mystery:latest"]["ability_source"], models["ollama/mystery:latest"]["ability"]) == (
        "config", 0.2)
    assert models["ollama/tiny:latest"]["ability_source"] == "unknown"  # not asked: the conservative prior
    models = _models_json(chatroute_home)
    assert models["ollama/mystery:latest"]["ability"] == 0.2  # the server's 70.6B does not override the user
    assert models["ollama/tiny:latest"]["ability_source"] == "server"


def test_models_table_says_when_an_ability_is_unknown(servers, chatroute_home: Path) -> None:  # type: ignore[no-untyped-def]
    server = servers({})
    _config(chatroute_home, server.base_url, ["ollama/nobody", "ollama/SmolLM2-135M-Instruct"])
    env = {**os.environ, "CHATROUTE_HOME": str(chatroute_home)}
    proc = subprocess.run([sys.executable, "-m", "chatroute", "models"], env=env, capture_output=True, timeout=60)
    out = proc.stdout.decode()
    assert proc.returncode == 0, proc.stderr.decode()
    assert "ollama/nobody: ability unknown: prior 0.30" in out
    assert "ollama/SmolLM2-135M-Instruct: ability from size (135M, name): 0.05" in out
    assert "unknown: prior" in next(line for line in out.splitlines() if line.startswith("ollama/nobody "))


def test_ollamas_name_for_a_leaderboard_model_is_rated_as_that_model(servers, chatroute_home: Path) -> None:  # type: ignore[no-untyped-def]
    """Ollama spells mixtral-8x22b `mixtral:8x22b`: the colon hid it from the leaderboard table, so
    its size (the name's 8x22b, or the server's 141B) rated it 0.62, above gpt-4o, and a hard
    prompt went to it under `best`."""
    tags = {"models": [{"name": "mixtral:8x22b", "model": "mixtral:8x22b", "details": {"parameter_size": "141B"}},
                       {"name": "mistral:7b", "model": "mistral:7b", "details": {"parameter_size": "7.2B"}}]}
    server = servers({("GET", "/api/tags"): lambda _: tags,
                      ("GET", "/v1/models"): lambda _: {"data": [{"id": m["name"]} for m in tags["models"]]}})
    pool = ["openai/gpt-4o-mini", "openai/gpt-4o", "ollama/mixtral:8x22b", "ollama/mistral:7b"]
    _config(chatroute_home, server.base_url, pool, 'preset = "best"\n\n[providers.openai]\nkind = "openai"\n')
    models = _models_json(chatroute_home)
    assert (models["ollama/mixtral:8x22b"]["ability_source"], models["ollama/mixtral:8x22b"]["ability"]) == (
        "leaderboard", default_ability("mixtral-8x22b"))
    assert models["ollama/mistral:7b"]["ability_source"] == "leaderboard"
    assert models["ollama/mixtral:8x22b"]["ability"] < models["openai/gpt-4o-mini"]["ability"]

    env = {**os.environ, "CHATROUTE_HOME": str(chatroute_home), "OPENAI_API_KEY": "sk-test-not-used"}
    proc = subprocess.run([sys.executable, "-m", "chatroute", "route", "--json",
                           "Prove that there are infinitely many primes."],
                          env=env, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    assert json.loads(proc.stdout)["model"] == "openai/gpt-4o"
