"""max_tokens as sent: the model's output limit from the catalogue, and never more than its
context window leaves after the input. The window holds the prompt and the answer, and a real
API refuses a request whose input plus max_tokens pass it (Anthropic: "input length and
`max_tokens` exceed context limit", OpenAI: "you requested N tokens (… in the messages, … in
the completion)"), though the router's size filter and the history window had found it fits."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatroute.catalog.tokens import count_messages
from tests.engine.helpers import ask_json, write_config
from tests.fakeserver import FakeServer

WINDOWS = "".join(f'[models."{m}"]\ncontext_window = 4000\nmax_output_tokens = 3000\n'
                  for m in ("openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"))
SYSTEM = "Answer in English."


def _max_tokens(body: dict[str, object]) -> int:
    value = body.get("max_tokens", body.get("max_completion_tokens"))
    assert isinstance(value, int), body
    return value


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"])
def test_max_tokens_leaves_the_input_its_room_in_the_window(capsys: pytest.CaptureFixture[str],
                                                            configured: FakeServer, chatroute_home: Path,
                                                            model: str) -> None:
    write_config(chatroute_home, configured, extra=WINDOWS)
    code, out = ask_json(capsys, "--no-cache", "-m", model, "-s", SYSTEM, "Say hi.")
    assert code == 0 and _max_tokens(configured.requests[-1].body) == 3000  # a short prompt: the full limit

    prompt = "Summarise these notes. " + " ".join(f"note{i} says the build passed" for i in range(300))
    code, out = ask_json(capsys, "--no-cache", "-m", model, "-c", out["conversation_id"], prompt)
    assert code == 0 and out["status"] == "ok", out
    request = configured.requests[-1]
    messages = [m for m in request.messages if m["role"] != "system"]
    size, _ = count_messages(messages, SYSTEM, model)
    assert 1000 < size < 3000  # fits the window with room for an answer, but not for the whole limit
    assert 16 <= _max_tokens(request.body) <= 4000 - size
