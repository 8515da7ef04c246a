"""`chatroute serve` through the official anthropic SDK (POST /v1/messages): tools built on it
(Claude Code, editor plugins, scripts) can point ANTHROPIC_BASE_URL at chatroute and get the same
routing, cache and ledger as OpenAI clients, with Anthropic's shapes for answers, streams and
errors."""

from __future__ import annotations

import time
from typing import Any

import anthropic
import httpx
import pytest

from tests.engine.helpers import ANTHROPIC_KEY, OPENAI_KEY
from tests.fakeserver import Drop, Fault, Reply
from tests.serve.conftest import Served


def client(served: Served, token: str | None = None) -> anthropic.Anthropic:
    # The SDK appends /v1/messages to its base URL; serve prints the URL with /v1.
    return anthropic.Anthropic(base_url=served.url.removesuffix("/v1"), api_key=token or served.token,
                               max_retries=0, timeout=30)


def test_a_routed_message_carries_the_decision_and_is_in_the_ledger(fresh: Served) -> None:
    raw = client(fresh).messages.with_raw_response.create(
        model="chatroute/auto", max_tokens=200, system="Be brief.",
        messages=[{"role": "user", "content": "name a prime number between 20 and 30"}])
    message = raw.parse()
    model = raw.headers["x-chatroute-model"]
    assert message.model == model and message.role == "assistant" and message.type == "message"
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == f"Echo from {model.split('/', 1)[1]}: name a prime number between 20 and 30"
    assert message.stop_reason == "end_turn"
    decision = message.model_extra["chatroute"]
    assert decision["model"] == model and decision["route_kind"] == "routed" and decision["cache"] == "miss"
    turn = fresh.turn(decision["turn_id"])
    assert turn.client == "Anthropic/Python" and turn.status == "ok"
    assert turn.output_tokens == message.usage.output_tokens and message.usage.input_tokens > 0
    assert turn.cost_usd == pytest.approx(float(raw.headers["x-chatroute-cost-usd"]), abs=1e-8)
    sent = fresh.fake.requests[-1]
    assert "Be brief." in str(sent.system or sent.messages)
    assert fresh.token not in str(sent.body)


def test_a_streamed_message_gives_the_text_and_the_ledgers_usage(fresh: Served) -> None:
    fresh.fake.script("gpt-4o", Reply(text="one two three four", cached_tokens=4))
    kinds: list[str] = []
    decision: dict[str, object] = {}
    with client(fresh).messages.stream(model="openai/gpt-4o", max_tokens=100,
                                       messages=[{"role": "user", "content": "count to four for me"}]) as stream:
        for event in stream:
            kinds.append(event.type)
            if event.type == "message_delta":
                decision = event.model_extra["chatroute"]
        final = stream.get_final_message()
    assert final.content[0].text == "one two three four"
    assert final.model == "openai/gpt-4o" and final.stop_reason == "end_turn"
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop" and "content_block_stop" in kinds
    assert decision["route_kind"] == "pinned"
    turn = fresh.turn(decision["turn_id"])
    # Anthropic counts prompt-cache reads apart from input_tokens; the ledger holds them in it.
    assert final.usage.cache_read_input_tokens == turn.cached_tokens == 4
    assert final.usage.input_tokens + final.usage.cache_read_input_tokens == turn.input_tokens
    assert final.usage.output_tokens == turn.output_tokens and turn.client == "Anthropic/Python"


def test_a_token_limit_reached_is_max_tokens_and_history_reaches_the_model(fresh: Served) -> None:
    fresh.fake.script("claude-haiku-4-5", Reply(text="cut short", finish_reason="length"))
    message = client(fresh).messages.create(
        model="anthropic/claude-haiku-4-5", max_tokens=5,
        messages=[{"role": "user", "content": [{"type": "text", "text": "my name is Ada"}]},
                  {"role": "assistant", "content": "Hello Ada."},
                  {"role": "user", "content": [{"type": "text", "text": "what is my name?",
                                                "cache_control": {"type": "ephemeral"}}]}])
    assert message.stop_reason == "max_tokens"
    sent = fresh.fake.requests[-1]
    assert "my name is Ada" in str(sent.messages) and "Hello Ada." in str(sent.messages)
    assert sent.body["max_tokens"] == 5


@pytest.mark.parametrize("kwargs,says", [
    ({"tools": [{"name": "f", "input_schema": {"type": "object"}}]}, "parameter 'tools'"),
    ({"stop_sequences": ["END"]}, "'stop_sequences'"),
    ({"thinking": {"type": "enabled", "budget_tokens": 1024}}, "'thinking'"),
    ({"extra_body": {"temperature": 1.5}}, "'temperature' must be a number from 0 to 1"),
    ({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Sure"}]},
     "an assistant prefill is not supported"),
    ({"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "base64",
                                                  "media_type": "image/png", "data": "AAAA"}}]}]},
     "only text blocks are supported by chatroute serve (got 'image')"),
])
def test_what_chatroute_cannot_honour_is_an_anthropic_shaped_400(fresh: Served, kwargs: dict[str, object],
                                                                   says: str) -> None:
    args: dict[str, object] = {"model": "chatroute/auto", "max_tokens": 50,
                               "messages": [{"role": "user", "content": "hello there"}]}
    args.update(kwargs)
    with pytest.raises(anthropic.BadRequestError) as info:
        client(fresh).messages.create(**args)  # type: ignore[call-overload]
    body = info.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error" and says in body["error"]["message"]
    assert not fresh.fake.requests


@pytest.mark.parametrize(("field", "value", "says"), [
    # Each of these was accepted and dropped: a user_id of the wrong type keyed the answer cache as if
    # no user were named, so one cached answer was shared between the people a tool told apart.
    ("metadata", {"user_id": 42}, "'metadata.user_id' must be a string, got a number"),
    ("metadata", {"user_id": ["u-1"]}, "'metadata.user_id' must be a string, got an array"),
    ("metadata", "u-1", "'metadata' must be an object, got a string"),
    ("metadata", ["u-1"], "'metadata' must be an object, got an array"),
    # Anthropic's API refuses any key but user_id; these were accepted.
    ("metadata", {"user_id": "u-1", "ticket": "T-1"},
     "'metadata.ticket' is not allowed: Anthropic's metadata holds only 'user_id'"),
    ("metadata", {"session": None}, "'metadata.session' is not allowed: Anthropic's metadata holds only 'user_id'"),
    ("stop_sequences", "", "'stop_sequences' must be an array of strings"),
    ("stop_sequences", {}, "'stop_sequences' must be an array of strings"),
    ("stop_sequences", ["END", 1], "'stop_sequences' must be an array of strings"),  # was 'not supported'
    ("top_p", "high", "'top_p' must be a number from 0 to 1"),
    ("top_p", 1.5, "'top_p' must be a number from 0 to 1"),
    ("top_k", "5", "'top_k' must be an integer of at least 0"),
    ("top_k", 2.5, "'top_k' must be an integer of at least 0"),
    ("top_k", -1, "'top_k' must be an integer of at least 0"),
    # Refused already.
    ("temperature", "0.5", "'temperature' must be a number from 0 to 1"),
])
def test_a_field_of_the_wrong_type_is_an_anthropic_shaped_400_naming_it(fresh: Served, field: str, value: object,
                                                                        says: str) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        client(fresh).messages.create(model="openai/gpt-4o-mini", max_tokens=50, extra_body={field: value},
                                      messages=[{"role": "user", "content": f"a bad {field}"}])
    assert info.value.body == {"type": "error", "error": {"type": "invalid_request_error", "message": says}}
    assert not fresh.fake.requests


def test_count_tokens_refuses_those_fields_as_messages_does(fresh: Served) -> None:
    # README: count_tokens refuses what /v1/messages refuses; it counted these.
    for field, value in (("metadata", {"user_id": 42}), ("metadata", {"ticket": "T-1"}), ("top_k", "5")):
        with pytest.raises(anthropic.BadRequestError) as info:
            client(fresh).messages.count_tokens(model="openai/gpt-4o-mini", extra_body={field: value},
                                                messages=[{"role": "user", "content": "count me"}])
        assert isinstance(info.value.body, dict) and f"'{field}" in info.value.body["error"]["message"]


def test_the_well_typed_forms_of_those_fields_are_answered(fresh: Served) -> None:
    message = client(fresh).messages.create(
        model="openai/gpt-4o-mini", max_tokens=50, metadata={"user_id": None}, stop_sequences=[],
        extra_body={"top_p": 0, "top_k": 0, "temperature": 1},  # the 2.x SDK types no sampling knobs
        messages=[{"role": "user", "content": "well typed Anthropic knobs"}])
    assert message.content[0].text == "Echo from gpt-4o-mini: well typed Anthropic knobs"


def test_hints_that_change_nothing_about_the_answer_are_accepted(fresh: Served) -> None:
    message = client(fresh).messages.create(
        model="openai/gpt-4o-mini", max_tokens=50, metadata={"user_id": "u-1"}, service_tier="auto",
        thinking={"type": "disabled"}, messages=[{"role": "user", "content": "say something short"}])
    assert message.content[0].text == "Echo from gpt-4o-mini: say something short"


def test_output_config_effort_is_accepted_as_reasoning_effort_is_and_a_format_refused(fresh: Served) -> None:
    # Anthropic's effort is OpenAI's reasoning_effort, which serve accepts and leaves to the routed
    # model; output_config was a 400 whatever it held. A structured output format changes the answer.
    message = client(fresh).messages.create(model="openai/gpt-4o-mini", max_tokens=50,
                                            output_config={"effort": "high"},
                                            messages=[{"role": "user", "content": "think hard, answer short"}])
    assert message.content[0].text == "Echo from gpt-4o-mini: think hard, answer short"
    with pytest.raises(anthropic.BadRequestError) as info:
        client(fresh).messages.create(model="openai/gpt-4o-mini", max_tokens=50, messages=[
            {"role": "user", "content": "as json"}], output_config={"effort": "low", "format": {
                "type": "json_schema", "schema": {"type": "object"}}})
    assert isinstance(info.value.body, dict) and "'output_config'" in info.value.body["error"]["message"]
    assert len(fresh.fake.requests) == 1


def test_a_plain_sdk_call_sends_none_of_the_newer_parameters_and_is_answered(fresh: Served) -> None:
    # container, diagnostics and inference_geo default to omitted in the 2.x SDK's messages.create,
    # .stream and .count_tokens: a call that does not set them does not send them, and null asks for nothing.
    sdk = client(fresh)
    ask: dict[str, Any] = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "plain defaults"}]}
    assert sdk.messages.create(max_tokens=50, **ask).content[0].text == "Echo from gpt-4o-mini: plain defaults"
    with sdk.messages.stream(max_tokens=50, **ask) as stream:
        assert stream.get_final_text() == "Echo from gpt-4o-mini: plain defaults"
    assert sdk.messages.count_tokens(**ask).input_tokens > 0
    message = sdk.messages.create(max_tokens=50, container=None, diagnostics=None, inference_geo=None, **ask)
    assert message.content[0].text == "Echo from gpt-4o-mini: plain defaults"


@pytest.mark.parametrize(("kwargs", "says"), [
    ({"container": "container_011"},
     "chatroute serve runs no containers (Anthropic's code execution and skills): leave 'container' unset"),
    ({"diagnostics": {"previous_message_id": None}},
     "chatroute serve gives no prompt-cache diagnostics: it keeps no earlier messages to compare with; "
     "leave 'diagnostics' unset"),
    ({"inference_geo": "us"}, "chatroute serve cannot keep a request to a region ('inference_geo'): each model "
                              "runs where its provider runs it; leave it unset"),
])
def test_the_newer_parameters_serve_cannot_honour_say_so_plainly(fresh: Served, kwargs: dict[str, Any],
                                                                 says: str) -> None:
    # They were refused as "chatroute serve does not support the parameter 'inference_geo'", which
    # did not say why: a region or a container is not something a router over several providers keeps.
    with pytest.raises(anthropic.BadRequestError) as info:
        client(fresh).messages.create(model="openai/gpt-4o-mini", max_tokens=50, **kwargs,
                                      messages=[{"role": "user", "content": "can you honour this?"}])
    assert info.value.body == {"type": "error", "error": {"type": "invalid_request_error", "message": says}}
    assert not fresh.fake.requests


def test_max_tokens_is_required_as_anthropic_requires_it(fresh: Served) -> None:
    r = httpx.post(fresh.url + "/messages", headers={"x-api-key": fresh.token},
                   json={"model": "chatroute/auto", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 400
    assert r.json() == {"type": "error", "error": {"type": "invalid_request_error",
                                                   "message": "'max_tokens' is required"}}


def test_the_token_is_read_from_x_api_key_and_a_wrong_one_is_an_authentication_error(fresh: Served) -> None:
    with pytest.raises(anthropic.AuthenticationError) as info:
        client(fresh, token="crt-wrong").messages.create(
            model="chatroute/auto", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert info.value.body == {"type": "error", "error": {
        "type": "authentication_error",
        "message": "invalid bearer token: pass the token `chatroute serve` printed as the API key"}}
    # An unknown model is a not-found error in Anthropic's shape.
    with pytest.raises(anthropic.NotFoundError):
        client(fresh).messages.create(model="chatroute/turbo", max_tokens=10,
                                      messages=[{"role": "user", "content": "hi"}])
    assert not fresh.fake.requests


def test_upstream_failures_map_to_anthropics_error_classes_without_keys(fresh: Served) -> None:
    fresh.fake.script("gpt-4o", Fault(status=400, echo_key=True))
    with pytest.raises(anthropic.BadRequestError) as info:
        client(fresh).messages.create(model="openai/gpt-4o", max_tokens=10,
                                      messages=[{"role": "user", "content": "echo the key back"}])
    assert OPENAI_KEY not in str(info.value.body) and ANTHROPIC_KEY not in str(info.value.body)
    fresh.fake.script("gpt-4o", Fault(status=429, retry_after=1.0))
    with pytest.raises(anthropic.RateLimitError):
        client(fresh).messages.create(model="openai/gpt-4o", max_tokens=10,
                                      messages=[{"role": "user", "content": "a rate-limited question"}])


@pytest.mark.parametrize(("fault", "status", "kind"), [
    (Fault(status=408, message="Request timed out."), 504, "timeout_error"),
    (Fault(status=402, message="This request requires more credits, or fewer max_tokens. You requested up to "
                               "1000 tokens, but can only afford 120."), 402, "billing_error"),
])
def test_an_upstream_timeout_or_spent_credit_has_anthropics_type_for_its_status(fresh: Served, fault: Fault,
                                                                                status: int, kind: str) -> None:
    # Anthropic's types for these statuses (its SDK's GatewayTimeoutError and BillingError); both
    # were api_error, Anthropic's type for a 500.
    fresh.fake.script("gpt-4o", fault)
    with pytest.raises(anthropic.APIStatusError) as info:
        client(fresh).messages.create(model="openai/gpt-4o", max_tokens=1000,
                                      messages=[{"role": "user", "content": f"an upstream {fault.status}"}])
    assert info.value.status_code == status
    assert isinstance(info.value.body, dict) and info.value.body["error"]["type"] == kind


def test_a_provider_failing_mid_stream_ends_with_an_error_event_and_is_recorded(fresh: Served) -> None:
    fresh.fake.script("gpt-4o-mini", Drop(after_chunks=3, text="one two three four five six"))
    got: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as info:  # noqa: PT012 - the error comes while iterating
        with client(fresh).messages.stream(model="openai/gpt-4o-mini", max_tokens=100,
                                           messages=[{"role": "user", "content": "cut me off"}]) as stream:
            for text in stream.text_stream:
                got.append(text)
    assert "".join(got) == "one two three "
    assert "partial reply kept" in str(info.value.message)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        turns = [t for t in fresh.turns() if t.model == "openai/gpt-4o-mini" and t.status == "interrupted"
                 and t.client == "Anthropic/Python"]
        if turns:
            break
        time.sleep(0.1)
    assert turns and turns[0].output_tokens >= 3


def test_a_repeated_message_is_served_from_the_cache(fresh: Served) -> None:
    ask = {"model": "chatroute/auto", "max_tokens": 300,
           "messages": [{"role": "user", "content": "what is the boiling point of water at sea level?"}]}
    first = client(fresh).messages.create(**ask)  # type: ignore[call-overload]
    sent = len(fresh.fake.requests)
    again = client(fresh).messages.create(**ask)  # type: ignore[call-overload]
    assert again.content[0].text == first.content[0].text
    assert again.model_extra["chatroute"]["cache"] == "hit" and len(fresh.fake.requests) == sent
    # Streamed, the hit is the same answer in Anthropic's events, with the system prompt as blocks.
    ask_blocks = {**ask, "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]}
    brief = client(fresh).messages.create(**ask_blocks)  # type: ignore[call-overload]
    sent = len(fresh.fake.requests)
    with client(fresh).messages.stream(**ask_blocks) as stream:  # type: ignore[arg-type]
        text = "".join(stream.text_stream)
    assert text == brief.content[0].text and len(fresh.fake.requests) == sent


def test_an_answer_a_safety_filter_cut_is_a_refusal_streamed_or_not(fresh: Served) -> None:
    # Before, it was "end_turn": the client took the cut answer for a whole one.
    for upstream in ("openai/gpt-4o", "anthropic/claude-haiku-4-5"):  # "content_filter" and "refusal" upstream
        fresh.fake.script(upstream.split("/")[1], Reply(text="I will not go on", finish_reason="content_filter"))
        message = client(fresh).messages.create(model=upstream, max_tokens=100,
                                                messages=[{"role": "user", "content": f"filtered whole {upstream}"}])
        assert message.content[0].text == "I will not go on" and message.stop_reason == "refusal", upstream
        fresh.fake.script(upstream.split("/")[1], Reply(text="I will not go on", finish_reason="content_filter"))
        with client(fresh).messages.stream(model=upstream, max_tokens=100, messages=[
                {"role": "user", "content": f"filtered streamed {upstream}"}]) as stream:
            deltas = [e.delta.stop_reason for e in stream if e.type == "message_delta"]
            final = stream.get_final_message()
        assert deltas == ["refusal"] and final.stop_reason == "refusal", upstream
    # OpenAI's wire keeps its own name for it.
    fresh.fake.script("gpt-4o", Reply(text="I will not go on", finish_reason="content_filter"))
    done = fresh.client().chat.completions.create(model="openai/gpt-4o",
                                                  messages=[{"role": "user", "content": "filtered on openai's wire"}])
    assert done.choices[0].finish_reason == "content_filter"
    fresh.fake.script("gpt-4o", Reply(text="I will not go on", finish_reason="content_filter"))
    chunks = fresh.client().chat.completions.create(model="openai/gpt-4o", stream=True, messages=[
        {"role": "user", "content": "filtered on openai's wire, streamed"}])
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["content_filter"]


def test_an_answer_the_filter_stopped_before_any_text_is_an_empty_200(fresh: Served) -> None:
    """The APIs answer a prompt their filter stops with a 200 and empty content; serve turned it
    into a 400 content_policy error, which clients retry or report as a failed request."""
    fresh.fake.script("claude-haiku-4-5", Reply(text="", finish_reason="content_filter"))
    message = client(fresh).messages.create(model="anthropic/claude-haiku-4-5", max_tokens=100,
                                            messages=[{"role": "user", "content": "filtered before a word"}])
    assert message.stop_reason == "refusal" and "".join(b.text for b in message.content) == ""
    fresh.fake.script("gpt-4o", Reply(text="", finish_reason="content_filter"))
    with client(fresh).messages.stream(model="openai/gpt-4o", max_tokens=100, messages=[
            {"role": "user", "content": "filtered before a word, streamed"}]) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "refusal"
    fresh.fake.script("gpt-4o", Reply(text="", finish_reason="content_filter"))
    done = fresh.client().chat.completions.create(model="openai/gpt-4o",
                                                  messages=[{"role": "user", "content": "filtered, openai's wire"}])
    assert done.choices[0].finish_reason == "content_filter" and not done.choices[0].message.content


def test_message_start_carries_the_prompts_input_count_and_message_delta_the_billed_one(fresh: Served) -> None:
    # Before, message_start said input_tokens 0: a client logging usage from it logged a free prompt.
    from chatroute.catalog.tokens import count_messages
    from chatroute.providers.base import Message

    fresh.fake.script("gpt-4o", Reply(text="sure thing", input_tokens=1234))
    ask = [{"role": "user", "content": "tell me about the tides"}, {"role": "assistant", "content": "Which part?"},
           {"role": "user", "content": "why there are two a day, in a few words"}]
    with client(fresh).messages.stream(model="openai/gpt-4o", max_tokens=100, system="Be brief.",
                                       messages=ask) as stream:  # type: ignore[arg-type]
        events = list(stream)
        final = stream.get_final_message()
    start = next(e for e in events if e.type == "message_start")
    counted, _ = count_messages([Message(m["role"], m["content"]) for m in ask], "Be brief.", "openai/gpt-4o")
    assert start.message.usage.input_tokens == counted > 0  # OpenAI's tokenizer: exact for its own model
    delta = next(e for e in events if e.type == "message_delta")
    assert delta.usage.input_tokens == final.usage.input_tokens == 1234  # what the provider billed
    # A cache hit sent nothing to a model: 0 from start to end.
    with client(fresh).messages.stream(model="openai/gpt-4o", max_tokens=100, system="Be brief.",
                                       messages=ask) as stream:  # type: ignore[arg-type]
        events = list(stream)
        final = stream.get_final_message()
    start = next(e for e in events if e.type == "message_start")
    delta = next(e for e in events if e.type == "message_delta")
    assert delta.model_extra["chatroute"]["cache"] == "hit"
    assert start.message.usage.input_tokens == final.usage.input_tokens == 0


def test_system_blocks_and_text_blocks_reach_the_model_on_lines_of_their_own(fresh: Served) -> None:
    # Joined with nothing between them, "Hello" and "World" reached the model as "HelloWorld".
    client(fresh).messages.create(
        model="anthropic/claude-haiku-4-5", max_tokens=64,
        system=[{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Be kind."}],
        messages=[{"role": "user", "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": "World"}]}])
    sent = fresh.fake.requests[-1]
    assert sent.system == "Be brief.\nBe kind."
    assert sent.messages[-1]["content"] == "Hello\nWorld"


def test_count_tokens_gives_the_count_message_start_gives(fresh: Served) -> None:
    """The SDK's messages.count_tokens (POST /v1/messages/count_tokens) was a 404 in OpenAI's shape."""
    sdk = client(fresh)
    messages: list[anthropic.types.MessageParam] = [
        {"role": "user", "content": "how many tokens does this question hold"},
        {"role": "assistant", "content": "some"},
        {"role": "user", "content": [{"type": "text", "text": "count them", "cache_control": {"type": "ephemeral"}}]}]
    pinned = sdk.messages.count_tokens(model="openai/gpt-4o", system="Be brief.", messages=messages)
    routed = sdk.messages.count_tokens(model="chatroute/auto", system="Be brief.", messages=messages)
    # For a routed name, the most any model it may go to counts: none of them is given more.
    claude = sdk.messages.count_tokens(model="claude-haiku-4-5", system="Be brief.", messages=messages)
    assert 0 < pinned.input_tokens <= routed.input_tokens and claude.input_tokens <= routed.input_tokens
    with pytest.raises(anthropic.BadRequestError) as info:
        sdk.messages.count_tokens(model="openai/gpt-4o", messages=messages,
                                  tools=[{"name": "f", "input_schema": {"type": "object"}}])
    assert isinstance(info.value.body, dict) and "'tools'" in info.value.body["error"]["message"]
    with pytest.raises(anthropic.NotFoundError):
        sdk.messages.count_tokens(model="chatroute/turbo", messages=messages)
    assert not fresh.fake.requests  # counting sends nothing to a provider
    with sdk.messages.stream(model="openai/gpt-4o", max_tokens=50, system="Be brief.", messages=messages) as stream:
        starts = [e.message.usage.input_tokens for e in stream if e.type == "message_start"]
    assert starts == [pinned.input_tokens]


def test_the_token_is_taken_as_a_bearer_token_and_as_x_api_key(fresh: Served) -> None:
    """The anthropic SDK (2.x) sends its api_key as `Authorization: Bearer`, not as x-api-key as
    the README said; other Anthropic clients send x-api-key. Both are accepted."""
    raw = client(fresh).messages.with_raw_response.create(
        model="openai/gpt-4o-mini", max_tokens=20, messages=[{"role": "user", "content": "which header?"}])
    assert raw.http_request.headers["authorization"] == f"Bearer {fresh.token}"
    assert "x-api-key" not in raw.http_request.headers
    assert raw.parse().stop_reason == "end_turn"
    body = {"model": "openai/gpt-4o-mini", "max_tokens": 20, "messages": [{"role": "user", "content": "x-api-key"}]}
    r = httpx.post(fresh.url + "/messages", headers={"x-api-key": fresh.token, "anthropic-version": "2023-06-01"},
                   json=body, timeout=30)
    assert r.status_code == 200 and r.json()["type"] == "message"
