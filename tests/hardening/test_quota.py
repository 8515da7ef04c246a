"""An exhausted quota or credit balance is a billing problem, not a rate limit: retrying in a few
seconds cannot help, and every model of that account fails the same way. So a routed turn moves
to another provider, says why, and chatroute stops trying that provider; a pinned turn says the
quota is used up, with no advice to run the same command again. Real `chatroute ask`, official
SDKs, the fake server in each wire format's own words."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatroute.routing.health import HealthBoard
from tests.engine.helpers import run_cli, write_config
from tests.fakeserver import FakeServer, Fault, Reply

PROMPT = "Summarise the plot of Hamlet in two lines."
OPENAI_QUOTA = Fault(status=429, error_type="insufficient_quota", code="insufficient_quota",
                     message="You exceeded your current quota, please check your plan and billing details.")
# Anthropic answers a spent balance with a 400 invalid_request_error (and documents 402 billing_error).
ANTHROPIC_CREDIT = Fault(status=400, error_type="invalid_request_error",
                         message="Your credit balance is too low to access the Anthropic API. "
                                 "Please go to Plans & Billing to upgrade or purchase credits.")
ANTHROPIC_BILLING = Fault(status=402, error_type="billing_error", message="Your account has a billing issue.")
CASES = {
    "openai-insufficient-quota": ("openai", OPENAI_QUOTA),
    "anthropic-credit-balance": ("anthropic", ANTHROPIC_CREDIT),
    "anthropic-402-billing": ("anthropic", ANTHROPIC_BILLING),
}
MODELS = {"openai": ["openai/gpt-4o-mini", "openai/gpt-4o"],
          "anthropic": ["anthropic/claude-haiku-4-5", "anthropic/claude-sonnet-4-5"]}


def _configure(home: Path, server: FakeServer, wire: str) -> tuple[str, str, str]:
    """A pool of two models on the failing provider, the router's first choices, and one other."""
    first, second = MODELS[wire]
    other = "anthropic/claude-haiku-4-5" if wire == "openai" else "openai/gpt-4o-mini"
    write_config(home, server, pool=[first, second, other], extra=f"""cost_weight = 0.0
[models."{first}"]
ability = 0.99
[models."{second}"]
ability = 0.9
[models."{other}"]
ability = 0.3
""")
    return first, second, other


@pytest.mark.parametrize("case", list(CASES))
def test_a_spent_quota_moves_off_the_provider_and_says_so(case: str, configured: FakeServer, chatroute_home: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    wire, fault = CASES[case]
    first, second, other = _configure(chatroute_home, configured, wire)
    configured.script(first.split("/", 1)[1], fault)
    code, out, err = run_cli(capsys, "ask", "--json", PROMPT)
    answer = json.loads(out)
    assert code == 0 and answer["model"] == other, err
    [reroute] = answer["route"]["reroutes"]
    assert (reroute["from"], reroute["kind"], reroute["error"], reroute["to"]) == (first, "quota", "quota", other)
    assert "quota →" in err, err
    # The whole account is out, not one model: the provider's other model is not tried next,
    # and not on the next turn either, long after a rate limit's cooldown.
    assert [r.model for r in configured.requests] == [first.split("/", 1)[1], other.split("/", 1)[1]]
    board = HealthBoard.load(chatroute_home / "health.json")
    assert "quota" in (board.unavailable_reason(second) or ""), board.disabled_providers
    configured.requests.clear()
    code, out, err = run_cli(capsys, "ask", "--json", "What is the capital of France?")
    assert code == 0 and json.loads(out)["model"] == other, err
    assert [r.model for r in configured.requests] == [other.split("/", 1)[1]]


@pytest.mark.parametrize("case", list(CASES))
def test_a_pinned_turn_says_the_quota_is_spent(case: str, configured: FakeServer, chatroute_home: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    wire, fault = CASES[case]
    first, _, _ = _configure(chatroute_home, configured, wire)
    configured.script(first.split("/", 1)[1], fault)
    code, out, err = run_cli(capsys, "ask", "-m", first, PROMPT)
    [line] = [line for line in err.splitlines() if line.startswith("chatroute: error:")]
    assert code == 1 and out == ""
    assert "quota" in line and "billing" in line, line
    assert "rate limited" not in line and "run the same command again" not in line, line
    assert "Traceback" not in err


def test_a_rate_limit_is_still_a_rate_limit(configured: FakeServer, chatroute_home: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    first, second, _ = _configure(chatroute_home, configured, "openai")
    configured.script(first.split("/", 1)[1], Fault(status=429, retry_after=30))
    configured.script(second.split("/", 1)[1], Reply(text="fine"))
    code, out, err = run_cli(capsys, "ask", "--json", PROMPT)
    answer = json.loads(out)
    assert code == 0 and answer["model"] == second, err
    assert answer["route"]["reroutes"][0]["kind"] == "rate_limited"


def test_serve_passes_a_spent_quota_on_as_openai_does(tmp_path: Path, fake_server: FakeServer) -> None:
    import httpx

    from tests.serve.conftest import start_served

    served = start_served(tmp_path, fake_server)
    try:
        fake_server.script("gpt-4o", OPENAI_QUOTA)
        r = httpx.post(served.url + "/chat/completions", headers={"authorization": f"Bearer {served.token}"},
                       json={"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
    finally:
        served.stop()
    error = r.json()["error"]
    # A client's own logic knows this code: no use retrying it.
    assert r.status_code == 429 and error["code"] == "insufficient_quota", r.text
    assert "quota" in error["message"] and "billing" in error["message"]
