"""POST /v1/responses keeps the promises chat completions and Messages keep, each checked as
their own tests check them, through the openai SDK's `client.responses` or raw HTTP against a
real serve process and the fake provider: a client hanging up is billed for what the provider
sent and stops it; a budget cap is a 429 no SDK retries; the cache is kept apart per end user;
thinking is billed and never shown; upstream failures keep their status and Retry-After; a
filtered answer is incomplete, not complete; a reroute names the model that answered; surrogate
pairs split by the provider arrive whole."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from chatroute.money import usd
from tests.fakeserver import FakeServer, Fault, Reply
from tests.serve.conftest import Served, start_capped
from tests.serve.test_serve_hangup_billing import SENT, _all_sent, _recorded


def extra(model: Any) -> dict[str, Any]:
    assert model.model_extra is not None
    return model.model_extra


def _auth(served: Served) -> dict[str, str]:
    return {"authorization": f"Bearer {served.token}"}


def _new_turns(served: Served, before: set[str], model: str = "openai/gpt-4o-mini", wait: float = 5) -> list[Any]:
    deadline = time.monotonic() + wait
    turns: list[Any] = []
    while time.monotonic() < deadline and not turns:
        turns = [t for t in served.turns() if t.model == model and t.id not in before]
        time.sleep(0.1)
    return turns


def _no_tracebacks(served: Served) -> None:
    assert not [line for line in served.stderr if "Traceback" in line or "failed:" in line]


def _events(served: Served, body: dict[str, Any]) -> tuple[httpx.Response, list[dict[str, Any]], bytes]:
    """A streamed request by raw HTTP: the response, its events' data, the raw bytes."""
    with httpx.stream("POST", served.url + "/responses", timeout=30, headers=_auth(served),
                      json={**body, "stream": True}) as r:
        raw = b"".join(r.iter_bytes())
    text = raw.decode("utf-8")  # strict: no half surrogate pair on the wire
    data = [json.loads(line[6:]) for line in text.split("\n") if line.startswith("data: ")]
    return r, data, raw


# -- a client hanging up -------------------------------------------------------------------------

def test_tokens_the_provider_sent_before_a_hang_up_mid_stream_are_all_billed(fresh: Served) -> None:
    fresh.fake.script("gpt-4o-mini", Reply(n_tokens=SENT))
    before = {t.id for t in fresh.turns()}
    got = 0
    with fresh.client().responses.with_streaming_response.create(
            model="openai/gpt-4o-mini", input="a burst, responses", stream=True) as response:
        for line in response.iter_lines():
            got += line.startswith("data: ") and '"response.output_text.delta"' in line
            if got >= 20:
                _all_sent(fresh)
                break  # leaving the block closes the connection
    assert got == 20
    [turn] = _recorded(fresh, before)
    assert turn.output_tokens >= SENT, (turn.status, turn.output_tokens, turn.usage_estimated)
    # Its own count when the whole stream was read by the time the hang-up was noticed, else an
    # estimate from all it had sent (as on the other wires).
    assert turn.cost_usd is not None and turn.cost_usd > 0
    _no_tracebacks(fresh)


def test_a_client_that_hangs_up_on_a_slow_whole_answer_stops_the_provider(fresh: Served) -> None:
    fresh.fake.script("gpt-4o-mini", Reply(n_tokens=200, tokens_per_s=20))  # ten seconds of answer
    before = {t.id for t in fresh.turns()}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(fresh.url + "/responses", headers=_auth(fresh), timeout=httpx.Timeout(10.0, read=1.5),
                   json={"model": "openai/gpt-4o-mini", "input": "a slow answer", "max_output_tokens": 1000})
    turns = _new_turns(fresh, before)
    assert [t.status for t in turns] == ["interrupted"], turns
    assert 0 < turns[0].output_tokens < 200 and turns[0].cost_usd and turns[0].cost_usd > 0
    _no_tracebacks(fresh)


def test_a_client_that_hangs_up_on_a_stream_before_its_first_token_stops_the_provider(fresh: Served) -> None:
    fresh.fake.script("gpt-4o-mini", Reply(n_tokens=50, ttft=8))
    before = {t.id for t in fresh.turns()}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(fresh.url + "/responses", headers=_auth(fresh), timeout=httpx.Timeout(10.0, read=1.0),
                   json={"model": "openai/gpt-4o-mini", "stream": True, "max_output_tokens": 100,
                         "input": "think long before answering, responses"})
    turns = _new_turns(fresh, before, wait=3)  # the first token is 7 s away
    assert [t.status for t in turns] == ["interrupted"], "the provider's request still runs"
    assert turns[0].output_tokens == 0 and "client stopped the request" in (turns[0].error or "")
    _no_tracebacks(fresh)


# -- the budget ----------------------------------------------------------------------------------

def test_a_routed_response_past_the_cap_is_a_429_no_sdk_retries(tmp_path: Path, fake_server: FakeServer) -> None:
    server = start_capped(tmp_path, fake_server)
    try:
        fake_server.script("gpt-4o", Reply(text="expensive", input_tokens=200_000, output_tokens=10_000))
        server.client().responses.create(model="openai/gpt-4o", input="spend it")
        [spent] = [t.cost_usd for t in server.turns()]
        assert spent is not None and spent > 0.01
        says = f"daily budget cap is reached ({usd(spent)} spent of {usd(0.01)})"
        sent = len(fake_server.requests)
        oai = openai.OpenAI(base_url=server.url, api_key=server.token, timeout=30)  # the SDK's own retries
        for stream in (False, True):
            with pytest.raises(openai.RateLimitError) as refused:
                oai.responses.create(model="chatroute/auto", input=f"routed past the cap ({stream})", stream=stream)
            body = refused.value.body
            assert isinstance(body, dict) and body["code"] == "insufficient_quota" and says in body["message"]
            assert refused.value.response.headers.get("x-should-retry") == "false"
        assert len(fake_server.requests) == sent and len(server.turns()) == 1
    finally:
        server.stop()


# -- the cache, per end user ---------------------------------------------------------------------

@pytest.mark.parametrize("field", ["user", "safety_identifier"])
def test_the_end_user_named_is_part_of_the_cache_key(fresh: Served, field: str) -> None:
    client = fresh.client()
    ask = {"model": "openai/gpt-4o-mini", "input": f"suggest a name for my kitten ({field})"}
    fresh.fake.script("gpt-4o-mini", Reply(text="Alice: Miso."), Reply(text="Bob: Pepper."))
    alice = client.responses.create(**ask, **{field: "alice"})  # type: ignore[call-overload]
    bob = client.responses.create(**ask, **{field: "bob"})  # type: ignore[call-overload]
    assert extra(bob)["chatroute"]["cache"] == "miss"
    assert (alice.output_text, bob.output_text) == ("Alice: Miso.", "Bob: Pepper.")
    with client.responses.stream(**ask, **{field: "alice"}) as stream:  # type: ignore[arg-type]
        again = stream.get_final_response()
    assert extra(again)["chatroute"]["cache"] == "hit" and again.output_text == "Alice: Miso."
    nobody = client.responses.create(**ask)  # type: ignore[call-overload]
    assert extra(nobody)["chatroute"]["cache"] == "miss"
    assert len(fresh.fake.requests) == 3
    assert all("alice" not in str(r.body) and "bob" not in str(r.body) for r in fresh.fake.requests)


# -- thinking ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("model", "tags", "counted"), [
    ("openai/gpt-4o", True, 38), ("openai/gpt-4o", False, 38),
    # Anthropic's usage gives no count of the thinking: none is claimed, though it is billed.
    ("anthropic/claude-haiku-4-5", False, 0)], ids=["think-tags", "reasoning-content", "anthropic-thinking"])
def test_thinking_is_not_in_the_output_text_and_is_billed(fresh: Served, model: str, tags: bool,
                                                          counted: int) -> None:
    thought = "It is Paris, I am quite sure of it, having read about France at length."
    ask = {"model": model, "input": f"What is the capital of France? ({model}, {tags})"}
    # The provider's own count: the thinking is part of its output tokens, as OpenAI bills it.
    reply = Reply(text="Paris.", reasoning=thought, think_tags=tags, output_tokens=40, reasoning_tokens=counted)
    upstream = model.split("/", 1)[1]
    fresh.fake.script(upstream, reply)
    whole = fresh.client().responses.create(**ask)  # type: ignore[call-overload]
    fresh.fake.script(upstream, reply)
    deltas: list[str] = []
    with fresh.client().responses.stream(model=ask["model"], input=ask["input"] + " streamed") as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        streamed = stream.get_final_response()
    assert "".join(deltas) == "Paris."
    for response in (whole, streamed):
        assert response.output_text == "Paris." and "think" not in json.dumps(response.output[0].model_dump())
        turn = fresh.turn(extra(response)["chatroute"]["turn_id"])
        assert response.usage is not None and response.usage.output_tokens == turn.output_tokens
        assert turn.output_tokens == 40 and not turn.usage_estimated  # the thinking is billed
        # Of them, the thinking as the provider counted it (it said 0 whatever the provider said).
        assert response.usage.output_tokens_details.reasoning_tokens == counted
    # A cache hit generated nothing.
    hit = fresh.client().responses.create(**ask)  # type: ignore[call-overload]
    assert extra(hit)["chatroute"]["cache"] == "hit" and hit.usage is not None
    assert hit.usage.output_tokens_details.reasoning_tokens == 0


# -- upstream failures before the first token ----------------------------------------------------

@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_an_upstream_429_is_a_429_with_its_retry_after(fresh: Served, stream: bool) -> None:
    fresh.fake.script("gpt-4o", Fault(status=429, retry_after=30))
    with pytest.raises(openai.RateLimitError) as info:
        fresh.client().responses.create(model="openai/gpt-4o", input=f"pinned and limited ({stream})", stream=stream)
    body = info.value.body
    assert isinstance(body, dict) and body["code"] == "rate_limited" and "rate limited" in body["message"]
    assert info.value.response.headers["retry-after"] == "30"
    assert len(fresh.fake.requests) == 1


@pytest.mark.parametrize("status", [500, 503])
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_an_upstream_5xx_is_openai_shaped_with_the_status_chat_completions_gives(fresh: Served, stream: bool,
                                                                               status: int) -> None:
    fresh.fake.script("gpt-4o", Fault(status=status))
    chat = httpx.post(fresh.url + "/chat/completions", headers=_auth(fresh), timeout=30, json={
        "model": "openai/gpt-4o", "messages": [{"role": "user", "content": f"chat, upstream {status} ({stream})"}]})
    assert chat.status_code >= 500
    fresh.fake.script("gpt-4o", Fault(status=status))
    with pytest.raises(openai.InternalServerError) as info:
        fresh.client().responses.create(model="openai/gpt-4o", input=f"an upstream {status} ({stream})",
                                        stream=stream)
    assert info.value.status_code == chat.status_code
    body = info.value.response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["message"] == chat.json()["error"]["message"]
    assert len(fresh.fake.requests) == 2


# -- a filtered answer ---------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["I will not go on", ""], ids=["cut", "before-any-text"])
def test_an_answer_a_safety_filter_cut_is_incomplete_streamed_or_not(fresh: Served, text: str) -> None:
    fresh.fake.script("gpt-4o", Reply(text=text, finish_reason="content_filter"))
    whole = fresh.client().responses.create(model="openai/gpt-4o", input=f"filtered whole ({text!r})")
    assert whole.status == "incomplete" and whole.output_text == text
    assert whole.incomplete_details is not None and whole.incomplete_details.reason == "content_filter"
    assert [item.status for item in whole.output] == ["incomplete"]  # the message cut is incomplete too
    fresh.fake.script("gpt-4o", Reply(text=text, finish_reason="content_filter"))
    events = list(fresh.client().responses.create(model="openai/gpt-4o", input=f"filtered streamed ({text!r})",
                                                  stream=True))
    last = events[-1]
    assert last.type == "response.incomplete", [e.type for e in events]
    assert last.response.status == "incomplete" and last.response.incomplete_details is not None
    assert last.response.incomplete_details.reason == "content_filter"
    assert last.response.output_text == text
    [item_done] = [e for e in events if e.type == "response.output_item.done"]
    assert item_done.item.status == "incomplete" and [i.status for i in last.response.output] == ["incomplete"]
    assert not [e for e in events if e.type in ("response.completed", "response.failed", "error")]


def test_a_response_cut_at_max_output_tokens_has_its_message_incomplete(fresh: Served) -> None:
    fresh.fake.script("gpt-4o-mini", Reply(text="cut short", finish_reason="length"))
    whole = fresh.client().responses.create(model="openai/gpt-4o-mini", input="cut me, whole", max_output_tokens=16)
    assert whole.status == "incomplete" and [item.status for item in whole.output] == ["incomplete"]
    # A whole answer's message stays completed.
    done = fresh.client().responses.create(model="openai/gpt-4o-mini", input="do not cut me")
    assert done.status == "completed" and [item.status for item in done.output] == ["completed"]


# -- a reroute -----------------------------------------------------------------------------------

@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_reroute_before_the_first_token_names_the_model_that_answered(fresh: Served, stream: bool) -> None:
    fresh.fake.script(Fault(status=429, retry_after=30))  # whichever model is asked first
    ask = f"explain rate limits in one line ({stream})"
    if stream:
        with fresh.client().responses.with_streaming_response.create(model="chatroute/auto", input=ask,
                                                                     stream=True) as raw:
            headers = raw.headers
            events = list(raw.parse())
        created = next(e for e in events if e.type == "response.created").response
        response = next(e for e in events if e.type == "response.completed").response
        assert created.model == response.model
    else:
        done = fresh.client().responses.with_raw_response.create(model="chatroute/auto", input=ask)
        headers, response = done.headers, done.parse()
    first, second = (r.model for r in fresh.fake.requests)
    assert first != second
    assert headers["x-chatroute-model"].endswith("/" + second) and response.model == headers["x-chatroute-model"]
    assert headers["x-chatroute-route-reason"].startswith(f"rerouted: {first} 429")
    assert headers["x-chatroute-route-reason"].endswith(second)
    decision = extra(response)["chatroute"]
    assert decision["model"] == response.model and decision["reason"].startswith(f"rerouted: {first} 429")
    assert decision["reroutes"] and decision["reroutes"][0].startswith(f"{first} 429")
    assert response.output_text.startswith(f"Echo from {second}:")


# -- surrogates ----------------------------------------------------------------------------------

def _split_pair(fresh: Served) -> None:
    # "ab\ud83d" in one delta, "\ude00cd" raw after it (an emoji split between two chunks), then a
    # lone low surrogate: as tests/serve/test_serve_input_checks.py sends it to the other wires.
    fresh.fake.script(Reply(text="ab\ud83d", chunk_words=False, raw_bytes=b"\\ude00cd \\udc00!"))


def test_an_answer_split_inside_a_surrogate_pair_is_whole(fresh: Served) -> None:
    _split_pair(fresh)
    r = httpx.post(fresh.url + "/responses", headers=_auth(fresh), timeout=30,
                   json={"model": "chatroute/auto", "input": "split pair, responses"})
    assert r.status_code == 200, r.text
    assert r.json()["output"][0]["content"][0]["text"] == "ab\U0001f600cd \ufffd!"
    _split_pair(fresh)
    r, data, _ = _events(fresh, {"model": "chatroute/auto", "input": "split pair, responses streamed"})
    assert r.status_code == 200
    deltas = [d["delta"] for d in data if d["type"] == "response.output_text.delta"]
    for delta in deltas:
        delta.encode("utf-8")  # each frame's text is whole characters
    assert "".join(deltas) == "ab\U0001f600cd \ufffd!"
    done = next(d for d in data if d["type"] == "response.output_text.done")
    final = next(d for d in data if d["type"] == "response.completed")["response"]
    assert done["text"] == final["output"][0]["content"][0]["text"] == "ab\U0001f600cd \ufffd!"
    _no_tracebacks(fresh)


def test_a_stream_ending_on_half_a_pair_ends_with_a_replacement_character(fresh: Served) -> None:
    fresh.fake.script(Reply(text="tail \ud83d", chunk_words=False))
    with fresh.client().responses.stream(model="chatroute/auto", input="ends on half a pair, responses") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text == "tail \ufffd"
    fresh.fake.script(Reply(text="tail \ud83d", chunk_words=False))
    done = fresh.client().responses.create(model="chatroute/auto", input="ends on half a pair, responses, whole")
    assert done.output_text == "tail \ufffd"


@pytest.mark.parametrize("text", [r"\ud800", r"ab\udfffcd", r"pair split \ud83d \ude00"])
def test_a_lone_surrogate_in_the_input_is_a_400(fresh: Served, text: str) -> None:
    for body in (b'{"model": "chatroute/auto", "input": "' + text.encode() + b'"}',
                 b'{"model": "chatroute/auto", "input": [{"role": "user", "content": [{"type": "input_text", '
                 b'"text": "' + text.encode() + b'"}]}]}',
                 b'{"model": "chatroute/auto", "instructions": "' + text.encode() + b'", "input": "hi"}'):
        r = httpx.post(fresh.url + "/responses", content=body, timeout=30,
                       headers={**_auth(fresh), "content-type": "application/json"})
        assert r.status_code == 400, r.text
        assert "surrogate" in r.json()["error"]["message"]
    assert not fresh.fake.requests
    _no_tracebacks(fresh)


def test_an_escaped_surrogate_pair_in_the_input_is_text(fresh: Served) -> None:
    body = b'{"model": "chatroute/auto", "input": "smile \\ud83d\\ude00 pair, responses"}'
    r = httpx.post(fresh.url + "/responses", content=body, timeout=30,
                   headers={**_auth(fresh), "content-type": "application/json"})
    assert r.status_code == 200, r.text
    assert fresh.fake.requests[-1].messages[-1]["content"] == "smile \U0001f600 pair, responses"


# -- instructions --------------------------------------------------------------------------------

def test_the_instructions_are_echoed_in_the_response_as_openai_does(fresh: Served) -> None:
    ask = {"model": "openai/gpt-4o-mini", "instructions": "Be brief.", "input": "echo my instructions"}
    whole = fresh.client().responses.create(**ask)  # type: ignore[call-overload]
    assert whole.instructions == "Be brief."
    with fresh.client().responses.stream(**ask) as stream:  # type: ignore[arg-type]
        created = [e.response.instructions for e in stream if e.type == "response.created"]
        streamed = stream.get_final_response()
    assert created == ["Be brief."] and streamed.instructions == "Be brief."
    plain = fresh.client().responses.create(model="openai/gpt-4o-mini", input="no instructions here")
    assert plain.instructions is None
