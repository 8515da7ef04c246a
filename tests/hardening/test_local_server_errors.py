"""What local servers (llama.cpp, vLLM, Ollama) say when a request does not fit the context they
loaded the model with, through the real openai SDK and `chatroute ask`: each wording is a context
overflow, so a routed turn moves to a model with a larger window and a pinned one says why.
The wordings are the servers' own (llama.cpp's `exceed_context_size_error`, vLLM's, Ollama's)."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.engine.helpers import ask_json, write_config
from tests.fakeserver import FakeServer, Fault, Reply

LOCAL = """
[providers.local]
kind = "openai"
base_url = "{url}"
api_key = "none"

[models."local/qwen3:8b"]
input_cost_per_mtok = 0.0
output_cost_per_mtok = 0.0
context_window = 32768
ability = 0.99

[models."openai/gpt-4o-mini"]
ability = 0.01
"""

WORDINGS = {
    "llama.cpp": ("exceed_context_size_error",
                  "request (4476 tokens) exceeds the available context size (4096 tokens), try increasing it"),
    "llama.cpp, older": ("invalid_request_error",
                               "the request exceeds the available context size, try increasing it"),
    "vLLM V1": ("BadRequestError", "The decoder prompt (length 40000) is longer than the maximum model length of "
                "32768. Make sure that `max_model_len` is no smaller than the number of text tokens."),
    "vLLM": ("BadRequestError", "This model's maximum context length is 4096 tokens. However, you requested 5000 "
             "tokens (4000 in the messages, 1000 in the completion). Please reduce the length of the messages "
             "or completion."),
    "Ollama": ("invalid_request_error", "the input length exceeds the context length"),
}


@pytest.fixture
def local(configured: FakeServer, chatroute_home: Path) -> FakeServer:
    write_config(chatroute_home, configured, pool=["local/qwen3:8b", "openai/gpt-4o-mini"],
                 extra=LOCAL.format(url=configured.openai_base_url))
    return configured


@pytest.mark.parametrize("server", list(WORDINGS))
def test_a_local_servers_context_error_moves_a_routed_turn_to_a_larger_window(
        capsys: pytest.CaptureFixture[str], local: FakeServer, server: str) -> None:
    """Before, llama.cpp's and vLLM V1's wordings were a 'bad request (400)': the routed turn
    failed there, exit 1, though another model of the pool had room for it."""
    etype, message = WORDINGS[server]
    local.script("qwen3:8b", Fault(status=400, error_type=etype, message=message))
    code, out = ask_json(capsys, "Summarise our talk so far.")
    assert code == 0 and out["model"] == "openai/gpt-4o-mini", out
    [reroute] = out["route"]["reroutes"]
    assert (reroute["from"], reroute["kind"]) == ("local/qwen3:8b", "context_overflow")


@pytest.mark.parametrize("server", ["llama.cpp", "vLLM V1"])
def test_a_local_servers_context_error_on_a_pinned_turn_says_the_window_is_too_small(
        capsys: pytest.CaptureFixture[str], local: FakeServer, server: str) -> None:
    etype, message = WORDINGS[server]
    local.script("qwen3:8b", Fault(status=400, error_type=etype, message=message))
    code, out = ask_json(capsys, "-m", "local/qwen3:8b", "Summarise our talk so far.")
    assert code == 1 and out["status"] == "error", out
    assert out["error"].startswith("local/qwen3:8b: the conversation is longer than the model's context window"), \
        out["error"]


@dataclass
class _Stopped:
    """The addresses of a server that is not running (a port nothing listens on)."""

    port: int

    @property
    def openai_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"])
def test_a_stopped_local_server_is_named_with_its_address(capsys: pytest.CaptureFixture[str],
                                                          configured: FakeServer, chatroute_home: Path,
                                                          model: str) -> None:
    """Before: 'connection failed: All connection attempts failed', no word of where."""
    stopped = _Stopped(_closed_port())
    write_config(chatroute_home, stopped)
    code, out = ask_json(capsys, "--no-cache", "-m", model, "hello")
    assert code == 1 and out["status"] == "error", out
    assert (f"connection failed: could not connect to http://127.0.0.1:{stopped.port} "
            "(All connection attempts failed); is the server running?") in out["error"], out["error"]


def test_a_model_still_loading_past_the_first_token_limit_names_the_setting(
        capsys: pytest.CaptureFixture[str], local: FakeServer, chatroute_home: Path) -> None:
    """A local server loading a large model sends its first token late. Before: 'timed out: no
    first token within 1 s', naming no setting, as the stall and whole-request limits do."""
    config = chatroute_home / "config.toml"
    config.write_text(config.read_text().replace('api_key = "none"', 'api_key = "none"\nfirst_token_timeout_s = 1'))
    local.script("qwen3:8b", Reply(text="loaded at last", ttft=3))
    code, out = ask_json(capsys, "--no-cache", "-m", "local/qwen3:8b", "hello")
    assert code == 1, out
    assert "timed out: no first token within 1 s (first_token_timeout_s)" in out["error"], out["error"]


LM_STUDIO_NO_MODEL = "No models loaded. Please load a model in the developer page or use the 'lms load' command."


@pytest.mark.parametrize("status", [400, 404])
def test_a_local_server_with_no_model_loaded_moves_a_routed_turn_on(
        capsys: pytest.CaptureFixture[str], local: FakeServer, status: int) -> None:
    """LM Studio's server with its model unloaded. Before, its 400 was a 'bad request': the routed
    turn failed there, exit 1, as if the prompt were at fault (a 404 disabled the model as missing
    until the config changed)."""
    local.script("qwen3:8b", Fault(status=status, error_type="invalid_request_error", message=LM_STUDIO_NO_MODEL))
    code, out = ask_json(capsys, "Summarise our talk so far.")
    assert code == 0 and out["model"] == "openai/gpt-4o-mini", out
    [reroute] = out["route"]["reroutes"]
    assert (reroute["from"], reroute["kind"]) == ("local/qwen3:8b", "server"), reroute
    assert "No models loaded" in reroute["message"]
