"""max_tokens as sent: the model's output limit from the catalogue, and never more than its
context window leaves after the input. The window holds the prompt and the answer, and a real
API refuses a request whose input plus max_tokens pass it (Anthropic: "input length and
`max_tokens` exceed context limit", OpenAI: "you requested N tokens (… in the messages, … in
the completion)"), though the router's size filter and the history window had found it fits."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from chatroute.catalog.tokens import count_messages
from chatroute.engine import Engine
from tests.engine.helpers import ask_json, write_config
from tests.fakeserver import FakeServer, Fault

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


UNSUPPORTED_MAX_TOKENS = ("Unsupported parameter: 'max_tokens' is not supported with this model. "
                          "Use 'max_completion_tokens' instead.")


@pytest.mark.parametrize("model", ["openai/gpt-5", "openai/o4-mini"])
def test_a_reasoning_model_behind_a_gateway_gets_max_completion_tokens(capsys: pytest.CaptureFixture[str],
                                                                       configured: FakeServer, model: str) -> None:
    """OpenAI's reasoning models (o-series, gpt-5) refuse max_tokens: they take
    max_completion_tokens. chatroute sends that to api.openai.com, and max_tokens, which compatible
    servers know, to any other base_url: so OpenAI itself behind a gateway that passes requests on
    (Cloudflare AI Gateway, Helicone, a company proxy) refused every turn on such a model with
    'bad request (400)'. Now the request is sent again with max_completion_tokens, once, and
    while chatroute runs (the TUI, serve) the model is asked so at once."""
    name = model.split("/")[1]
    configured.script(name, Fault(status=400, code="unsupported_parameter", message=UNSUPPORTED_MAX_TOKENS))
    code, out = ask_json(capsys, "--no-cache", "-m", model, "Say hi.")
    assert code == 0 and out["status"] == "ok" and out["text"] == f"Echo from {name}: Say hi.", out
    refused, answered = configured.requests_for(name)
    assert "max_tokens" in refused.body and "max_completion_tokens" not in refused.body
    assert "max_tokens" not in answered.body and answered.body["max_completion_tokens"] == refused.body["max_tokens"]

    # A running chatroute (the TUI, serve) asks it so from then on.
    configured.reset()
    configured.script(name, Fault(status=400, code="unsupported_parameter", message=UNSUPPORTED_MAX_TOKENS))
    engine = Engine.open()

    async def two_turns() -> None:
        try:
            for prompt in ("One.", "Two."):
                async for _ in engine.run_turn(None, prompt, override=model, use_cache=False):
                    pass
        finally:
            await engine.aclose()

    asyncio.run(two_turns())
    assert [sorted(k for k in r.body if "tokens" in k) for r in configured.requests_for(name)] == [
        ["max_tokens"], ["max_completion_tokens"], ["max_completion_tokens"]]


def test_the_max_tokens_anthropic_requires_fits_the_window_too(capsys: pytest.CaptureFixture[str],
                                                                configured: FakeServer, chatroute_home: Path) -> None:
    """A model with a context window but no output limit in the config (a local server's
    Anthropic endpoint: llama.cpp, vLLM) is sent no max_tokens on OpenAI's wire, but Anthropic's
    requires one, and the adapter's 4,096 was sent whatever the window: past a 3,000-token window
    with any prompt, so such a server refused every request ("you requested 4,110 tokens")."""
    write_config(chatroute_home, configured, extra='[models."anthropic/local-4k"]\ncontext_window = 3000\n'
                                                   "input_cost_per_mtok = 0.0\noutput_cost_per_mtok = 0.0\n")
    code, out = ask_json(capsys, "--no-cache", "-m", "anthropic/local-4k", "Say hi.")
    assert code == 0 and out["status"] == "ok", out
    request = configured.requests[-1]
    size, _ = count_messages(request.messages, None, "anthropic/local-4k")
    assert 16 <= _max_tokens(request.body) <= 3000 - size


@pytest.mark.parametrize("kind", ["anthropic", "openai"])
def test_a_turns_expected_answer_stops_at_the_max_tokens_its_wire_sends(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path, kind: str) -> None:
    """A model with no output limit known: Anthropic's wire is sent 4,096 as max_tokens (it
    requires one), so the turn's answer cannot run past it, and `route` prices it at 4,096, not
    at the ~6,750 tokens predicted for a 5,000-word story (before, the predicted length). OpenAI's
    wire is sent none, so the predicted length stands there."""
    import json

    from chatroute.providers.base import ANTHROPIC_DEFAULT_MAX_TOKENS
    from chatroute.routing.sizing import expected_output_tokens_for
    from tests.engine.helpers import list_cost, run_cli

    model = f"{kind}/local-big"
    write_config(chatroute_home, configured, pool=[model],
                 extra=f'[models."{model}"]\ncontext_window = 200000\n'
                       "input_cost_per_mtok = 1.0\noutput_cost_per_mtok = 5.0\n")
    prompt = "Write a short story about a lighthouse keeper in 5000 words."
    predicted = expected_output_tokens_for(prompt)
    assert predicted > ANTHROPIC_DEFAULT_MAX_TOKENS
    code, out, err = run_cli(capsys, "route", "--json", prompt)
    assert code == 0, err
    decided = json.loads(out)
    [cand] = decided["candidates"]
    answer = ANTHROPIC_DEFAULT_MAX_TOKENS if kind == "anthropic" else predicted
    assert cand["expected_cost_usd"] == pytest.approx(list_cost(model, decided["expected_input_tokens"], answer))
    code, _ = ask_json(capsys, "--no-cache", prompt)
    assert code == 0
    sent = configured.requests[-1].body
    assert sent.get("max_tokens") == (ANTHROPIC_DEFAULT_MAX_TOKENS if kind == "anthropic" else None), sent
