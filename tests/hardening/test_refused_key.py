"""A refused key (401 / 403) names the provider and the variable the key came from, in the
reroute line of a routed turn (live, in --json and reopened) and in a pinned turn's error, for
both wire formats: the user must know which key to fix, not only that some key failed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatroute.format import reroute_line
from tests.engine.helpers import run_cli, write_config
from tests.fakeserver import FakeServer, Fault

PROMPT = "Summarise the plot of Hamlet in two lines."
TARGET = {"openai": ("openai/gpt-4o-mini", "TEST_OPENAI_KEY"), "anthropic": ("anthropic/claude-haiku-4-5",
                                                                            "TEST_ANTHROPIC_KEY")}


def _configure(home: Path, server: FakeServer, wire: str) -> tuple[str, str, str]:
    target, env = TARGET[wire]
    other = "anthropic/claude-haiku-4-5" if wire == "openai" else "openai/gpt-4o-mini"
    write_config(home, server, pool=[target, other], extra=f"""cost_weight = 0.0
[models."{target}"]
ability = 0.99
[models."{other}"]
ability = 0.3
""")
    return target, env, other


@pytest.mark.parametrize("status", [401, 403])
@pytest.mark.parametrize("wire", ["openai", "anthropic"])
def test_a_routed_turn_names_the_refused_key(wire: str, status: int, configured: FakeServer, chatroute_home: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    target, env, other = _configure(chatroute_home, configured, wire)
    configured.script(target.split("/", 1)[1], Fault(status=status))
    code, out, err = run_cli(capsys, "ask", "--json", PROMPT)
    answer = json.loads(out)
    assert code == 0 and answer["model"] == other, err
    [reroute] = answer["route"]["reroutes"]
    line = reroute_line(reroute)  # as the TUI shows it, live and reopened
    provider = target.split("/", 1)[0]
    assert env in line and provider in line, line
    assert f"chatroute: {line}" in err


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
def test_a_pinned_turn_names_the_refused_key(wire: str, configured: FakeServer, chatroute_home: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    target, env, _ = _configure(chatroute_home, configured, wire)
    configured.script(target.split("/", 1)[1], Fault(status=401))
    code, out, err = run_cli(capsys, "ask", "-m", target, PROMPT)
    [line] = [line for line in err.splitlines() if line.startswith("chatroute: error:")]
    assert code == 2 and env in line and f"provider {target.split('/', 1)[0]}" in line, line


def test_a_key_written_in_the_config_is_named_as_such(configured: FakeServer, chatroute_home: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    config = chatroute_home / "config.toml"
    config.write_text(config.read_text().replace('api_key_env = "TEST_OPENAI_KEY"', 'api_key = "sk-inline-123456"'))
    config.chmod(0o600)
    configured.script("gpt-4o-mini", Fault(status=401))
    code, _, err = run_cli(capsys, "ask", "-m", "openai/gpt-4o-mini", PROMPT)
    [line] = [line for line in err.splitlines() if line.startswith("chatroute: error:")]
    assert code == 2 and "api_key in the config" in line and "sk-inline" not in line, line


@pytest.mark.parametrize("fault", [Fault(status=401), Fault(status=429, code="insufficient_quota",
                                                              error_type="insufficient_quota")])
def test_an_answer_from_the_provider_lifts_its_disable(fault: Fault, configured: FakeServer, chatroute_home: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    # The key was fixed at the provider's end, or the quota topped up: the config does not change,
    # so a turn pinned to the provider that answers is what says it works again.
    target, _, other = _configure(chatroute_home, configured, "openai")
    configured.script(target.split("/", 1)[1], fault)
    code, out, _ = run_cli(capsys, "ask", "--json", PROMPT)
    assert json.loads(out)["model"] == other
    code, out, _ = run_cli(capsys, "ask", "--json", PROMPT + " Again.")
    assert json.loads(out)["model"] == other  # skipped while it is disabled
    code, out, err = run_cli(capsys, "ask", "--json", "-m", target, PROMPT)
    assert code == 0 and json.loads(out)["model"] == target, err
    code, out, _ = run_cli(capsys, "ask", "--json", "What is the capital of France?")
    assert json.loads(out)["model"] == target
