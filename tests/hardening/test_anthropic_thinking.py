"""Thinking Anthropic's wire sends apart from the answer (a `thinking` content block of
`thinking_delta` events before the text block), through the anthropic SDK and `chatroute ask`:
never answer text, shown, stored, cached or sent back, but billed as output. `serve`'s relay of
it: tests/serve/test_serve_messages_thinking.py; ask's `thinking…` note: test_ask_thinking_note."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.helpers import ask_json, run_cli
from tests.fakeserver import FakeServer, Reply

MODEL = "anthropic/claude-haiku-4-5"
THOUGHT = "The user asks for the capital. It is Paris, I am sure."


def test_ask_shows_and_keeps_the_answer_without_its_thinking(capsys: pytest.CaptureFixture[str],
                                                             configured: FakeServer, chatroute_home: Path) -> None:
    configured.script("claude-haiku-4-5", Reply(text="Paris.", reasoning=THOUGHT, output_tokens=40))
    code, out = ask_json(capsys, "-m", MODEL, "What is the capital of France?")
    assert code == 0 and out["status"] == "ok", out
    assert out["text"] == "Paris."
    assert out["tokens"]["output"] == 40 and not out["tokens"]["estimated"]  # the thinking is billed

    code, text, err = run_cli(capsys, "ask", "-m", MODEL, "What is the capital of France?")
    assert code == 0, err
    assert text == "Paris.\n" and "cache" in err  # the cached answer holds no thinking either

    configured.script("claude-haiku-4-5", Reply(text="About 2.1 million."))
    code, nxt = ask_json(capsys, "--no-cache", "-m", MODEL, "-c", out["conversation_id"], "Its population?")
    assert code == 0, nxt
    sent = [(m["role"], m["content"]) for m in configured.requests[-1].messages]
    assert [(role, content if isinstance(content, str) else content[0]["text"]) for role, content in sent] == [
        ("user", "What is the capital of France?"), ("assistant", "Paris."), ("user", "Its population?")]


def test_unreported_thinking_is_counted_as_output(capsys: pytest.CaptureFixture[str],
                                                  configured: FakeServer) -> None:
    """No output count in message_delta: the output is counted from the text and the thinking."""
    configured.script("claude-haiku-4-5", Reply(text="Paris.", reasoning=THOUGHT * 20, omit_usage=True))
    code, out = ask_json(capsys, "--no-cache", "-m", MODEL, "What is the capital of France?")
    assert code == 0 and out["text"] == "Paris.", out
    assert out["tokens"]["estimated"] and out["tokens"]["output"] > len(THOUGHT * 20) // 5, out["tokens"]
