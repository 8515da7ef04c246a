"""A server that answers a streamed request with status 200 and one JSON document instead of an
event stream, through the real SDKs and `chatroute ask`: an error object (a proxy, or a server
failing so), or the whole answer (a server that ignores `stream: true`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.engine.helpers import ask_json, write_config
from tests.fakeserver import FakeServer, Raw, Reply

TARGET = {"openai": "openai/gpt-4o-mini", "anthropic": "anthropic/claude-haiku-4-5"}


def _json(body: dict[str, object]) -> Raw:
    return Raw(body=json.dumps(body).encode(), content_type="application/json")


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
def test_an_error_sent_as_json_with_200_is_said_in_the_servers_words(capsys: pytest.CaptureFixture[str],
                                                                     configured: FakeServer, wire: str) -> None:
    """Before: 'the stream was malformed: stream ended before any text without a finish reason',
    the server's own message nowhere."""
    model = TARGET[wire]
    error = {"message": "model 'qwen3:32b' is not loaded; load it first", "type": "server_error"}
    configured.script(model.split("/")[1], _json({"type": "error", "error": error} if wire == "anthropic"
                                                 else {"error": error}))
    code, out = ask_json(capsys, "--no-cache", "-m", model, "hello")
    assert code == 1 and out["status"] == "error", out
    assert "model 'qwen3:32b' is not loaded; load it first" in out["error"], out["error"]
    assert "stream ended" not in out["error"]


def test_a_routed_turn_moves_on_from_an_error_sent_as_json(capsys: pytest.CaptureFixture[str],
                                                           configured: FakeServer, chatroute_home: Path) -> None:
    write_config(chatroute_home, configured, pool=["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"],
                 extra='[models."openai/gpt-4o-mini"]\nability = 0.99\n'
                       '[models."anthropic/claude-haiku-4-5"]\nability = 0.01\n')
    configured.script("gpt-4o-mini", _json({"error": {"message": "upstream overloaded", "code": 503}}))
    configured.script("claude-haiku-4-5", Reply(text="answered elsewhere"))
    code, out = ask_json(capsys, "--no-cache", "hello there")
    assert code == 0 and out["text"] == "answered elsewhere", out
    [reroute] = out["route"]["reroutes"]
    assert reroute["from"] == "openai/gpt-4o-mini" and "upstream overloaded" in reroute["message"], reroute


@pytest.mark.parametrize("reason", ["stop", None])
def test_a_whole_answer_sent_though_a_stream_was_asked_for_is_the_answer(capsys: pytest.CaptureFixture[str],
                                                                         configured: FakeServer,
                                                                         reason: str | None) -> None:
    """Before, the answer was lost: 'stream ended before any text without a finish reason', exit 1
    (and, from a server that writes no finish_reason, after f38c1dc still: 'stream ended
    mid-answer without a finish reason', kept as interrupted, where a stream ending in [DONE]
    was whole)."""
    configured.script("gpt-4o-mini", _json({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Whole at once."},
                     "finish_reason": reason}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16}}))
    code, out = ask_json(capsys, "--no-cache", "-m", "openai/gpt-4o-mini", "hello")
    assert code == 0 and out["status"] == "ok" and out["text"] == "Whole at once.", out
    assert out["finish_reason"] == "stop"
    assert (out["tokens"]["input"], out["tokens"]["output"], out["tokens"]["estimated"]) == (12, 4, False)
