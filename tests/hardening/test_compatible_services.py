"""Hosted OpenAI-compatible services (OpenRouter, Groq, Together, DeepSeek) answer in their own
words: their error bodies and statuses are not OpenAI's. Real `chatroute ask`, the official SDK,
the fake server sending each service's own bodies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatroute.routing.health import HealthBoard
from tests.engine.helpers import run_cli, write_config
from tests.fakeserver import FakeServer, Raw, Reply

PROMPT = "Summarise the plot of Hamlet in two lines."
SONNET = "openrouter/anthropic/claude-sonnet-4.5"
GPT4O = "openrouter/openai/gpt-4o"
MINI = "openai/gpt-4o-mini"


def _openrouter(home: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenRouter beside OpenAI, its two models the router's first choices."""
    monkeypatch.setenv("TEST_OPENROUTER_KEY", "sk-or-v1-test")
    write_config(home, server, pool=[SONNET, GPT4O, MINI], extra=f"""cost_weight = 0.0
[providers.openrouter]
base_url = "{server.openai_base_url}"
api_key_env = "TEST_OPENROUTER_KEY"
[models."{SONNET}"]
ability = 0.99
[models."{GPT4O}"]
ability = 0.9
[models."{MINI}"]
ability = 0.3
""")


def _json_error(status: int, body: dict[str, object]) -> Raw:
    return Raw(status=status, body=json.dumps(body).encode(), content_type="application/json")


# OpenRouter answers a prompt its moderation flagged with a 403 (its documented status for it).
FLAGGED = _json_error(403, {"error": {
    "code": 403,
    "message": 'anthropic/claude-sonnet-4.5 requires moderation on Anthropic. Your input was flagged for "violence". '
               "No credits were charged.",
    "metadata": {"reasons": ["violence"], "flagged_input": "...", "provider_name": "Anthropic",
                 "model_slug": "anthropic/claude-sonnet-4.5"}}})


def test_a_prompt_flagged_by_moderation_is_a_refusal_not_a_refused_key(
        configured: FakeServer, chatroute_home: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    _openrouter(chatroute_home, configured, monkeypatch)
    configured.script("anthropic/claude-sonnet-4.5", FLAGGED)
    code, out, err = run_cli(capsys, "ask", "--json", PROMPT)
    answer = json.loads(out)
    # A content-policy refusal is shown, never rerouted, and says nothing against the key.
    assert answer["route"]["reroutes"] == [] and answer["status"] == "error", err
    assert "flagged" in answer["error"] and "key" not in answer["error"], answer["error"]
    assert "TEST_OPENROUTER_KEY" not in err and code == 1, err
    # The key is fine: OpenRouter's other models stay available.
    board = HealthBoard.load(chatroute_home / "health.json")
    assert board.disabled_providers == {} and board.unavailable_reason(GPT4O) is None
    code, out, err = run_cli(capsys, "ask", "--json", "-m", GPT4O, PROMPT)
    assert code == 0 and json.loads(out)["model"] == GPT4O, err


def _upstream(status: int, provider: str, raw: str) -> Raw:
    """OpenRouter's wrapper around the error of the provider it forwarded the request to."""
    return _json_error(status, {"error": {"code": status, "message": "Provider returned error",
                                          "metadata": {"raw": raw, "provider_name": provider}}})


WRAPPED = {
    "overloaded": (_upstream(502, "Anthropic", json.dumps(
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})),
        "overloaded (502)", "Anthropic: Overloaded"),
    "context": (_upstream(400, "Anthropic", json.dumps(
        {"type": "error", "error": {"type": "invalid_request_error",
                                    "message": "prompt is too long: 215000 tokens > 200000 maximum"}})),
        "longer than the model's context window (400)", "Anthropic: prompt is too long: 215000 tokens > 200000"),
    "plain text": (_upstream(429, "Together", "meta-llama/llama-3.1-70b-instruct is temporarily rate-limited "
                                              "upstream. Please retry shortly."),
                   "rate limited (429)", "Together: meta-llama/llama-3.1-70b-instruct is temporarily rate-limited"),
}


@pytest.mark.parametrize("case", list(WRAPPED))
def test_an_upstream_error_openrouter_wraps_is_shown_with_its_cause(
        case: str, configured: FakeServer, chatroute_home: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    step, kind, cause = WRAPPED[case]
    _openrouter(chatroute_home, configured, monkeypatch)
    configured.script("anthropic/claude-sonnet-4.5", step)
    code, out, err = run_cli(capsys, "ask", "-m", SONNET, PROMPT)
    [line] = [line for line in err.splitlines() if line.startswith("chatroute: error:")]
    assert code == 1 and kind in line and cause in line, line


def _groq(home: Path, server: FakeServer, key_env: str) -> None:
    write_config(home, server, pool=[MINI, "groq/llama-3.3-70b-versatile"], extra=f"""
[providers.groq]
base_url = "{server.openai_base_url}"
api_key_env = "{key_env}"
""")


@pytest.mark.parametrize("how", ["-m", "@"])
def test_a_key_variable_that_is_not_set_is_said_before_anything_is_sent(
        how: str, configured: FakeServer, chatroute_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The router already leaves such a model out ('no API key: set GROQ_API_KEY'); a turn the
    user sent to it must not go out with a made-up key, to come back as 'refused the key'."""
    _groq(chatroute_home, configured, "TEST_GROQ_API_KEY")
    model = "groq/llama-3.3-70b-versatile"
    args = ["-m", model, PROMPT] if how == "-m" else [f"@{model} {PROMPT}"]
    code, _, err = run_cli(capsys, "ask", *args)
    [line] = [line for line in err.splitlines() if line.startswith("chatroute: error:")]
    assert code == 2 and "no API key for provider 'groq': set TEST_GROQ_API_KEY" in line, err
    assert "run the same command again" not in line
    assert configured.requests == []


# A Groq key's shape (gsk_ and 52 letters and digits), OpenRouter's, and nothing at all.
NOT_A_VARIABLE = {"groq key": "gsk_" + "a1B2c3D4e5" * 5 + "zz", "openrouter key": "sk-or-v1-" + "0f" * 32,
                  "empty": ""}


@pytest.mark.parametrize("case", list(NOT_A_VARIABLE))
def test_a_key_written_where_its_variable_belongs_is_a_config_error(
        case: str, configured: FakeServer, chatroute_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    value = NOT_A_VARIABLE[case]
    _groq(chatroute_home, configured, value)
    config = chatroute_home / "config.toml"
    line = next(n for n, text in enumerate(config.read_text().splitlines(), 1) if text.startswith("api_key_env") and
                "TEST_" not in text)
    for command in (("models",), ("ask", "-m", "groq/llama-3.3-70b-versatile", PROMPT)):
        code, out, err = run_cli(capsys, *command)
        assert code == 2 and out == "", (command, err)
        [said] = err.splitlines()
        assert said.startswith(f"chatroute: error: {config}:{line}: providers.groq.api_key_env: must name "
                               "an environment variable"), said
        assert value == "" or value not in err  # a key is never printed
    assert configured.requests == []


@pytest.mark.parametrize(("name", "url"), [("groq", "https://api.groq.com/openai/v1"),
                                           ("openrouter", "https://openrouter.ai/api/v1"),
                                           ("vllm", "http://127.0.0.1:8000/v1")])
def test_a_service_without_its_base_url_is_a_config_error(
        name: str, url: str, configured: FakeServer, chatroute_home: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """With no base_url an openai-kind provider is OpenAI's API: Groq's requests, and its key,
    would go to api.openai.com, and its models would be priced as OpenAI's."""
    monkeypatch.setenv("TEST_SERVICE_KEY", "gsk-test")
    write_config(chatroute_home, configured, pool=[MINI, f"{name}/llama-3.3-70b-versatile"], extra=f"""
[providers.{name}]
api_key_env = "TEST_SERVICE_KEY"
""")
    config = chatroute_home / "config.toml"
    line = config.read_text().splitlines().index(f"[providers.{name}]") + 1
    for command in (("models",), ("route", PROMPT)):
        code, out, err = run_cli(capsys, *command)
        assert code == 2 and out == "", (command, err)
        [said] = err.splitlines()
        assert said == (f"chatroute: error: {config}:{line}: providers.{name}: base_url is missing, so its requests "
                        f"(and its key) would go to OpenAI's API; add base_url = \"{url}\""), said


def test_a_second_openai_account_needs_no_base_url(configured: FakeServer, chatroute_home: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TEST_WORK_KEY", "sk-work")
    write_config(chatroute_home, configured, pool=[MINI, "work/gpt-4o"], extra="""
[providers.work]
api_key_env = "TEST_WORK_KEY"
""")
    code, out, err = run_cli(capsys, "models")
    assert code == 0 and "work/gpt-4o" in out, err


def test_a_model_id_with_a_slash_is_named_whole(configured: FakeServer, chatroute_home: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """OpenRouter's `openai/gpt-4o` is the tail of chatroute's `openrouter/openai/gpt-4o`: shown
    alone it reads as chatroute's id for OpenAI's own gpt-4o, which is in the same pool."""
    _openrouter(chatroute_home, configured, monkeypatch)
    code, out, err = run_cli(capsys, "route", "--json", PROMPT)
    decision = json.loads(out)
    assert code == 0 and decision["model"] == SONNET, err
    assert decision["reason"].startswith(f"{SONNET}: "), decision["reason"]
    code, _, err = run_cli(capsys, "ask", "-m", GPT4O, PROMPT)
    assert code == 0 and err.splitlines()[-1].startswith(f"{GPT4O} (override) · "), err
    code, _, err = run_cli(capsys, "ask", "-m", MINI, PROMPT)  # a plain id still drops its provider
    assert code == 0 and err.splitlines()[-1].startswith("gpt-4o-mini (override) · "), err


def test_a_size_guess_never_rates_a_model_above_its_leaderboard_tier(
        configured: FakeServer, chatroute_home: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Groq's llama-3.3-70b-versatile is Llama 3.3 70B, which OpenRouter calls
    meta-llama/llama-3.3-70b-instruct and the leaderboard rates below gpt-4o-mini. '-versatile'
    is no release tag, so the name is not trusted as that model; its 70B was rated 0.55 instead,
    above gpt-4o-mini, and the router sent it prompts it saves for stronger models."""
    monkeypatch.setenv("TEST_OPENROUTER_KEY", "sk-or-v1-test")
    monkeypatch.setenv("TEST_GROQ_KEY", "gsk-test")
    groq, openrouter = "groq/llama-3.3-70b-versatile", "openrouter/meta-llama/llama-3.3-70b-instruct"
    write_config(chatroute_home, configured, pool=[MINI, groq, openrouter], extra=f"""
[providers.groq]
base_url = "{configured.openai_base_url}"
api_key_env = "TEST_GROQ_KEY"
[providers.openrouter]
base_url = "{configured.openai_base_url}"
api_key_env = "TEST_OPENROUTER_KEY"
""")
    code, out, err = run_cli(capsys, "models", "--json")
    assert code == 0, err
    ability = {m["id"]: m["ability"] for m in json.loads(out)["models"]}
    assert ability[groq] == ability[openrouter] < ability[MINI], ability


def _gpu_box(home: Path, server: FakeServer) -> None:
    """A self-hosted server on another machine, configured with no key variable."""
    write_config(home, server, pool=["gpubox/llama-3.1-8b", MINI], extra="""
[providers.gpubox]
kind = "openai"
base_url = "http://gpu-box.example.internal:8000/v1"
[models."gpubox/llama-3.1-8b"]
context_window = 8000
input_cost_per_mtok = 0.0
output_cost_per_mtok = 0.0
""")


def test_a_server_on_another_machine_is_never_advised_the_openai_key(
        configured: FakeServer, chatroute_home: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """With no api_key_env, a base_url on another host would be sent OPENAI_API_KEY: advising to
    set that variable sends the user's OpenAI key to the box. The advice names api_key_env."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    _gpu_box(chatroute_home, configured)
    code, out, err = run_cli(capsys, "route", "--json", PROMPT)
    assert code == 0, err
    [box] = [c for c in json.loads(out)["candidates"] if c["model"] == "gpubox/llama-3.1-8b"]
    assert box["excluded"].startswith("no API key: set api_key_env in the config to gpubox's own key variable")
    assert "OPENAI_API_KEY" not in box["excluded"]
    # Pinned, it is sent a placeholder; a 401 then asks for a key of its own, not OpenAI's.
    monkeypatch.setenv("HTTP_PROXY", configured.openai_base_url.rsplit("/v1", 1)[0])
    monkeypatch.setenv("NO_PROXY", "")
    configured.script("llama-3.1-8b", _json_error(401, {"error": {"message": "Invalid API key", "code": 401}}))
    code, out, err = run_cli(capsys, "ask", "--json", "-m", "gpubox/llama-3.1-8b", PROMPT)
    answer = json.loads(out)
    assert code == 2 and "provider gpubox wants an API key: set api_key_env" in answer["error"], answer["error"]
    assert "OPENAI_API_KEY" not in answer["error"] + err


GROQ = "groq/llama-3.3-70b-versatile"


def _groq_first(home: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch, *others: str,
                groq_window: int | None = None) -> None:
    """Groq's Llama beside OpenAI's (and any others), Groq the router's first choice."""
    monkeypatch.setenv("TEST_GROQ_KEY", "gsk_test")
    pool = [GROQ, MINI, *others]
    abilities = "".join(f'[models."{m}"]\nability = {0.99 - 0.1 * i:.2f}\n' for i, m in enumerate(pool))
    if groq_window:
        abilities = abilities.replace("ability = 0.99\n", f"ability = 0.99\ncontext_window = {groq_window}\n", 1)
    write_config(home, server, pool=pool, extra=f"""cost_weight = 0.0
latency_weight = 0.0
[providers.groq]
base_url = "{server.openai_base_url}"
api_key_env = "TEST_GROQ_KEY"
{abilities}""")


# Groq's flex service tier, when it has no room: its own status, 498, and code capacity_exceeded.
FLEX_FULL = _json_error(498, {"error": {"message": "Flex tier capacity exceeded. Please try again later.",
                                        "type": "capacity_exceeded", "code": "capacity_exceeded"}})


def test_groq_flex_capacity_is_an_overload_not_a_bad_request(
        configured: FakeServer, chatroute_home: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A 498 says the flex tier is full for now: the turn goes elsewhere and Groq cools down, as
    after a 503 or 529. It read as 'bad request', which is never rerouted, so the turn failed."""
    _groq_first(chatroute_home, configured, monkeypatch)
    configured.script("llama-3.3-70b-versatile", FLEX_FULL)
    code, out, err = run_cli(capsys, "ask", "--json", PROMPT)
    answer = json.loads(out)
    assert code == 0 and answer["model"] == MINI, err
    [reroute] = answer["route"]["reroutes"]
    assert (reroute["kind"], reroute["error"], reroute["to"]) == ("overloaded", "498", MINI), reroute
    assert "llama-3.3-70b-versatile 498 → gpt-4o-mini" in err, err
    board = HealthBoard.load(chatroute_home / "health.json")
    assert board.cooldown_remaining(GROQ) > 0 and board.disabled_providers == {}
    # Pinned, it is said as an overload, with the advice to try again.
    configured.script("llama-3.3-70b-versatile", FLEX_FULL)
    code, _, err = run_cli(capsys, "ask", "-m", GROQ, PROMPT)
    [line] = [line for line in err.splitlines() if line.startswith("chatroute: error:")]
    assert code == 1 and f"{GROQ}: overloaded (498): Flex tier capacity exceeded" in line, line
    assert "run the same command again" in line, line


def _tokens_per_minute(headers: dict[str, str], limit: int = 12000, requested: str = "Used 9000, Requested 5137"
                       ) -> Raw:
    """Groq's 413 for a request over the organisation's tokens-per-minute budget, with its
    rate-limit headers (retry-after, which it documents for 429s, only when given)."""
    body = {"error": {"message": "Request too large for model `llama-3.3-70b-versatile` in organization "
                                 "`org_01hw8f0aa0ekmrn70ffm2zkdv1` service tier `on_demand` on tokens per minute "
                                 f"(TPM): Limit {limit}, {requested}, please reduce your message size and try "
                                 "again. Need more tokens? Upgrade to Dev Tier today at "
                                 "https://console.groq.com/settings/billing",
                      "type": "tokens", "code": "rate_limit_exceeded"}}
    return Raw(status=413, body=json.dumps(body).encode(), content_type="application/json",
               headers={"x-ratelimit-limit-tokens": str(limit), "x-ratelimit-remaining-tokens": "0",
                        "x-ratelimit-limit-requests": "1000", "x-ratelimit-remaining-requests": "998",
                        "x-ratelimit-reset-requests": "2m52.8s", **headers})


@pytest.mark.parametrize(("headers", "cooldown"), [
    ({"x-ratelimit-reset-tokens": "48.2s"}, (45, 49)),
    ({"x-ratelimit-reset-tokens": "1m12s"}, (69, 73)),
    ({"retry-after": "20", "x-ratelimit-reset-tokens": "48.2s"}, (17, 21)),
])
def test_groq_tokens_per_minute_413_is_a_rate_limit_not_a_context_overflow(
        headers: dict[str, str], cooldown: tuple[float, float], configured: FakeServer, chatroute_home: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The request fits the model's window; it is over the per-minute token budget. So the turn
    goes to the next model, not to one with a larger window, and Groq waits out the budget's
    reset. It read as 'longer than the model's context window' and went to Claude's 200k
    window past gpt-4o-mini, whose 128k it took for too small."""
    haiku = "anthropic/claude-haiku-4-5"
    _groq_first(chatroute_home, configured, monkeypatch, haiku, groq_window=131072)
    configured.script("llama-3.3-70b-versatile", _tokens_per_minute(headers))
    code, out, err = run_cli(capsys, "ask", "--json", PROMPT)
    answer = json.loads(out)
    assert code == 0 and answer["model"] == MINI, err
    [reroute] = answer["route"]["reroutes"]
    assert (reroute["kind"], reroute["error"], reroute["to"]) == ("rate_limited", "413", MINI), reroute
    left = HealthBoard.load(chatroute_home / "health.json").cooldown_remaining(GROQ)
    assert cooldown[0] <= left <= cooldown[1], left
    # Pinned, it says what it is and when Groq takes it again.
    configured.script("llama-3.3-70b-versatile", _tokens_per_minute(headers))
    code, _, err = run_cli(capsys, "ask", "-m", GROQ, PROMPT)
    [line] = [line for line in err.splitlines() if line.startswith("chatroute: error:")]
    assert code == 1 and f"{GROQ}: rate limited (413, retry after " in line, line
    assert "context window" not in line and "(TPM): Limit 12000, Used 9000, Requested 5137" in line, line


TOGETHER = "together/meta-llama/Llama-3.3-70B-Instruct-Turbo"


def _together(home: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch, base_url: str) -> None:
    """Together AI the router's first choice, at `base_url`."""
    monkeypatch.setenv("TEST_TOGETHER_KEY", "tgp_v1_test")
    write_config(home, server, pool=[TOGETHER, MINI], extra=f"""cost_weight = 0.0
latency_weight = 0.0
[providers.together]
base_url = "{base_url}"
api_key_env = "TEST_TOGETHER_KEY"
[models."{TOGETHER}"]
ability = 0.99
[models."{MINI}"]
ability = 0.3
""")


# What a server answers for a path it has no route for: a web server's page, nothing at all, a Go
# server's text, a Python framework's JSON, OpenAI's own wording. None names a model.
NO_ROUTE = {
    "nginx page": Raw(status=404, body=b"<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center>"
                      b"<h1>404 Not Found</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"),
    "site page": Raw(status=404, body=b"<!DOCTYPE html><html><head><title>Page not found</title></head><body>"
                     b"<nav><a href='/models'>Models</a></nav><h1>404</h1></body></html>"),
    "empty": Raw(status=404, body=b"", content_type="text/plain"),
    "go text": Raw(status=404, body=b"404 page not found", content_type="text/plain; charset=utf-8"),
    "fastapi": _json_error(404, {"detail": "Not Found"}),
    "openai words": _json_error(404, {"error": {"message": "Invalid URL (POST /chat/completions)",
                                                "type": "invalid_request_error", "param": None, "code": None}}),
}


@pytest.mark.parametrize("case", list(NO_ROUTE))
def test_a_base_url_without_v1_is_said_as_a_wrong_endpoint_not_a_missing_model(
        case: str, configured: FakeServer, chatroute_home: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """base_url = "https://api.together.xyz" (no /v1): the first request 404s on the path. That
    read as 'model not found', and the model, which exists, was disabled as missing."""
    _together(chatroute_home, configured, monkeypatch, configured.url)  # no /v1
    configured.script("meta-llama/Llama-3.3-70B-Instruct-Turbo", NO_ROUTE[case])
    code, out, err = run_cli(capsys, "ask", "--json", PROMPT)
    answer = json.loads(out)
    assert code == 0 and answer["model"] == MINI, err
    [reroute] = answer["route"]["reroutes"]
    said = f"openai-compatible endpoint not found at {configured.url}/chat/completions"
    assert reroute["kind"] == "endpoint_not_found" and said in reroute["message"], reroute
    assert "does base_url end in /v1?" in reroute["message"] and "model not found" not in err, reroute
    assert f"{said}: does base_url end in /v1?" in err, err  # on the reroute line
    board = HealthBoard.load(chatroute_home / "health.json")
    assert board.models[TOGETHER].disabled is None  # never disabled as a missing model
    # The base_url is the provider's: its models are left out until the config changes.
    assert "provider together disabled (API endpoint not found: check base_url)" in (
        board.unavailable_reason(TOGETHER) or ""), board.disabled_providers
    # Pinned, the error line says it; a config to fix: exit 2, no advice to run it again.
    configured.script("meta-llama/Llama-3.3-70B-Instruct-Turbo", NO_ROUTE[case])
    code, _, err = run_cli(capsys, "ask", "-m", TOGETHER, PROMPT)
    [line] = [line for line in err.splitlines() if line.startswith("chatroute: error:")]
    assert code == 2 and f"{TOGETHER}: wrong endpoint (404): {said} (" in line, line
    assert "model not found" not in line and "run the same command again" not in line, line
    # base_url fixed: the model answers at once.
    _together(chatroute_home, configured, monkeypatch, configured.openai_base_url)
    code, out, err = run_cli(capsys, "ask", "--json", "What is the capital of France?")
    assert code == 0 and json.loads(out)["model"] == TOGETHER, err


def test_a_real_model_not_found_404_still_disables_the_model(
        configured: FakeServer, chatroute_home: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Together's own answer for a model it does not serve names the model: that is a missing model."""
    _together(chatroute_home, configured, monkeypatch, configured.openai_base_url)
    configured.script("meta-llama/Llama-3.3-70B-Instruct-Turbo", _json_error(404, {"error": {
        "message": "Unable to access model meta-llama/Llama-3.3-70B-Instruct-Turbo. Please visit "
                   "https://api.together.xyz to see the list of supported models or contact the owner to request "
                   "access.", "type": "invalid_request_error", "param": None, "code": "model_not_found"}}))
    code, out, err = run_cli(capsys, "ask", "--json", PROMPT)
    answer = json.loads(out)
    assert code == 0 and answer["model"] == MINI, err
    [reroute] = answer["route"]["reroutes"]
    assert reroute["kind"] == "not_found", reroute
    board = HealthBoard.load(chatroute_home / "health.json")
    assert board.models[TOGETHER].disabled == "model not found" and board.disabled_providers == {}


def test_an_anthropic_base_url_ending_in_v1_is_said_as_a_wrong_endpoint(
        configured: FakeServer, chatroute_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The Anthropic SDK adds /v1/messages itself: base_url = ".../v1" asks /v1/v1/messages."""
    write_config(chatroute_home, configured, pool=[MINI, "anthropic/claude-haiku-4-5"])
    config = chatroute_home / "config.toml"
    config.write_text(config.read_text().replace(f'base_url = "{configured.anthropic_base_url}"',
                                                 f'base_url = "{configured.url}/v1"'))
    configured.script("claude-haiku-4-5", _json_error(404, {"type": "error", "error": {
        "type": "not_found_error", "message": "Not Found"}}))
    code, _, err = run_cli(capsys, "ask", "-m", "anthropic/claude-haiku-4-5", PROMPT)
    [line] = [line for line in err.splitlines() if line.startswith("chatroute: error:")]
    assert code == 2 and (f"wrong endpoint (404): anthropic endpoint not found at {configured.url}/v1/v1/messages "
                          "(base_url should not end in /v1: /v1/messages is added to it)") in line, line


def _short_of_credit(affords: int, wanted: int = 64000, wording: str = "afford") -> Raw:
    """OpenRouter's 402 when the balance (or the key's limit) pays for fewer output tokens than
    max_tokens asks: checked before the request runs, nothing is charged. "limit" is its older
    wording of the same refusal."""
    message = (f"max_tokens limit exceeded: {wanted} > {affords}" if wording == "limit" else
               f"This request requires more credits, or fewer max_tokens. You requested up to {wanted} tokens, "
               f"but can only afford {affords}. To increase, visit https://openrouter.ai/settings/credits and "
               "upgrade to a paid account")
    return _json_error(402, {"error": {"message": message, "code": 402, "metadata": {"provider_name": None}},
                             "user_id": "user_2test"})


@pytest.mark.parametrize("wording", ["afford", "limit"])
@pytest.mark.parametrize("how", ["routed", "pinned"])
def test_credit_for_fewer_output_tokens_asks_again_with_what_it_affords(
        how: str, wording: str, configured: FakeServer, chatroute_home: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """chatroute asks for the model's whole output limit (or none, when it does not know it, and
    OpenRouter then counts the model's own); OpenRouter refuses a request whose max_tokens the
    balance does not cover, though a shorter answer is paid for. That read as a spent quota:
    OpenRouter was disabled, every model of it, and the turn went to gpt-4o-mini."""
    _openrouter(chatroute_home, configured, monkeypatch)
    configured.script("anthropic/claude-sonnet-4.5", _short_of_credit(3021, wording=wording),
                      Reply(text="Hamlet avenges his father."))
    args = ["-m", SONNET, PROMPT] if how == "pinned" else [PROMPT]
    code, out, err = run_cli(capsys, "ask", "--json", *args)
    answer = json.loads(out)
    assert code == 0 and answer["model"] == SONNET and answer["status"] == "ok", err
    assert answer["text"] == "Hamlet avenges his father."
    first, again = configured.requests_for("anthropic/claude-sonnet-4.5")
    assert first.body.get("max_tokens", 64000) > 3021 and again.body["max_tokens"] == 3021
    [retry] = answer["route"]["reroutes"]
    assert (retry["from"], retry["to"], retry["kind"], retry["max_tokens"]) == (SONNET, SONNET, "credit_limited", 3021)
    assert (f"{SONNET} 402 (credits cover only 3,021 output tokens) → again with max_tokens 3,021"
            in err), err
    board = HealthBoard.load(chatroute_home / "health.json")
    assert board.disabled_providers == {} and board.unavailable_reason(GPT4O) is None


@pytest.mark.parametrize("wording", ["afford", "limit"])
def test_credit_for_too_short_an_answer_moves_this_turn_only(
        wording: str, configured: FakeServer, chatroute_home: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """120 tokens is no answer: the turn goes on to the next model, saying why, and OpenRouter
    stays in the pool (a cheaper model of it may well be covered)."""
    _openrouter(chatroute_home, configured, monkeypatch)
    configured.script("anthropic/claude-sonnet-4.5", _short_of_credit(120, wording=wording))
    code, out, err = run_cli(capsys, "ask", "--json", PROMPT)
    answer = json.loads(out)
    assert code == 0 and answer["model"] == GPT4O, err
    [reroute] = answer["route"]["reroutes"]
    assert (reroute["kind"], reroute["to"]) == ("credit_limited", GPT4O), reroute
    assert f"{SONNET} 402 (credits cover only 120 output tokens) → {GPT4O}" in err, err
    assert len(configured.requests_for("anthropic/claude-sonnet-4.5")) == 1
    board = HealthBoard.load(chatroute_home / "health.json")
    assert board.disabled_providers == {} and board.unavailable_reason(SONNET) is None
    # Pinned, it says what the credit covers, and not that the quota is spent.
    configured.script("anthropic/claude-sonnet-4.5", _short_of_credit(120, wording=wording))
    code, _, err = run_cli(capsys, "ask", "-m", SONNET, PROMPT)
    [line] = [line for line in err.splitlines() if line.startswith("chatroute: error:")]
    said = "max_tokens limit exceeded: 64000 > 120" if wording == "limit" else "This request requires more credits"
    assert code == 1 and f"(402): {said}" in line, line
    assert "too short an answer" in line and "quota" not in line, line


@pytest.mark.parametrize("wording", ["afford", "limit"])
def test_credit_for_no_token_at_all_is_a_spent_quota(
        wording: str, configured: FakeServer, chatroute_home: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    _openrouter(chatroute_home, configured, monkeypatch)
    configured.script("anthropic/claude-sonnet-4.5", _short_of_credit(0, wording=wording))
    code, out, err = run_cli(capsys, "ask", "--json", PROMPT)
    answer = json.loads(out)
    assert code == 0 and answer["model"] == MINI and answer["route"]["reroutes"][0]["kind"] == "quota", err
    assert "quota" in (HealthBoard.load(chatroute_home / "health.json").unavailable_reason(GPT4O) or "")


def _prompt_over_credit(sent: int, allowed: int) -> Raw:
    """OpenRouter's 402 when the balance (or the key's limit) pays for fewer prompt tokens than
    the request sends: checked before the request runs, nothing is charged."""
    return _json_error(402, {"error": {
        "message": f"Prompt tokens limit exceeded: {sent} > {allowed}. To increase, visit "
                   "https://openrouter.ai/settings/keys and create a key with a higher monthly limit",
        "code": 402, "metadata": {"provider_name": None}}, "user_id": "user_2test"})


def test_a_prompt_over_what_the_account_allows_moves_this_turn_only(
        configured: FakeServer, chatroute_home: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The prompt is over what the credit pays for at this model's price; a shorter one, or a
    cheaper model, would pass. That read as a spent quota: OpenRouter was disabled, every model
    of it, and the turn went past openrouter/openai/gpt-4o to gpt-4o-mini."""
    _openrouter(chatroute_home, configured, monkeypatch)
    configured.script("anthropic/claude-sonnet-4.5", _prompt_over_credit(230799, 91442))
    code, out, err = run_cli(capsys, "ask", "--json", PROMPT)
    answer = json.loads(out)
    assert code == 0 and answer["model"] == GPT4O, err
    [reroute] = answer["route"]["reroutes"]
    assert (reroute["kind"], reroute["to"]) == ("credit_limited", GPT4O), reroute
    assert "max_tokens" not in reroute, reroute
    assert f"{SONNET} 402 (the account allows 91,442 prompt tokens) → {GPT4O}" in err, err
    assert len(configured.requests_for("anthropic/claude-sonnet-4.5")) == 1
    board = HealthBoard.load(chatroute_home / "health.json")
    assert board.disabled_providers == {} and board.unavailable_reason(SONNET) is None
    assert board.cooldown_remaining(SONNET) == 0
    # Pinned, one line says the prompt is over what the account allows, not that the quota is spent.
    configured.script("anthropic/claude-sonnet-4.5", _prompt_over_credit(230799, 91442))
    code, _, err = run_cli(capsys, "ask", "-m", SONNET, PROMPT)
    [line] = [line for line in err.splitlines() if line.startswith("chatroute: error:")]
    assert code == 1 and (f"{SONNET}: the prompt is over the 91,442 tokens the account allows "
                          "(check the provider's billing) (402): Prompt tokens limit exceeded: 230799 > 91442") in line
    assert "quota" not in line and "run the same command again" not in line, line
    assert HealthBoard.load(chatroute_home / "health.json").disabled_providers == {}


def test_groq_413_for_more_than_the_whole_per_minute_limit_moves_on_without_a_cooldown(
        configured: FakeServer, chatroute_home: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The request alone asks for more than Groq allows in a whole minute: no wait lets it
    through, so it is this request too large for Groq, not a budget to wait out. It cooled Groq
    down for the budget's reset (48 s) and said 'rate limited … retry after 48 s' to a pinned turn."""
    _groq_first(chatroute_home, configured, monkeypatch, groq_window=131072)
    too_large = _tokens_per_minute({"x-ratelimit-reset-tokens": "48.2s", "retry-after": "20"}, 6000, "Requested 9000")
    configured.script("llama-3.3-70b-versatile", too_large)
    code, out, err = run_cli(capsys, "ask", "--json", PROMPT)
    answer = json.loads(out)
    assert code == 0 and answer["model"] == MINI, err
    [reroute] = answer["route"]["reroutes"]
    assert (reroute["kind"], reroute["error"], reroute["to"]) == ("request_too_large", "413", MINI), reroute
    assert ("llama-3.3-70b-versatile 413 (request too large for groq: 9,000 tokens, over its whole 6,000 a minute)"
            " → gpt-4o-mini") in err, err
    board = HealthBoard.load(chatroute_home / "health.json")
    assert board.cooldown_remaining(GROQ) == 0 and board.disabled_providers == {}
    assert board.unavailable_reason(GROQ) is None
    # The next turn may go to Groq at once: a smaller request fits its minute.
    configured.script("llama-3.3-70b-versatile", Reply(text="Short answer."))
    code, out, err = run_cli(capsys, "ask", "--json", "Hi")
    assert code == 0 and json.loads(out)["model"] == GROQ, err
    # Pinned, one line says the request is too large for the provider, with no wait to retry after.
    configured.script("llama-3.3-70b-versatile", too_large)
    code, _, err = run_cli(capsys, "ask", "-m", GROQ, PROMPT)
    [line] = [line for line in err.splitlines() if line.startswith("chatroute: error:")]
    assert code == 1 and (f"{GROQ}: the request is over the provider's whole per-minute token limit "
                          "(no wait lets it through) (413): Request too large") in line, line
    assert "retry after" not in line and "run the same command again" not in line, line
    assert "Limit 6000, Requested 9000" in line, line
    assert HealthBoard.load(chatroute_home / "health.json").cooldown_remaining(GROQ) == 0
