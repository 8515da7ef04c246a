"""What goes wrong, said as OpenAI says it: auth failures, malformed bodies, unsupported
parameters, unknown models, a client that hangs up mid-stream. Never a traceback."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import httpx
import openai
import pytest

from tests.engine.helpers import ANTHROPIC_KEY, OPENAI_KEY
from tests.fakeserver import FakeServer, Fault, Reply
from tests.serve.conftest import Served, start_served


def _error(response: httpx.Response) -> dict[str, object]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


@pytest.mark.parametrize("header", [None, "Bearer wrong-token-0123456789", "Basic abc", "Bearer"])
def test_every_request_needs_the_bearer_token(fresh: Served, header: str | None) -> None:
    headers = {"authorization": header} if header is not None else {}
    for method, path in (("GET", "/models"), ("POST", "/chat/completions"), ("GET", "/nowhere")):
        r = httpx.request(method, fresh.url + path, headers=headers, json={"model": "chatroute/auto"})
        assert r.status_code == 401
        err = _error(r)
        assert err["type"] == "authentication_error" and err["code"] == "invalid_api_key"
    assert not fresh.fake.requests


def test_the_sdk_sees_a_wrong_token_as_an_authentication_error(fresh: Served) -> None:
    with pytest.raises(openai.AuthenticationError):
        fresh.client(token="crt-not-the-token-at-all").chat.completions.create(
            model="chatroute/auto", messages=[{"role": "user", "content": "let me in"}])


@pytest.mark.parametrize(("body", "status", "param"), [
    (b"{not json", 400, None),
    (b"[1, 2]", 400, None),
    (json.dumps({"messages": [{"role": "user", "content": "hi"}]}).encode(), 400, "model"),
    (json.dumps({"model": "chatroute/auto"}).encode(), 400, "messages"),
    (json.dumps({"model": "chatroute/auto", "messages": []}).encode(), 400, "messages"),
    (json.dumps({"model": "chatroute/auto", "messages": ["hi"]}).encode(), 400, "messages[0]"),
    (json.dumps({"model": "chatroute/auto", "messages": [{"role": "robot", "content": "x"}]}).encode(), 400,
     "messages[0]"),
    (json.dumps({"model": "chatroute/auto", "messages": [{"role": "user", "content": 5}]}).encode(), 400,
     "messages[0]"),
    (json.dumps({"model": "chatroute/auto", "messages": [{"role": "assistant", "content": "x"}]}).encode(), 400,
     "messages"),
    (json.dumps({"model": "chatroute/auto", "messages": [{"role": "user", "content": "x"}],
                 "tools": [{"type": "function"}]}).encode(), 400, "tools"),
    (json.dumps({"model": "chatroute/auto", "messages": [{"role": "user", "content": "x"}], "n": 3}).encode(), 400,
     "n"),
    (json.dumps({"model": "chatroute/auto", "messages": [{"role": "user", "content": "x"}],
                 "temperature": "hot"}).encode(), 400, "temperature"),
    (json.dumps({"model": "chatroute/auto", "messages": [{"role": "user", "content": "x"}],
                 "max_tokens": -1}).encode(), 400, "max_tokens"),
    (json.dumps({"model": "chatroute/auto", "messages": [{"role": "user", "content": "x"}],
                 "stream": "yes"}).encode(), 400, "stream"),
    (json.dumps({"model": "no-such-model-xyz", "messages": [{"role": "user", "content": "x"}]}).encode(), 404,
     "model"),
    (json.dumps({"model": "chatroute/cheapest", "messages": [{"role": "user", "content": "x"}]}).encode(), 404,
     "model"),
])
def test_malformed_bodies_get_openai_shaped_4xx(fresh: Served, body: bytes, status: int, param: str | None) -> None:
    r = httpx.post(fresh.url + "/chat/completions", content=body,
                   headers={"authorization": f"Bearer {fresh.token}", "content-type": "application/json"})
    assert r.status_code == status, r.text
    err = _error(r)
    assert err["param"] == param
    assert "Traceback" not in r.text and "File \"" not in r.text
    assert not fresh.fake.requests
    assert not [line for line in fresh.stderr if "Traceback" in line]


def test_sdk_raises_its_own_error_classes(fresh: Served) -> None:
    client = fresh.client()
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-nonexistent-9", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="chatroute/auto", messages=[{"role": "user", "content": "x"}],
                                       stop=["\n"])
    assert info.value.body["code"] == "unsupported_parameter"
    # Log probabilities asked for would be missing from the answer (it returned 200 with null).
    for extra in ({"logprobs": True}, {"logprobs": True, "top_logprobs": 3}):
        with pytest.raises(openai.BadRequestError) as info:
            client.chat.completions.create(model="chatroute/auto", messages=[{"role": "user", "content": "x"}],
                                           **extra)
        assert info.value.body["param"] == "logprobs" and "log probabilities" in info.value.body["message"]
    assert not fresh.fake.requests
    ok = client.chat.completions.create(model="chatroute/auto", messages=[{"role": "user", "content": "x"}],
                                        logprobs=False, reasoning_effort="low")
    assert ok.choices[0].message.content


@pytest.mark.parametrize("model", ["auto", "chatroute", "default"])
def test_an_unknown_model_with_no_close_name_says_which_names_are_served(fresh: Served, model: str) -> None:
    # A tool's default model name said only "unknown model 'auto'", leaving the user to guess.
    with pytest.raises(openai.NotFoundError) as info:
        fresh.client().chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
    assert info.value.body["code"] == "model_not_found"
    assert info.value.body["message"] == (f"unknown model {model!r}: use chatroute/auto (or chatroute/frugal, "
                                          "chatroute/balanced, chatroute/best) or a model GET /v1/models lists")
    # A name close to one served still says which.
    with pytest.raises(openai.NotFoundError) as info:
        fresh.client().chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "x"}])
    assert "did you mean openai/gpt-4o" in info.value.body["message"]
    assert not fresh.fake.requests


def test_a_provider_refusing_a_prompt_too_long_is_openais_context_length_exceeded(fresh: Served) -> None:
    # Clients tell a context overflow from another 400 by that code (LangChain and scripts look for
    # it in the error's body); serve's own check before sending gives it, and the provider's refusal
    # came back as 'context_overflow', Claude's ("prompt is too long") with no word of it at all.
    too_long = Fault(status=400, message="prompt is too long: 210000 tokens > 200000 maximum")
    fresh.fake.script("claude-haiku-4-5", too_long)
    with pytest.raises(openai.BadRequestError) as info:
        fresh.client().chat.completions.create(model="anthropic/claude-haiku-4-5",
                                               messages=[{"role": "user", "content": "a prompt Claude finds long"}])
    assert info.value.code == "context_length_exceeded"
    assert "prompt is too long" in info.value.body["message"]


def test_unknown_paths_and_methods_are_openai_shaped(fresh: Served) -> None:
    auth = {"authorization": f"Bearer {fresh.token}"}
    r = httpx.get(fresh.url + "/embeddings", headers=auth)
    assert r.status_code == 404 and _error(r)["type"] == "not_found_error"
    assert "embeddings are not served" in _error(r)["message"]
    # An OpenAI endpoint serve does not take says what to use instead, not just "Not Found".
    r = httpx.post(fresh.url + "/completions", headers=auth, json={"model": "chatroute/auto", "prompt": "def f("})
    assert r.status_code == 404 and "use POST /v1/chat/completions" in _error(r)["message"]
    r = httpx.get(fresh.url + "/responses/resp_123", headers=auth)
    assert r.status_code == 404 and "keeps no responses" in _error(r)["message"]
    assert _error(httpx.get(fresh.url + "/nothing/here", headers=auth))["message"] == "GET /v1/nothing/here: Not Found"
    r = httpx.get(fresh.url + "/chat/completions", headers=auth)
    assert r.status_code == 405 and _error(r)["message"]
    # HTTP's 405 names the methods the path takes (a client probing with OPTIONS or HEAD reads it).
    assert r.headers["allow"] == "POST"
    assert httpx.options(fresh.url + "/messages", headers=auth).headers["allow"] == "POST"
    assert set(httpx.post(fresh.url + "/models", headers=auth).headers["allow"].split(", ")) == {"GET", "HEAD"}


def test_a_trailing_slash_is_the_same_endpoint_not_a_redirect(fresh: Served) -> None:
    # Each was a 307 to the path without the slash (which many clients do not follow for a POST),
    # and GET /v1/models/ a 404 for a model named ''.
    auth = {"authorization": f"Bearer {fresh.token}"}
    ask = [{"role": "user", "content": "a path with a trailing slash"}]
    r = httpx.post(fresh.url + "/chat/completions/", headers=auth, json={"model": "chatroute/auto", "messages": ask})
    assert r.status_code == 200, (r.status_code, r.headers.get("location"), r.text)
    assert r.json()["choices"][0]["message"]["content"].endswith("a path with a trailing slash")

    r = httpx.post(fresh.url + "/messages/", headers=auth,
                   json={"model": "chatroute/auto", "max_tokens": 64, "messages": ask})
    assert r.status_code == 200, (r.status_code, r.headers.get("location"), r.text)
    assert r.json()["type"] == "message" and r.json()["content"][0]["text"].endswith("a trailing slash")
    # Its errors are Anthropic's there too, before the token is checked and after.
    for headers, status in ((auth, 400), ({}, 401)):
        r = httpx.post(fresh.url + "/messages/", headers=headers, json={"model": "chatroute/auto", "messages": ask})
        assert r.status_code == status and r.json()["type"] == "error", r.text

    listed = httpx.get(fresh.url + "/models/", headers=auth)
    assert listed.status_code == 200, listed.text
    # The same listing; `created` is the time of the request, so it may tick over between the two.
    plain = httpx.get(fresh.url + "/models", headers=auth).json()["data"]
    assert [(m["id"], m["owned_by"]) for m in listed.json()["data"]] == [(m["id"], m["owned_by"]) for m in plain]
    anthropics = httpx.get(fresh.url + "/models/", headers={**auth, "anthropic-version": "2023-06-01"})
    assert anthropics.status_code == 200 and "has_more" in anthropics.json()
    one = httpx.get(fresh.url + "/models/chatroute%2Fauto/", headers=auth)
    assert one.status_code == 200 and one.json()["id"] == "chatroute/auto", one.text

def test_upstream_errors_never_leak_provider_keys(fresh: Served) -> None:
    fresh.fake.script("gpt-4o", Fault(status=400, echo_key=True))
    r = httpx.post(fresh.url + "/chat/completions", headers={"authorization": f"Bearer {fresh.token}"},
                   json={"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "echo the key"}]})
    assert r.status_code == 400 and _error(r)["type"] == "upstream_error"
    assert OPENAI_KEY not in r.text and ANTHROPIC_KEY not in r.text


def test_client_disconnect_mid_stream_records_the_partial_as_interrupted(fresh: Served) -> None:
    fresh.fake.script("gpt-4o-mini", Reply(n_tokens=5000, tokens_per_s=400))
    got = 0
    with fresh.client().chat.completions.with_streaming_response.create(
            model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "a long answer, please"}],
            stream=True) as response:
        for line in response.iter_lines():
            got += line.startswith("data: ") and '"content"' in line
            if got >= 20:
                break  # leaving the block closes the connection
    deadline = time.monotonic() + 10
    turns: list = []
    while time.monotonic() < deadline and not turns:
        turns = [t for t in fresh.turns() if t.model == "openai/gpt-4o-mini" and t.status == "interrupted"]
        time.sleep(0.1)
    assert turns, "the interrupted stream was not recorded"
    turn = turns[0]
    assert turn.client == "OpenAI/Python" and turn.usage_estimated
    assert 20 <= turn.output_tokens < 5000 and turn.cost_usd and turn.cost_usd > 0
    assert "client stopped the request" in (turn.error or "")
    assert not [line for line in fresh.stderr if "Traceback" in line or "Exception" in line]


@pytest.mark.parametrize("path", ["/chat/completions", "/messages"])
def test_a_client_that_hangs_up_on_a_whole_answer_stops_the_provider_and_is_recorded(fresh: Served,
                                                                                     path: str) -> None:
    """Not streamed: the answer read on to its end for nobody, billed in full and recorded as
    finished. Now the provider's stream is closed and the request recorded as interrupted."""
    fresh.fake.script("gpt-4o-mini", Reply(n_tokens=200, tokens_per_s=20))  # ten seconds of answer
    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "a slow answer"}],
            "max_tokens": 1000}
    before = {t.id for t in fresh.turns()}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(fresh.url + path, json=body, timeout=httpx.Timeout(10.0, read=1.5),
                   headers={"authorization": f"Bearer {fresh.token}", "x-api-key": fresh.token})
    deadline = time.monotonic() + 5
    turns: list = []
    while time.monotonic() < deadline and not turns:
        turns = [t for t in fresh.turns() if t.model == "openai/gpt-4o-mini" and t.id not in before]
        time.sleep(0.1)
    assert [t.status for t in turns] == ["interrupted"], turns
    assert 0 < turns[0].output_tokens < 200 and turns[0].cost_usd and turns[0].cost_usd > 0
    assert not [line for line in fresh.stderr if "Traceback" in line]


@pytest.mark.parametrize("path", ["/chat/completions", "/messages"])
def test_a_client_that_hangs_up_on_a_stream_before_its_first_token_stops_the_provider(fresh: Served,
                                                                                       path: str) -> None:
    """A model that thinks long before its first token (a reasoning model, a slow queue): the
    client gives up while it waits. The provider's request went on until that first token came
    (a hang-up was noticed only once something was written), billing its thinking for nobody;
    now it is closed at once and the request recorded as interrupted."""
    fresh.fake.script("gpt-4o-mini", Reply(n_tokens=50, ttft=8))
    body = {"model": "openai/gpt-4o-mini", "stream": True, "max_tokens": 100,
            "messages": [{"role": "user", "content": f"think long before answering {path}"}]}
    before = {t.id for t in fresh.turns()}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(fresh.url + path, json=body, timeout=httpx.Timeout(10.0, read=1.0),
                   headers={"authorization": f"Bearer {fresh.token}", "x-api-key": fresh.token})
    deadline = time.monotonic() + 3  # the first token is 7 s away
    turns: list = []
    while time.monotonic() < deadline and not turns:
        turns = [t for t in fresh.turns() if t.model == "openai/gpt-4o-mini" and t.id not in before]
        time.sleep(0.1)
    assert [t.status for t in turns] == ["interrupted"], "the provider's request still runs"
    assert turns[0].output_tokens == 0 and "client stopped the request" in (turns[0].error or "")
    assert not [line for line in fresh.stderr if "Traceback" in line]


def test_a_provider_failing_mid_stream_ends_the_stream_with_an_error_and_is_recorded(fresh: Served) -> None:
    from tests.fakeserver import Drop

    fresh.fake.script("gpt-4o-mini", Drop(after_chunks=3, text="one two three four five six"))
    stream = fresh.client().chat.completions.create(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "cut me off"}], stream=True)
    got = []
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            got.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
    assert "".join(got) == "one two three "
    assert "partial reply kept" in str(info.value.message) and OPENAI_KEY not in str(info.value.message)
    turn = next(t for t in fresh.turns() if t.model == "openai/gpt-4o-mini" and t.status == "interrupted"
                and t.error and "connection" in t.error)
    assert turn.output_tokens >= 3 and turn.cost_usd and turn.client == "OpenAI/Python"


def test_a_server_stopped_mid_stream_records_the_stream_as_interrupted(tmp_path: Path,
                                                                        fake_server: FakeServer) -> None:
    """SIGTERM while a stream flows: the server ends it (after its graceful wait), records it as
    interrupted with what it cost, and exits 0. (A 1 s grace: how long it is is test_serve_sigint's.)"""
    server = start_served(tmp_path / "home", fake_server, "--shutdown-grace", "1")
    fake_server.script("gpt-4o-mini", Reply(n_tokens=5000, tokens_per_s=200))
    got = 0
    try:
        stream = server.client().chat.completions.create(
            model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "a long answer, then a stop"}],
            stream=True)
        with pytest.raises(openai.APIError):  # the stream ends unfinished: the SDK says so
            for chunk in stream:
                got += bool(chunk.choices and chunk.choices[0].delta.content)
                if got == 10:
                    server.proc.send_signal(signal.SIGTERM)  # once: a second one would be Ctrl+C twice
        code = server.proc.wait(timeout=30)
    finally:
        server.stop()
    assert code == 0
    log = "".join(server.stderr)
    assert "Traceback" not in log and "Exception in ASGI application" not in log, log[-2000:]
    turn = next(t for t in server.turns() if t.model == "openai/gpt-4o-mini")
    assert turn.status == "interrupted" and turn.usage_estimated
    assert 10 <= turn.output_tokens < 5000 and turn.cost_usd and turn.cost_usd > 0


def test_a_routed_request_stops_failing_over_at_its_deadline(tmp_path: Path, fake_server: FakeServer) -> None:
    """As a chat turn: candidates that all hang before their first token cost the shared
    `failover_timeout_s`, not each one's own first-token timeout."""
    from tests.engine.helpers import write_config

    home = tmp_path / "served"
    home.mkdir()
    # The second candidate's share is 4 s, not 1 s: on a loaded machine the fail-over itself (the
    # failure recorded, the next model decided) took all of a 1 s share, and the deadline passed
    # before that request went out.
    path = write_config(home, fake_server, extra="failover_timeout_s = 8\n")
    text = path.read_text()
    for env in ("TEST_OPENAI_KEY", "TEST_ANTHROPIC_KEY"):
        text = text.replace(f'api_key_env = "{env}"\n', f'api_key_env = "{env}"\nfirst_token_timeout_s = 4\n')
    path.write_text(text)
    for name in ("gpt-4o-mini", "gpt-4o", "claude-haiku-4-5"):
        fake_server.script(name, Reply(text="too late", ttft=60))
    server = start_served(home, fake_server)
    try:
        started = time.monotonic()
        with pytest.raises(openai.APIStatusError) as info:
            server.client().chat.completions.create(
                model="chatroute/auto", messages=[{"role": "user", "content": "every candidate hangs"}])
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    # 4 s on the first candidate, the 4 s left on the second, the third never asked; each
    # candidate's own 4 s would have made it 12 s.
    assert 7.5 < elapsed < 11.5, elapsed
    assert "failover deadline" in str(info.value.message), info.value.message
    assert len(fake_server.requests) == 2


@pytest.mark.parametrize(("fault", "status", "anthropic_type"), [
    (Fault(status=429, error_type="insufficient_quota", code="insufficient_quota",
           message="You exceeded your current quota, please check your plan and billing details."), 429,
     "billing_error"),  # a rate_limit_error on /v1/messages read as a wait to sit out
    (Fault(status=401), 502, "api_error"),  # the provider refused chatroute's own key
    (Fault(status=404, code="model_not_found", message="The model `gpt-4o` does not exist"), 502, "api_error"),
])
def test_an_upstream_failure_no_wait_lifts_is_not_retried_by_the_sdks(tmp_path: Path, fake_server: FakeServer,
                                                                      fault: Fault, status: int,
                                                                      anthropic_type: str) -> None:
    """The SDKs retry a 429 and a 5xx twice by default: a spent quota, a refused provider key or a
    missing model came back twice more, each sent on to the provider and written to the ledger
    as a failed turn, for the same error after a backoff."""
    import anthropic

    fake_server.script("gpt-4o", *[fault] * 3)
    fake_server.script("claude-haiku-4-5", *[fault] * 3)
    server = start_served(tmp_path / "home", fake_server)
    try:
        openai_client = openai.OpenAI(base_url=server.url, api_key=server.token, timeout=30)  # retries as tools do
        with pytest.raises(openai.APIStatusError) as info:
            openai_client.chat.completions.create(model="openai/gpt-4o",
                                                  messages=[{"role": "user", "content": "no retry lifts this"}])
        assert info.value.status_code == status
        assert info.value.response.headers.get("x-should-retry") == "false"
        anthropic_client = anthropic.Anthropic(base_url=server.url.removesuffix("/v1"), api_key=server.token,
                                               timeout=30)
        with pytest.raises(anthropic.APIStatusError) as failed:
            anthropic_client.messages.create(model="anthropic/claude-haiku-4-5", max_tokens=50,
                                             messages=[{"role": "user", "content": "nor this"}])
        assert failed.value.status_code == status
        assert isinstance(failed.value.body, dict) and failed.value.body["error"]["type"] == anthropic_type
        assert [r.model for r in fake_server.requests] == ["gpt-4o", "claude-haiku-4-5"]
        assert [t.status for t in server.turns()] == ["error", "error"]
    finally:
        server.stop()


def test_a_routed_request_every_model_failed_says_each_model_tried(tmp_path: Path, fake_server: FakeServer) -> None:
    """The error named only the last model tried ('openai/gpt-4o: server error (500)'), so a
    chatroute/auto request read as if one model had been asked; chatroute ask prints each reroute."""
    for name in ("gpt-4o-mini", "gpt-4o", "claude-haiku-4-5"):
        fake_server.script(name, Fault(status=500))
    server = start_served(tmp_path / "home", fake_server)
    try:
        with pytest.raises(openai.InternalServerError) as info:
            server.client().chat.completions.create(model="chatroute/auto",
                                                    messages=[{"role": "user", "content": "every model fails"}])
    finally:
        server.stop()
    first, second, last = (r.model for r in fake_server.requests)
    message = info.value.body["message"]
    assert message.endswith(f"server error (500): Internal server error. "
                            f"(rerouted: {first} 500 → {second}, {second} 500 → {last})"), message
    assert message.split(":")[0].endswith("/" + last)
