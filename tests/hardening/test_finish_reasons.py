"""The finish reasons OpenAI-compatible servers other than OpenAI's write for an answer that ended
as it should, through the real openai SDK and `chatroute ask`: Hugging Face TGI's `eos_token` and
`stop_sequence`, llama.cpp's older `eos`. Each is a complete answer: `stop`, and cached."""

from __future__ import annotations

import pytest

from tests.engine.helpers import ask_json
from tests.fakeserver import FakeServer, Reply


@pytest.mark.parametrize("reason", ["eos_token", "stop_sequence", "eos"])
def test_a_servers_own_name_for_a_finished_answer_is_stop(capsys: pytest.CaptureFixture[str],
                                                          configured: FakeServer, reason: str) -> None:
    """Before, TGI's names were finish 'other': the answer was never cached, and --json said 'other'."""
    configured.script("gpt-4o-mini", Reply(text="Ottawa is the capital of Canada.", finish_reason=reason))
    code, out = ask_json(capsys, "-m", "openai/gpt-4o-mini", "What is the capital of Canada?")
    assert code == 0 and out["finish_reason"] == "stop", out
    code, again = ask_json(capsys, "-m", "openai/gpt-4o-mini", "What is the capital of Canada?")
    assert code == 0 and again["cache"] == "hit" and again["text"] == "Ottawa is the capital of Canada.", again
