"""The finish reasons OpenAI-compatible servers other than OpenAI's write for an answer that ended
as it should, through the real openai SDK and `chatroute ask`: Hugging Face TGI's `eos_token` and
`stop_sequence`, llama.cpp's older `eos`. Each is a complete answer: `stop`, and cached."""

from __future__ import annotations

import json

import pytest

from tests.engine.helpers import ask_json
from tests.fakeserver import FakeServer, Raw, Reply


@pytest.mark.parametrize("reason", ["eos_token", "stop_sequence", "eos"])
def test_a_servers_own_name_for_a_finished_answer_is_stop(capsys: pytest.CaptureFixture[str],
                                                          configured: FakeServer, reason: str) -> None:
    """Before, TGI's names were finish 'other': the answer was never cached, and --json said 'other'."""
    configured.script("gpt-4o-mini", Reply(text="Ottawa is the capital of Canada.", finish_reason=reason))
    code, out = ask_json(capsys, "-m", "openai/gpt-4o-mini", "What is the capital of Canada?")
    assert code == 0 and out["finish_reason"] == "stop", out
    code, again = ask_json(capsys, "-m", "openai/gpt-4o-mini", "What is the capital of Canada?")
    assert code == 0 and again["cache"] == "hit" and again["text"] == "Ottawa is the capital of Canada.", again


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"])
def test_a_stream_that_ends_without_any_reason_is_a_complete_answer(capsys: pytest.CaptureFixture[str],
                                                                    configured: FakeServer, model: str) -> None:
    """Some local servers write `finish_reason: null` on every chunk, then `data: [DONE]` (on
    their Anthropic endpoint, `stop_reason: null` then `message_stop`). Before, on OpenAI's wire
    that read as a dropped stream: 'stream ended mid-answer without a finish reason', the answer
    kept as interrupted, exit 1."""
    name = model.split("/")[1]
    configured.script(name, Reply(text="Ottawa is the capital of Canada.", finish_reason=None, output_tokens=9))
    code, out = ask_json(capsys, "-m", model, "What is the capital of Canada?")
    assert code == 0 and out["status"] == "ok" and out["error"] is None, out
    assert out["text"] == "Ottawa is the capital of Canada." and out["finish_reason"] == "stop", out
    assert out["tokens"]["output"] == 9 and not out["tokens"]["estimated"] and out["cost_usd"] > 0, out
    code, again = ask_json(capsys, "-m", model, "What is the capital of Canada?")
    assert code == 0 and again["cache"] == "hit" and again["text"] == out["text"], again


def test_a_stream_closed_without_done_or_a_reason_is_still_cut_off(capsys: pytest.CaptureFixture[str],
                                                                   configured: FakeServer) -> None:
    """No `[DONE]` and no finish reason: the body ended, the answer did not say it had (a proxy
    closing a long stream): kept as interrupted, not taken for a whole answer."""
    def chunk(delta: dict[str, str]) -> bytes:
        payload = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "gpt-4o-mini",
                   "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
        return f"data: {json.dumps(payload)}\n\n".encode()
    body = chunk({"role": "assistant", "content": ""}) + chunk({"content": "Ottawa is"})
    configured.script("gpt-4o-mini", Raw(body=body, content_type="text/event-stream"))
    code, out = ask_json(capsys, "-m", "openai/gpt-4o-mini", "What is the capital of Canada?")
    assert code == 1 and out["status"] == "interrupted" and out["text"] == "Ottawa is", out
    assert "without a finish reason" in out["error"], out
