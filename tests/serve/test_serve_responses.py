"""`chatroute serve` through the official openai SDK's Responses API (POST /v1/responses): tools
built on `client.responses` (agents, newer editor plugins) get the same routing, cache and ledger
as chat completions clients. Until now the path was a 404."""

from __future__ import annotations

import time
from typing import Any

import openai
import pytest

from chatroute.serve import responses_wire, wire
from tests.fakeserver import Drop, Reply
from tests.serve.conftest import Served


def extra(model: Any) -> dict[str, Any]:
    """What the SDK's model holds beyond its fields (chatroute's decision)."""
    assert model.model_extra is not None
    return model.model_extra


def test_a_routed_response_carries_the_decision_and_is_in_the_ledger(fresh: Served) -> None:
    raw = fresh.client().responses.with_raw_response.create(
        model="chatroute/auto", instructions="Be brief.", input="name a prime number between 40 and 50")
    response = raw.parse()
    model = raw.headers["x-chatroute-model"]
    assert response.status == "completed" and response.model == model
    assert response.output_text == f"Echo from {model.split('/', 1)[1]}: name a prime number between 40 and 50"
    decision = extra(response)["chatroute"]
    assert decision["model"] == model and decision["route_kind"] == "routed" and decision["cache"] == "miss"
    turn = fresh.turn(decision["turn_id"])
    assert turn.status == "ok" and turn.client == "OpenAI/Python"
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (turn.input_tokens, turn.output_tokens)
    assert turn.cost_usd == pytest.approx(float(raw.headers["x-chatroute-cost-usd"]), abs=1e-8)
    sent = fresh.fake.requests[-1]
    assert "Be brief." in str(sent.system or sent.messages)
    assert fresh.token not in str(sent.body)


def test_a_streamed_response_gives_the_text_events_in_order_and_the_ledgers_usage(fresh: Served) -> None:
    fresh.fake.script("gpt-4o", Reply(text="one two three four", cached_tokens=4))
    kinds: list[str] = []
    numbers: list[int] = []
    with fresh.client().responses.stream(model="openai/gpt-4o", input="count to four for me") as stream:
        for event in stream:
            kinds.append(event.type)
            numbers.append(event.sequence_number)
        final = stream.get_final_response()
    assert final.output_text == "one two three four" and final.status == "completed"
    assert kinds[:4] == ["response.created", "response.in_progress", "response.output_item.added",
                         "response.content_part.added"]
    assert kinds[-4:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done",
                          "response.completed"]
    assert kinds.count("response.output_text.delta") >= 2
    assert numbers == list(range(len(numbers)))
    decision = extra(final)["chatroute"]
    assert decision["route_kind"] == "pinned"
    turn = fresh.turn(decision["turn_id"])
    assert final.usage is not None
    assert final.usage.input_tokens == turn.input_tokens and final.usage.output_tokens == turn.output_tokens
    assert final.usage.input_tokens_details.cached_tokens == turn.cached_tokens == 4


def test_message_items_carry_the_history_and_a_token_limit_reached_is_incomplete(fresh: Served) -> None:
    fresh.fake.script("gpt-4o-mini", Reply(text="cut short", finish_reason="length"))
    items: list[Any] = [
        {"role": "developer", "content": "Answer in French."},
        {"role": "user", "content": [{"type": "input_text", "text": "my name is Ada"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hello Ada."}]},
        {"role": "user", "content": "what is my name?"}]
    response = fresh.client().responses.create(model="openai/gpt-4o-mini", max_output_tokens=16, input=items)
    assert response.status == "incomplete"
    assert response.incomplete_details is not None and response.incomplete_details.reason == "max_output_tokens"
    assert response.output_text == "cut short"
    sent = fresh.fake.requests[-1]
    assert "my name is Ada" in str(sent.messages) and "Hello Ada." in str(sent.messages)
    assert "Answer in French." in str(sent.system or sent.messages)
    assert sent.body.get("max_tokens", sent.body.get("max_completion_tokens")) == 16


@pytest.mark.parametrize("kwargs,says", [
    ({"previous_response_id": "resp_123"}, "send the whole conversation in 'input'"),
    ({"tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}]}, "parameter 'tools'"),
    ({"text": {"format": {"type": "json_object"}}}, "'text.format'"),
    ({"input": [{"type": "function_call_output", "call_id": "c1", "output": "42"}]},
     "only message items are supported"),
    ({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "https://example.com/a.png"}]}]},
     "got 'input_image'"),
    ({"input": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Sure"}]},
     "the last message of 'input' must be the user's"),
    ({"top_logprobs": 2}, "log probabilities"),
])
def test_what_chatroute_cannot_honour_is_a_400_naming_it(fresh: Served, kwargs: dict[str, object], says: str) -> None:
    args: dict[str, object] = {"model": "chatroute/auto", "input": "hello there"}
    args.update(kwargs)
    with pytest.raises(openai.BadRequestError) as info:
        fresh.client().responses.create(**args)  # type: ignore[call-overload]
    body = info.value.body
    assert isinstance(body, dict) and says in body["message"], body
    assert not fresh.fake.requests


def test_hints_that_change_nothing_about_the_answer_are_accepted(fresh: Served) -> None:
    response = fresh.client().responses.create(
        model="openai/gpt-4o-mini", input="say something short", store=True, metadata={"k": "v"},
        reasoning={"effort": "low"}, text={"format": {"type": "text"}, "verbosity": "low"}, tool_choice="auto",
        truncation="disabled", parallel_tool_calls=False, user="u-1", prompt_cache_key="k-1",
        prompt_cache_options={"ttl": "30m"})
    assert response.output_text == "Echo from gpt-4o-mini: say something short"
    # Not passed on, as chat completions' verbosity is not (README says so of both).
    assert "verbosity" not in str(fresh.fake.requests[-1].body)
    assert extra(response)["store"] is False  # serve keeps no responses, whatever was asked


def test_a_provider_failing_mid_stream_raises_in_the_sdk_and_is_recorded(fresh: Served) -> None:
    fresh.fake.script("gpt-4o-mini", Drop(after_chunks=3, text="one two three four five six"))
    got: list[str] = []
    with pytest.raises(openai.APIError) as info:  # noqa: PT012 - the error comes while iterating
        for event in fresh.client().responses.create(model="openai/gpt-4o-mini", input="cut me off", stream=True):
            if event.type == "response.output_text.delta":
                got.append(event.delta)
    assert "".join(got) == "one two three "
    assert "partial reply kept" in str(info.value.message)
    deadline = time.monotonic() + 10
    turns: list[Any] = []
    while time.monotonic() < deadline and not turns:
        turns = [t for t in fresh.turns() if t.model == "openai/gpt-4o-mini" and t.status == "interrupted"]
        time.sleep(0.1)
    assert turns and turns[0].output_tokens >= 3


def test_a_repeated_request_is_served_from_the_cache_streamed_or_not(fresh: Served) -> None:
    ask = {"model": "chatroute/auto", "input": "what is the freezing point of water in fahrenheit?"}
    first = fresh.client().responses.create(**ask)  # type: ignore[call-overload]
    sent = len(fresh.fake.requests)
    again = fresh.client().responses.create(**ask)  # type: ignore[call-overload]
    assert again.output_text == first.output_text and extra(again)["chatroute"]["cache"] == "hit"
    with fresh.client().responses.stream(model=ask["model"], input=ask["input"]) as stream:
        streamed = stream.get_final_response()
    assert streamed.output_text == first.output_text and len(fresh.fake.requests) == sent


def test_an_input_too_large_for_the_model_names_the_input(fresh: Served) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        fresh.client().responses.create(model="openai/gpt-4o-mini", input="word " * 700_000)
    assert info.value.code == "context_length_exceeded" and info.value.param == "input"
    assert not fresh.fake.requests


@pytest.mark.parametrize("items", [
    [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Sure"}],
    [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Sure"}, {"role": "user", "content": "  "}],
], ids=["assistant-last", "empty-last"])
def test_input_whose_last_message_is_not_a_users_question_names_the_input(fresh: Served,
                                                                           items: list[Any]) -> None:
    # The Responses API has no `messages`: a client pointing at the field to fix reads `input`.
    with pytest.raises(openai.BadRequestError) as info:
        fresh.client().responses.create(model="chatroute/auto", input=items)
    assert info.value.param == "input", info.value.body
    assert not fresh.fake.requests


def test_metadata_reasoning_and_the_end_users_names_are_echoed_as_openai_echoes_them(fresh: Served) -> None:
    ask: dict[str, Any] = {"model": "openai/gpt-4o-mini", "input": "echo my request's fields",
                           "metadata": {"ticket": "T-1", "team": "docs"}, "reasoning": {"effort": "low",
                                                                                         "summary": "auto"},
                           "safety_identifier": "user-hash-1", "user": "u-1"}
    whole = fresh.client().responses.create(**ask)
    with fresh.client().responses.stream(**ask) as stream:
        created = [e.response for e in stream if e.type == "response.created"]
        streamed = stream.get_final_response()
    for response in (whole, *created, streamed):
        assert response.metadata == {"ticket": "T-1", "team": "docs"}
        assert response.reasoning is not None
        assert (response.reasoning.effort, response.reasoning.summary) == ("low", "auto")
        assert (response.safety_identifier, response.user) == ("user-hash-1", "u-1")
    # The effort is not passed on, as chat completions' reasoning_effort is not: the routed model decides.
    assert all("effort" not in str(r.body) and "reasoning" not in r.body for r in fresh.fake.requests)
    plain = fresh.client().responses.create(model="openai/gpt-4o-mini", input="nothing to echo")
    assert plain.metadata == {} and plain.safety_identifier is None and plain.user is None
    assert plain.reasoning is not None and plain.reasoning.effort is None


@pytest.mark.parametrize(("field", "value", "param"), [
    ("metadata", "ticket T-1", "metadata"), ("metadata", {"ticket": 1}, "metadata"),
    ("reasoning", "low", "reasoning"), ("reasoning", {"effort": 1}, "reasoning.effort"),
    ("reasoning", {"summary": True}, "reasoning.summary"),
    ("safety_identifier", 42, "safety_identifier"), ("user", ["u-1"], "user"),
])
def test_an_echoed_field_of_the_wrong_type_is_a_400_naming_it(fresh: Served, field: str, value: Any,
                                                             param: str) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        fresh.client().responses.create(model="openai/gpt-4o-mini", input="a bad field", **{field: value})
    assert info.value.param == param, info.value.body
    assert not fresh.fake.requests


def test_top_p_is_checked_as_chat_completions_checks_it_and_echoed_as_sent(fresh: Served) -> None:
    # It was accepted whatever it held ("high", 1.5) and the response said top_p: null whatever was sent.
    for value in ("high", 1.5, -0.1, True):
        with pytest.raises(openai.BadRequestError) as info:
            fresh.client().responses.create(model="openai/gpt-4o-mini", input="a bad top_p",
                                            top_p=value)  # type: ignore[arg-type]
        assert info.value.param == "top_p", info.value.body
        body = info.value.body
        assert isinstance(body, dict) and body["message"] == "'top_p' must be a number from 0 to 1"
    assert not fresh.fake.requests
    ask: dict[str, Any] = {"model": "openai/gpt-4o-mini", "input": "echo my top_p", "top_p": 0.25}
    whole = fresh.client().responses.create(**ask)
    with fresh.client().responses.stream(**ask) as stream:
        created = [e.response for e in stream if e.type == "response.created"]
        streamed = stream.get_final_response()
    assert [r.top_p for r in (whole, *created, streamed)] == [0.25, 0.25, 0.25]
    assert all("top_p" not in r.body for r in fresh.fake.requests)  # not passed on, as on chat completions
    assert fresh.client().responses.create(model="openai/gpt-4o-mini", input="no top_p sent").top_p is None


@pytest.mark.parametrize(("field", "value", "param", "says"), [
    # Each was accepted whatever it held, and dropped (none is passed on).
    ("reasoning", {"effort": 3}, "reasoning.effort", '"xhigh" or "max", got a number'),  # any value was
    ("text", {"verbosity": True}, "text.verbosity",
     '\'text.verbosity\' must be a string such as "low", "medium" or "high"'),
    ("text", {"format": {"type": "text"}, "verbosity": 2}, "text.verbosity", "got a number"),
    ("store", "no", "store", "'store' must be true or false, got a string"),
    ("parallel_tool_calls", "false", "parallel_tool_calls", "must be true or false"),
    ("service_tier", ["auto"], "service_tier", '"fast" or "ultrafast", got an array'),
    ("prompt_cache_key", ["k"], "prompt_cache_key", "'prompt_cache_key' must be a string, got an array"),
    ("prompt_cache_retention", 24, "prompt_cache_retention", '"in_memory" or "24h", got a number'),
    ("prompt_cache_options", {"ttl": 30}, "prompt_cache_options.ttl", '"30m" or "12h", got a number'),
    ("max_tool_calls", "3", "max_tool_calls", "'max_tool_calls' must be an integer"),
])
def test_a_hint_that_is_not_passed_on_is_still_checked_against_openais_types(fresh: Served, field: str,
                                                                               value: Any, param: str,
                                                                               says: str) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        fresh.client().responses.create(model="openai/gpt-4o-mini", input=f"a bad {field}", **{field: value})
    body = info.value.body
    assert info.value.param == param, body
    assert isinstance(body, dict) and body["type"] == "invalid_request_error" and says in body["message"], body
    assert not fresh.fake.requests


def test_every_value_openais_sdk_allows_for_those_hints_is_answered(fresh: Served) -> None:
    client = fresh.client()
    for effort in wire.REASONING_EFFORTS:
        response = client.responses.create(model="openai/gpt-4o-mini", input="every allowed hint",
                                           reasoning={"effort": effort})
        assert response.reasoning is not None and response.reasoning.effort == effort
    for tier in responses_wire.SERVICE_TIERS:
        client.responses.create(model="openai/gpt-4o-mini", input="every allowed hint", service_tier=tier)
    for verbosity, ttl in zip(wire.VERBOSITIES, (*responses_wire.PROMPT_CACHE_TTLS, None), strict=True):
        client.responses.create(model="openai/gpt-4o-mini", input="every allowed hint",
                                text={"verbosity": verbosity}, prompt_cache_options={"ttl": ttl} if ttl else {},
                                prompt_cache_retention="in_memory", max_tool_calls=2, store=False)
    assert all("reasoning" not in r.body and "service_tier" not in r.body for r in fresh.fake.requests)


@pytest.mark.parametrize(("include", "says"), [
    ("reasoning.encrypted_content", "'include' must be an array of strings, got a string"),
    ([["reasoning.encrypted_content"]], "'include' must be an array of strings: include[0] is an array"),
    (["reasoning.encrypted_content", 7], "'include' must be an array of strings: include[1] is a number"),
    (["message.output_text.logprobs"], "chatroute serve does not return log probabilities"),  # refused already
])
def test_include_must_be_a_list_of_strings_without_log_probabilities(fresh: Served, include: Any, says: str) -> None:
    # An array of anything was accepted: [7] went unnoticed.
    with pytest.raises(openai.BadRequestError) as info:
        fresh.client().responses.create(model="openai/gpt-4o-mini", input="include what?", include=include)
    assert info.value.param == "include", info.value.body
    assert isinstance(info.value.body, dict) and info.value.body["message"].startswith(says), info.value.body
    assert not fresh.fake.requests


def test_the_include_values_with_nothing_to_add_are_accepted(fresh: Served) -> None:
    # Codex-style clients always ask for reasoning.encrypted_content; the output holds no reasoning
    # item, tool call or input image for these to add to.
    # A value newer than the SDK's is accepted too ("newer.include"): it would have nothing to add either.
    wanted = [v for v in responses_wire.INCLUDABLE if v != "message.output_text.logprobs"] + ["newer.include"]
    response = fresh.client().responses.create(model="openai/gpt-4o-mini", input="include all you can",
                                               include=wanted)  # type: ignore[arg-type]
    assert response.output_text == "Echo from gpt-4o-mini: include all you can"
    assert "include" not in fresh.fake.requests[-1].body


def test_truncation_and_tool_choice_are_checked_and_echoed_as_sent(fresh: Served) -> None:
    ask: dict[str, Any] = {"model": "openai/gpt-4o-mini", "input": "echo how to truncate", "truncation": "auto",
                           "tool_choice": "none"}
    whole = fresh.client().responses.create(**ask)
    with fresh.client().responses.stream(**ask) as stream:
        streamed = stream.get_final_response()
    for response in (whole, streamed):
        assert (response.truncation, response.tool_choice) == ("auto", "none")
    plain = fresh.client().responses.create(model="openai/gpt-4o-mini", input="echo the defaults")
    assert (plain.truncation, plain.tool_choice) == ("disabled", "auto")
    for value in ("sometimes", 1):
        with pytest.raises(openai.BadRequestError) as info:
            fresh.client().responses.create(model="openai/gpt-4o-mini", input="truncate how?",
                                            truncation=value)  # type: ignore[arg-type]
        assert info.value.param == "truncation", info.value.body
