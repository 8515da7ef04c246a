"""What hosted OpenAI-compatible services cost, as chatroute prices and says it: OpenRouter
configured as it is hosted (https://openrouter.ai, so priced as OpenRouter), its requests sent to
the fake server through an HTTP proxy. Real `chatroute` commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.helpers import run_cli, write_config
from tests.fakeserver import FakeServer

PROMPT = "Summarise the plot of Hamlet in two lines."
SONNET = "openrouter/anthropic/claude-sonnet-4.5"


def _openrouter(home: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch, pool: list[str]) -> None:
    """OpenRouter at its own host (plain http, so a proxy can stand in for it) beside OpenAI
    and Anthropic, whose own models the catalogue lists too."""
    monkeypatch.setenv("TEST_OPENROUTER_KEY", "sk-or-v1-test")
    monkeypatch.setenv("HTTP_PROXY", server.openai_base_url.rsplit("/v1", 1)[0])
    monkeypatch.setenv("NO_PROXY", "")
    write_config(home, server, pool=pool, extra="""
[providers.openrouter]
base_url = "http://openrouter.ai/api/v1"
api_key_env = "TEST_OPENROUTER_KEY"
""")


def _suggested(line: str) -> list[str]:
    return line.split("did you mean ", 1)[1].split("?", 1)[0].split(", ") if "did you mean " in line else []


def test_a_name_openrouter_does_not_price_is_never_suggested_another_providers_model(
        configured: FakeServer, chatroute_home: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """`openrouter/anthropic/claude-sonet-4.5` was answered 'did you mean
    anthropic/claude-sonnet-4-5, anthropic/claude-sonnet-5, …': Anthropic's own models, another
    provider with another key, not a name to write under OpenRouter."""
    typo, llama = "openrouter/anthropic/claude-sonet-4.5", "openrouter/meta-llama/llama-3.3-70b-instruct"
    _openrouter(chatroute_home, configured, monkeypatch, ["openai/gpt-4o-mini", typo, llama, SONNET])
    code, _, err = run_cli(capsys, "models")
    assert code == 0, err
    said = {ref: line for line in err.splitlines() for ref in (typo, llama)
            if line.startswith(f"chatroute: warning: router.pool: '{ref}' is not in the price table for 'openrouter'")}
    assert set(said) == {typo, llama}, err
    assert _suggested(said[typo]) == [SONNET], said[typo]  # the pool's priced OpenRouter Sonnet, listed after it
    assert _suggested(said[llama]) == [], said[llama]  # nothing OpenRouter prices is close
    # A name given on the command line that OpenRouter does not price: its suggestions too.
    code, _, err = run_cli(capsys, "ask", "-m", "openrouter/anthropic/claude-sonnet-4.7", PROMPT)
    [line] = [line for line in err.splitlines() if line.startswith("chatroute: error:")]
    assert code == 2 and "for provider 'openrouter'" in line, line
    assert _suggested(line) and all(s.startswith("openrouter/") for s in _suggested(line)), line
    assert configured.requests == []
