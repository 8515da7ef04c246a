"""A usage report with counts left out or null, as some OpenAI-compatible servers send it, through
the real openai SDK and `chatroute ask`: a count the server did not give is counted, never billed
as zero tokens."""

from __future__ import annotations

import pytest

from tests.engine.helpers import ask_json
from tests.fakeserver import FakeServer, Reply

MODEL = "openai/gpt-4o-mini"
ANSWER = "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen inside the leaf."


def test_a_report_with_no_output_count_has_the_output_counted(capsys: pytest.CaptureFixture[str],
                                                              configured: FakeServer) -> None:
    """Before: 40→0 tokens, exact, the answer's output free."""
    configured.script("gpt-4o-mini", Reply(text=ANSWER, input_tokens=40,
                                           usage_extra={"completion_tokens": None, "total_tokens": None}))
    code, out = ask_json(capsys, "--no-cache", "-m", MODEL, "Explain photosynthesis in a sentence.")
    assert code == 0 and out["text"] == ANSWER, out
    tokens = out["tokens"]
    assert tokens["input"] == 40 and tokens["output"] > 10 and tokens["estimated"], tokens


def test_a_report_with_only_a_total_bills_what_it_holds_beyond_the_prompt(capsys: pytest.CaptureFixture[str],
                                                                          configured: FakeServer) -> None:
    configured.script("gpt-4o-mini", Reply(text=ANSWER, input_tokens=40, output_tokens=17,
                                           usage_extra={"completion_tokens": None}))
    code, out = ask_json(capsys, "--no-cache", "-m", MODEL, "Explain photosynthesis in a sentence.")
    assert code == 0, out
    assert (out["tokens"]["input"], out["tokens"]["output"], out["tokens"]["estimated"]) == (40, 17, False)


def test_a_report_with_no_input_count_is_an_estimate(capsys: pytest.CaptureFixture[str],
                                                     configured: FakeServer) -> None:
    """Before: 0→17 tokens, exact, the prompt free."""
    configured.script("gpt-4o-mini", Reply(text=ANSWER, output_tokens=17, usage_extra={"prompt_tokens": None}))
    code, out = ask_json(capsys, "--no-cache", "-m", MODEL, "Explain photosynthesis in a sentence.")
    assert code == 0, out
    assert out["tokens"]["input"] > 0 and out["tokens"]["estimated"], out["tokens"]
