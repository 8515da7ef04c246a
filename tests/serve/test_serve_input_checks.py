"""Requests and answers that are valid JSON but not what they seem: model names that would end
up in a response header, bodies nested past the parser's depth, lone UTF-16 surrogates coming in
or going out, and parameters whose type or company makes them meaningless. Each is a 400 with an
OpenAI-shaped error (or, for an answer, text encoded safely), never a 500 or a cut connection."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import openai
import pytest

from chatroute.serve import wire
from tests.fakeserver import Reply
from tests.serve.conftest import Served

USER = [{"role": "user", "content": "hello there"}]


def _post(served: Served, body: bytes | dict[str, Any], timeout: float = 30) -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(served.url + "/chat/completions", content=raw, timeout=timeout,
                      headers={"authorization": f"Bearer {served.token}", "content-type": "application/json"})


def _error(response: httpx.Response, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    assert "Traceback" not in response.text
    return body["error"]


def _no_server_errors(served: Served) -> None:
    assert not [line for line in served.stderr if "failed:" in line or "Traceback" in line or "Exception" in line]


@pytest.mark.parametrize("model", [
    "openai/gpt-4o-mini\r\nx-injected: 1",      # on main: the connection was cut mid-response
    "gpt-4o-mini\nx-injected: 1",
    "openai/gpt-4o-mini\x00",
    "openai/gpt-4o-mini\u20ac",                  # on main: a 500 (not Latin-1)
    "openai/gpt-4o-mini\u00e9",
    "openai/" + "x" * 250,                       # 257 characters: on main a 200 (any name goes to a local server)
])
def test_a_model_name_that_cannot_be_a_header_is_a_400(fresh: Served, model: str) -> None:
    r = _post(fresh, {"model": model, "messages": USER})
    err = _error(r)
    assert err["param"] == "model" and err["type"] == "invalid_request_error"
    assert "x-injected" not in r.headers
    assert not fresh.fake.requests
    _no_server_errors(fresh)


def test_a_model_name_of_256_characters_is_still_a_name(fresh: Served) -> None:
    # The test config's providers have a base_url of their own, so they take any model name.
    model = "openai/" + "m" * 249
    r = _post(fresh, {"model": model, "messages": [{"role": "user", "content": "a long model name"}]})
    assert r.status_code == 200, r.text
    assert r.headers["x-chatroute-model"] == model


def test_a_15_mb_model_name_is_refused_at_once(fresh: Served) -> None:
    # On main the catalogue's close-match search ran over it: 4.4 s of the event loop, then a 404.
    started = time.monotonic()
    err = _error(_post(fresh, {"model": "x" * 15_000_000, "messages": USER}))
    assert err["param"] == "model" and "256" in err["message"]
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize("depth", [2_000, 100_000])
def test_a_body_nested_too_deeply_is_a_400(fresh: Served, depth: int) -> None:
    body = b'{"model": "chatroute/auto", "metadata": ' + b"[" * depth + b"]" * depth + b"}"
    err = _error(_post(fresh, body))  # on main: a 500 (RecursionError)
    assert "nested too deeply" in err["message"]
    _no_server_errors(fresh)


def test_a_body_of_millions_of_lists_is_refused_before_decoding_and_stalls_no_stream(fresh: Served) -> None:
    """16 MB of `[],`: json.loads held the event loop for seconds, and every other stream with
    it. The structure is counted before decoding: a 400 with an OpenAI-shaped error, and the
    stream running beside it goes on."""
    import threading

    fresh.fake.script("gpt-4o-mini", Reply(text=" ".join(f"w{i}" for i in range(60)), tokens_per_s=40))
    gaps: list[float] = []

    def stream() -> None:
        last = None
        with fresh.client().chat.completions.create(model="openai/gpt-4o-mini", messages=USER, stream=True) as chunks:
            for _ in chunks:
                now = time.monotonic()
                if last is not None:
                    gaps.append(now - last)
                last = now

    beside = threading.Thread(target=stream)
    beside.start()
    time.sleep(0.5)
    body = b'{"model": "chatroute/auto", "messages": [' + b"[]," * 5_000_000 + b"[]]}"
    started = time.monotonic()
    err = _error(_post(fresh, body))
    refused_in = time.monotonic() - started
    beside.join(timeout=60)
    assert "arrays and objects" in err["message"], err
    assert refused_in < 3.0, refused_in
    assert gaps and max(gaps) < 1.0, max(gaps, default=None)  # before: one gap of seconds
    _no_server_errors(fresh)


def test_large_real_requests_pass_the_structure_check(fresh: Served) -> None:
    """A long message full of brackets (code) and a conversation of many messages are what a
    chat client sends: decoded and weighed (too long for the model named: a question for the
    router, not the parser), not refused as pathological JSON."""
    code = 'def f(a, b):\n    return [a, b, {"k": [a]}]\n' * 60_000  # 300,000 brackets, in a string
    r = _post(fresh, {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": code}]})
    assert _error(r)["code"] == "context_length_exceeded", r.text[:300]
    many = [{"role": "user" if i % 2 == 0 else "assistant", "content": [{"type": "text", "text": f"turn {i}"}]}
            for i in range(30_001)]  # 60,000 lists and objects besides
    r = _post(fresh, {"model": "openai/gpt-4o-mini", "messages": many})
    assert _error(r)["code"] == "context_length_exceeded", r.text[:300]


@pytest.mark.parametrize("text", [r"\ud800", r"ab\udfffcd", r"pair split \ud83d \ude00"])
def test_a_lone_surrogate_in_the_body_is_a_400(fresh: Served, text: str) -> None:
    body = b'{"model": "chatroute/auto", "messages": [{"role": "user", "content": "' + text.encode() + b'"}]}'
    err = _error(_post(fresh, body))  # on main: a 500 (the tokenizer refused the string)
    assert "surrogate" in err["message"]
    assert not fresh.fake.requests
    _no_server_errors(fresh)


def test_an_escaped_surrogate_pair_in_the_body_is_text(fresh: Served) -> None:
    # What json.dumps writes for an emoji by default: a valid pair, one character.
    body = b'{"model": "chatroute/auto", "messages": [{"role": "user", "content": "smile \\ud83d\\ude00 pair"}]}'
    r = _post(fresh, body)
    assert r.status_code == 200, r.text
    assert fresh.fake.requests[-1].messages[-1]["content"] == "smile \U0001f600 pair"


@pytest.mark.parametrize(("extra", "param"), [
    ({"n": True}, "n"),                                                  # on main: 200 (True == 1)
    ({"n": 1.0}, "n"),
    ({"stream_options": {"include_usage": True}}, "stream_options"),     # on main: 200, options ignored
    ({"stream": False, "stream_options": {"include_usage": True}}, "stream_options"),
    ({"max_completion_tokens": None, "max_tokens": -5}, "max_tokens"),   # on main: 200, -5 unseen
    ({"max_completion_tokens": 10, "max_tokens": -5}, "max_tokens"),
    ({"max_completion_tokens": True}, "max_completion_tokens"),
    ({"max_completion_tokens": 0, "max_tokens": 5}, "max_completion_tokens"),
])
def test_parameters_meaningless_by_type_or_company_are_a_400(fresh: Served, extra: dict[str, Any],
                                                             param: str) -> None:
    err = _error(_post(fresh, {"model": "chatroute/auto", "messages": USER, **extra}))
    assert err["param"] == param
    assert not fresh.fake.requests


def test_the_accepted_forms_of_those_parameters_still_work(fresh: Served) -> None:
    for extra in ({"n": 1}, {"stream_options": None}, {"max_completion_tokens": None, "max_tokens": 7},
                  {"max_completion_tokens": 7, "max_tokens": None}):
        r = _post(fresh, {"model": "chatroute/auto", "messages": [{"role": "user", "content": f"ok {extra}"}],
                          **extra})
        assert r.status_code == 200, (extra, r.text)


@pytest.mark.parametrize(("field", "value"), [
    # Each of these was accepted and dropped: a user or seed of the wrong type keyed the answer
    # cache as if none were named, so it shared one cached answer between the people it named.
    ("user", 42), ("user", ["u-1"]), ("safety_identifier", {"id": "s-1"}), ("seed", "x"), ("seed", True),
    ("seed", 1.5), ("metadata", "ticket T-1"), ("metadata", {"ticket": 1}), ("top_p", "high"), ("top_p", 1.5),
    ("presence_penalty", "0.5"), ("frequency_penalty", [1]), ("frequency_penalty", -3),
    # Refused already, each naming itself.
    ("n", "1"), ("temperature", "hot"), ("max_tokens", "10"), ("stop", 5), ("logit_bias", "none"),
    ("response_format", "json"),
])
def test_a_chat_field_of_the_wrong_type_is_a_400_naming_it_through_the_sdk(fresh: Served, field: str,
                                                                          value: Any) -> None:
    # As on /v1/responses: the SDK's types would stop these, a client without them sends them.
    with pytest.raises(openai.BadRequestError) as info:
        fresh.client().chat.completions.create(model="openai/gpt-4o-mini", extra_body={field: value},
                                               messages=[{"role": "user", "content": f"a bad {field}"}])
    assert info.value.param == field, info.value.body
    assert isinstance(info.value.body, dict) and info.value.body["type"] == "invalid_request_error"
    assert field in info.value.body["message"], info.value.body
    assert not fresh.fake.requests


def test_the_well_typed_forms_of_those_fields_are_answered_and_not_passed_on(fresh: Served) -> None:
    completion = fresh.client().chat.completions.create(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "well typed knobs"}], user="",
        safety_identifier="s-1", seed=-7, metadata={"ticket": "T-1"}, top_p=0, presence_penalty=-2,
        frequency_penalty=2, n=1, stop=None)
    assert completion.choices[0].message.content == "Echo from gpt-4o-mini: well typed knobs"
    sent = fresh.fake.requests[-1].body
    assert not {"user", "safety_identifier", "seed", "metadata", "top_p", "presence_penalty"} & set(sent), sent


@pytest.mark.parametrize(("field", "value", "param", "says"), [
    # Each was accepted whatever it held, and dropped (none is passed on).
    ("reasoning_effort", 3, "reasoning_effort",
     '\'reasoning_effort\' must be a string such as "none", "minimal", "low", "medium", "high", "xhigh" or "max", '
     'got a number'),
    ("verbosity", ["low"], "verbosity", "got an array"),
    ("store", "yes", "store", "'store' must be true or false, got a string"),
    ("parallel_tool_calls", 0, "parallel_tool_calls", "'parallel_tool_calls' must be true or false, got a number"),
    ("service_tier", 1, "service_tier", "'service_tier' must be a string such as"),
    ("prompt_cache_key", 42, "prompt_cache_key", "'prompt_cache_key' must be a string, got a number"),
    ("prompt_cache_retention", True, "prompt_cache_retention", '"in_memory" or "24h", got a boolean'),
    ("prompt_cache_options", "implicit", "prompt_cache_options", "'prompt_cache_options' must be an object"),
    ("prompt_cache_options", {"mode": 1}, "prompt_cache_options.mode", '"implicit" or "explicit", got a number'),
    ("prompt_cache_options", {"ttl": 30}, "prompt_cache_options.ttl", "'prompt_cache_options.ttl' must be a string"),
])
def test_a_hint_that_is_not_passed_on_is_still_checked_against_openais_types(fresh: Served, field: str,
                                                                               value: Any, param: str,
                                                                               says: str) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        fresh.client().chat.completions.create(model="openai/gpt-4o-mini", extra_body={field: value},
                                               messages=[{"role": "user", "content": f"a bad {field}"}])
    body = info.value.body
    assert info.value.param == param, body
    assert isinstance(body, dict) and body["type"] == "invalid_request_error" and says in body["message"], body
    assert not fresh.fake.requests


def test_every_value_openais_sdk_allows_for_those_hints_is_answered_and_not_passed_on(fresh: Served) -> None:
    client = fresh.client()
    messages: Any = [{"role": "user", "content": "every allowed hint"}]
    for effort in wire.REASONING_EFFORTS:
        client.chat.completions.create(model="openai/gpt-4o-mini", messages=messages, reasoning_effort=effort)
    for tier in wire.SERVICE_TIERS:
        client.chat.completions.create(model="openai/gpt-4o-mini", messages=messages, service_tier=tier)
    for verbosity, retention in zip(wire.VERBOSITIES, (*wire.PROMPT_CACHE_RETENTIONS, None), strict=True):
        client.chat.completions.create(model="openai/gpt-4o-mini", messages=messages, verbosity=verbosity,
                                       prompt_cache_retention=retention, store=False, parallel_tool_calls=True,
                                       prompt_cache_key="k-2", prompt_cache_options={"mode": "explicit", "ttl": "30m"})
    assert fresh.fake.requests  # answered (the first; the rest from the answer cache)
    sent = fresh.fake.requests[-1].body
    assert not {"reasoning_effort", "service_tier", "verbosity", "store", "prompt_cache_key"} & set(sent), sent


@pytest.mark.parametrize(("metadata", "says"), [
    # OpenAI's API refuses each; serve took them all.
    ({f"key-{i}": "v" for i in range(17)}, "'metadata' may hold at most 16 keys, got 17"),
    ({"k" * 65: "v"}, "'metadata' keys may be at most 64 characters: 'kkkkkkkkkkkkkkkkkkkk'… is 65"),
    ({"ticket": "v" * 513}, "'metadata' values may be at most 512 characters: 'ticket' is 513"),
], ids=["17-keys", "65-char-key", "513-char-value"])
def test_metadata_beyond_openais_limits_is_a_400_on_both_openai_wires(fresh: Served, metadata: dict[str, str],
                                                                     says: str) -> None:
    client = fresh.client()
    with pytest.raises(openai.BadRequestError) as chat:
        client.chat.completions.create(model="openai/gpt-4o-mini", metadata=metadata,
                                       messages=[{"role": "user", "content": "too much metadata"}])
    with pytest.raises(openai.BadRequestError) as responses:
        client.responses.create(model="openai/gpt-4o-mini", metadata=metadata, input="too much metadata")
    for info in (chat, responses):
        assert info.value.param == "metadata"
        assert isinstance(info.value.body, dict) and info.value.body["message"] == says, info.value.body
    assert not fresh.fake.requests


def test_metadata_at_openais_limits_is_answered_on_both_openai_wires(fresh: Served) -> None:
    metadata = {f"{i:02d}" + "k" * 62: "v" * 512 for i in range(16)}
    completion = fresh.client().chat.completions.create(
        model="openai/gpt-4o-mini", metadata=metadata, messages=[{"role": "user", "content": "metadata at its limits"}])
    assert completion.choices[0].message.content == "Echo from gpt-4o-mini: metadata at its limits"
    response = fresh.client().responses.create(model="openai/gpt-4o-mini", metadata=metadata, input="at the limits")
    assert response.metadata == metadata


def test_a_hint_value_newer_than_the_sdk_is_answered_and_not_passed_on(fresh: Served) -> None:
    """A value OpenAI adds after this release (reasoning_effort gained "none", "xhigh" and "max" in a
    year) reaches serve from a newer client: refused, it would fail that client's every request over
    a field serve ignores."""
    newer = {"reasoning_effort": "ultra", "verbosity": "terse", "service_tier": "turbo",
             "prompt_cache_retention": "7d", "prompt_cache_options": {"mode": "lazy", "ttl": "1d"}}
    completion = fresh.client().chat.completions.create(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "newer hints"}], extra_body=newer)
    assert completion.choices[0].message.content == "Echo from gpt-4o-mini: newer hints"
    assert not set(newer) & set(fresh.fake.requests[-1].body)


def test_stream_null_as_the_openai_sdk_types_it_is_an_answer_in_one_piece(fresh: Served) -> None:
    # The SDK's `stream` is Optional[Literal[False]]: stream=None sends "stream": null, which OpenAI's
    # API reads as its default, false. It was a 400 ('stream' must be true or false).
    completion = fresh.client().chat.completions.create(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "stream null is no stream"}], stream=None)
    assert completion.choices[0].message.content == "Echo from gpt-4o-mini: stream null is no stream"
    # With it, stream_options is meaningless, as with stream: false.
    r = _post(fresh, {"model": "chatroute/auto", "messages": USER, "stream": None,
                      "stream_options": {"include_usage": True}})
    assert _error(r)["param"] == "stream_options"


def test_an_empty_list_of_stops_or_tools_asks_for_nothing_and_is_accepted(fresh: Served) -> None:
    # A client that always sends the key, empty when nothing is asked for, got a 400 'does not support
    # the parameter' for asking for nothing, where Anthropic's stop_sequences: [] was already taken.
    for extra in ({"stop": []}, {"tools": []}, {"functions": []}):
        r = _post(fresh, {"model": "chatroute/auto", "messages": [{"role": "user", "content": f"empty {extra}"}],
                          **extra})
        assert r.status_code == 200, (extra, r.text)
    r = httpx.post(fresh.url + "/messages", headers={"x-api-key": fresh.token},
                   json={"model": "chatroute/auto", "max_tokens": 50, "tools": [],
                         "messages": [{"role": "user", "content": "no tools at all"}]})
    assert r.status_code == 200, r.text
    # What does ask for something is still refused: a stop sequence, a tool, web search's defaults.
    for extra in ({"stop": ["\n"]}, {"tools": [{"type": "function", "function": {"name": "f"}}]},
                  {"web_search_options": {}}):
        err = _error(_post(fresh, {"model": "chatroute/auto", "messages": USER, **extra}))
        assert err["param"] == next(iter(extra))


def test_openais_prompt_cache_hints_are_accepted_as_prompt_cache_key_is(fresh: Served) -> None:
    # Hints to OpenAI's own prompt cache change nothing about the answer; prompt_cache_key was
    # accepted, its two siblings in the SDK were a 400 'does not support the parameter'.
    completion = fresh.client().chat.completions.create(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "keep my prefix cached"}],
        prompt_cache_key="k-1", prompt_cache_retention="24h", prompt_cache_options={"mode": "implicit"})
    assert completion.choices[0].message.content == "Echo from gpt-4o-mini: keep my prefix cached"


def test_response_format_text_the_openai_default_is_plain_text_and_accepted(fresh: Served) -> None:
    # Many clients send the default explicitly; it was refused as an unsupported parameter.
    r = _post(fresh, {"model": "chatroute/auto", "messages": [{"role": "user", "content": "plain text please"}],
                      "response_format": {"type": "text"}})
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"].endswith("plain text please")
    assert "response_format" not in fresh.fake.requests[-1].body  # nothing to pass on


@pytest.mark.parametrize("response_format", [
    {"type": "json_object"},
    {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
    "text",
    {"type": "TEXT"},
])
def test_any_other_response_format_is_still_a_400(fresh: Served, response_format: Any) -> None:
    err = _error(_post(fresh, {"model": "chatroute/auto", "messages": USER, "response_format": response_format}))
    assert err["param"] == "response_format" and err["code"] == "unsupported_parameter"
    assert not fresh.fake.requests


# -- answers holding surrogates --------------------------------------------------------------

def _split_pair(fresh: Served) -> None:
    # The fake sends "ab\ud83d" as one JSON-escaped delta, then "\ude00cd" spliced raw after it:
    # a provider that split an emoji between two chunks. Then a lone low surrogate in a third.
    fresh.fake.script(Reply(text="ab\ud83d", chunk_words=False, raw_bytes=b"\\ude00cd \\udc00!"))


def test_an_answer_split_inside_a_surrogate_pair_is_whole_and_200(fresh: Served) -> None:
    _split_pair(fresh)
    r = _post(fresh, {"model": "chatroute/auto", "messages": [{"role": "user", "content": "split pair plain"}]})
    assert r.status_code == 200, r.text  # on main: a 500 (UTF-8 cannot encode '\ud83d')
    assert r.json()["choices"][0]["message"]["content"] == "ab\U0001f600cd \ufffd!"
    _no_server_errors(fresh)


def test_a_streamed_answer_split_inside_a_surrogate_pair_is_whole(fresh: Served) -> None:
    _split_pair(fresh)
    with httpx.stream("POST", fresh.url + "/chat/completions", timeout=30,
                      headers={"authorization": f"Bearer {fresh.token}"},
                      json={"model": "chatroute/auto", "stream": True,
                            "messages": [{"role": "user", "content": "split pair streamed"}]}) as r:
        assert r.status_code == 200
        raw = b"".join(r.iter_bytes())
    text = raw.decode("utf-8")  # strict: no half pair on the wire
    frames = [line[6:] for line in text.split("\n") if line.startswith("data: ")]
    assert frames[-1] == "[DONE]"
    chunks = [json.loads(f) for f in frames[:-1]]
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))
    assert content == "ab\U0001f600cd \ufffd!"
    for c in chunks:  # every frame's text is whole characters (json.dumps may still escape a pair)
        if c.get("choices"):
            (c["choices"][0]["delta"].get("content") or "").encode("utf-8")


def test_a_stream_ending_on_half_a_pair_ends_with_a_replacement_character(fresh: Served) -> None:
    fresh.fake.script(Reply(text="tail \ud83d", chunk_words=False))
    client = fresh.client()
    stream = client.chat.completions.create(model="chatroute/auto", stream=True,
                                            messages=[{"role": "user", "content": "ends on half a pair"}])
    content = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert content == "tail \ufffd"
    fresh.fake.script(Reply(text="tail \ud83d", chunk_words=False))
    done = client.chat.completions.create(model="chatroute/auto",
                                          messages=[{"role": "user", "content": "ends on half a pair, plain"}])
    assert done.choices[0].message.content == "tail \ufffd"


@pytest.mark.parametrize(("path", "part", "says"), [
    # Before, each said "only text parts are supported by chatroute serve (got 'text')": a text
    # part refused for not being one.
    ("/chat/completions", {"type": "text", "text": None}, "messages[0].content[0].text must be a string, got null"),
    ("/chat/completions", {"type": "text"}, "messages[0].content[0].text is missing"),
    ("/chat/completions", {"type": "text", "text": ["a", "b"]},
     "messages[0].content[0].text must be a string, got an array"),
    ("/messages", {"type": "text", "text": 42}, "messages[0].content[0].text must be a string, got a number"),
    # Not a part at all: named so, in JSON's words (it said "got 'str'").
    ("/chat/completions", "hello", "messages[0].content[0] must be an object, got a string"),
])
def test_a_text_part_without_a_string_text_is_a_400_that_says_so(fresh: Served, path: str, part: Any,
                                                                    says: str) -> None:
    body = {"model": "openai/gpt-4o-mini", "max_tokens": 50, "messages": [{"role": "user", "content": [part]}]}
    response = httpx.post(fresh.url + path, json=body, timeout=30,
                          headers={"authorization": f"Bearer {fresh.token}"})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert says in error["message"] and "(got 'text')" not in error["message"], error
    assert not fresh.fake.requests
