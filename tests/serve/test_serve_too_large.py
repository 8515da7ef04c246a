"""A request too large for the model it names, or for every model, refused over real HTTP before
anything is sent, in words that fit serve: it has no conversations, and the model was named in
the request, not pinned to anything."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest

from tests.engine.helpers import write_config
from tests.fakeserver import FakeServer
from tests.serve.conftest import Served, start_served

TINY_WINDOWS = "".join(f'[models."{m}"]\ncontext_window = {w}\n' for m, w in
                       (("openai/gpt-4o-mini", 1000), ("openai/gpt-4o", 1500), ("anthropic/claude-haiku-4-5", 2000)))
EARLIER = [{"role": "user", "content": "Here is a list."}, {"role": "assistant", "content": "Go on."}]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    fake = FakeServer().start()
    home = tmp_path_factory.mktemp("serve") / "home"
    home.mkdir(parents=True)
    write_config(home, fake, extra=TINY_WINDOWS)
    server = start_served(home, fake)
    try:
        yield server
    finally:
        server.stop()
        fake.stop()


def _refusal(server: Served, path: str, model: str, content: str) -> str:
    body = {"model": model, "max_tokens": 100, "messages": [*EARLIER, {"role": "user", "content": content}]}
    r = httpx.post(server.url + path, json=body, timeout=30,
                   headers={"authorization": f"Bearer {server.token}", "x-api-key": server.token})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error"
    return str(error["message"])


def test_a_request_too_large_for_the_model_it_names_says_so(tiny: Served) -> None:
    tiny.fake.reset()
    # ≈1,550 tokens: past gpt-4o's 1,500, inside claude-haiku-4-5's 2,000.
    message = _refusal(tiny, "/chat/completions", "openai/gpt-4o", "word " * 1550)
    assert message.startswith("this request is about 1,5"), message
    assert message.endswith(" tokens; the model you named, openai/gpt-4o, has a context window of 1,500 tokens; "
                            "name one with a larger window (such as anthropic/claude-haiku-4-5, 2,000) "
                            "or shorten the messages"), message
    assert "conversation" not in message and "pinned" not in message
    assert not tiny.fake.requests


def test_a_request_too_large_for_every_model_names_the_largest_window(tiny: Served) -> None:
    tiny.fake.reset()
    for model in ("chatroute/auto", "openai/gpt-4o-mini"):
        message = _refusal(tiny, "/chat/completions", model, "word " * 3000)
        assert message.startswith("this request is about 3,"), message
        assert "conversation" not in message and "pinned" not in message, message
    assert message.endswith(" tokens; the model you named, openai/gpt-4o-mini, has a context window of 1,000 "
                            "tokens; shorten the messages"), message
    auto = _refusal(tiny, "/chat/completions", "chatroute/auto", "word " * 3000)
    assert auto.endswith(" tokens; the largest context window is 2,000 (anthropic/claude-haiku-4-5); "
                         "shorten the messages"), auto
    assert not tiny.fake.requests


def test_a_request_that_fits_the_model_it_names_says_it_was_named(tiny: Served) -> None:
    tiny.fake.reset()
    r = httpx.post(tiny.url + "/chat/completions", timeout=30, headers={"authorization": f"Bearer {tiny.token}"},
                   json={"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "a short one"}]})
    assert r.status_code == 200, r.text
    assert r.headers["x-chatroute-route-reason"] == "gpt-4o: named in the request"


def test_an_input_too_large_on_the_responses_wire_names_the_input_and_says_to_shorten_it(tiny: Served) -> None:
    # The Responses API has no messages: its input is `input` (and `instructions`), which is what
    # the client must shorten, as the SDK gives it back (BadRequestError.param).
    tiny.fake.reset()
    client = tiny.client()
    items = [*EARLIER, {"role": "user", "content": "word " * 1550}]
    refusals = []
    with pytest.raises(openai.BadRequestError) as named:
        client.responses.create(model="openai/gpt-4o", instructions="Be brief.", input=items)  # type: ignore[arg-type]
    refusals.append(named.value)
    with pytest.raises(openai.BadRequestError) as streamed:  # noqa: SIM117 - the refusal comes on opening
        with client.responses.stream(model="openai/gpt-4o", input=items):  # type: ignore[arg-type]
            pass
    refusals.append(streamed.value)
    with pytest.raises(openai.BadRequestError) as routed:
        client.responses.create(model="chatroute/auto", input="word " * 3000)
    refusals.append(routed.value)
    for err in refusals:
        assert err.code == "context_length_exceeded" and err.param == "input", err.body
        assert "messages" not in err.message, err.message
    assert refusals[0].message.endswith(
        "the model you named, openai/gpt-4o, has a context window of 1,500 tokens; name one with a larger window "
        "(such as anthropic/claude-haiku-4-5, 2,000) or shorten the input or the instructions"), refusals[0].message
    assert refusals[2].message.endswith(" tokens; the largest context window is 2,000 (anthropic/claude-haiku-4-5); "
                                        "shorten the input or the instructions"), refusals[2].message
    assert not tiny.fake.requests


def test_an_input_too_large_on_the_messages_wire_says_to_shorten_the_messages_or_the_system_prompt(
        tiny: Served) -> None:
    # Anthropic's system prompt is a field of its own, beside the messages, and counts as much:
    # the advice said "shorten the messages" alone.
    tiny.fake.reset()
    client = anthropic.Anthropic(base_url=tiny.url.removesuffix("/v1"), api_key=tiny.token, max_retries=0,
                                 timeout=30)
    messages = [*EARLIER, {"role": "user", "content": "word " * 1550}]
    bodies = []
    with pytest.raises(anthropic.BadRequestError) as named:
        client.messages.create(model="openai/gpt-4o", max_tokens=100, system="Be brief.",
                               messages=messages)  # type: ignore[arg-type]
    bodies.append(named.value.body)
    with pytest.raises(anthropic.BadRequestError) as streamed:  # noqa: SIM117 - the refusal comes on opening
        with client.messages.stream(model="openai/gpt-4o", max_tokens=100, system="Be brief.",
                                    messages=messages):  # type: ignore[arg-type]
            pass
    bodies.append(streamed.value.body)
    with pytest.raises(anthropic.BadRequestError) as routed:
        client.messages.create(model="chatroute/auto", max_tokens=100, system="word " * 3000,
                               messages=[{"role": "user", "content": "summarise the system prompt"}])
    bodies.append(routed.value.body)
    said = []
    for body in bodies:
        assert isinstance(body, dict) and body["error"]["type"] == "invalid_request_error", body
        said.append(str(body["error"]["message"]))
    for message in said[:2]:
        assert message.endswith(
            "the model you named, openai/gpt-4o, has a context window of 1,500 tokens; name one with a larger "
            "window (such as anthropic/claude-haiku-4-5, 2,000) or shorten the messages or the system prompt"), message
    assert said[2].endswith(" tokens; the largest context window is 2,000 (anthropic/claude-haiku-4-5); "
                            "shorten the messages or the system prompt"), said[2]
    assert not tiny.fake.requests
