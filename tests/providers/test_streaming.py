"""Happy paths through the official SDKs: text, usage (incl. cached tokens), finish reasons."""

from __future__ import annotations

import asyncio
import threading
import time

from chatroute.providers import ChatRequest, Finish, Message, TextDelta, UsageReport
from tests.fakeserver import FakeServer, Reply
from tests.providers.conftest import MODEL, SECRET, MakeProvider, collect, request


def texts(events: list) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def usage_of(events: list) -> UsageReport | None:
    """The final usage: any earlier report is the partial one Anthropic's message_start gives."""
    found = [e for e in events if isinstance(e, UsageReport)]
    assert all(e.partial for e in found[:-1])
    return found[-1] if found else None


async def test_text_usage_finish(make: MakeProvider, fake_server: FakeServer, wire: str) -> None:
    fake_server.script(MODEL, Reply(text="hello brave new world", input_tokens=12, output_tokens=4))
    provider = make(wire)
    req = ChatRequest(model=MODEL, messages=(Message("user", "say hello"),), system="be brief", temperature=0.2)
    events, err = await collect(provider, req)
    assert err is None
    assert [type(e) for e in events][-2:] == [UsageReport, Finish]  # usage then finish, always last
    assert sum(isinstance(e, TextDelta) for e in events) == 4  # one delta per word chunk
    assert texts(events) == "hello brave new world"
    usage = usage_of(events)
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens, usage.cached_input_tokens) == (12, 4, 0)
    assert events[-1] == Finish("stop")

    sent = fake_server.requests[-1]
    assert sent.auth == SECRET and sent.model == MODEL
    assert SECRET not in str(sent.headers)
    if wire == "openai":
        assert sent.body["temperature"] == 0.2
        assert sent.path == "/v1/chat/completions"
        assert sent.messages == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "say hello"}]
        assert sent.stream_options == {"include_usage": True}
        assert "max_tokens" not in sent.body
    else:
        assert sent.path == "/v1/messages"
        assert sent.system == "be brief"
        assert sent.messages == [{"role": "user", "content": "say hello"}]
        assert sent.body["max_tokens"] == 4096  # mandatory for Anthropic: defaulted
        assert "temperature" not in sent.body  # not part of the Messages API any more


async def test_cached_tokens(make: MakeProvider, fake_server: FakeServer, wire: str) -> None:
    fake_server.script(MODEL, Reply(text="cached answer", input_tokens=2000, output_tokens=2,
                                    cached_tokens=1536, cache_write_tokens=100))
    events, err = await collect(make(wire))
    assert err is None
    usage = usage_of(events)
    assert usage is not None
    assert usage.cached_input_tokens == 1536
    # One footing for both: input is every prompt token sent, cache reads and writes parts of it.
    assert usage.input_includes_cached is True
    if wire == "openai":
        # OpenAI: prompt_tokens already includes the cached ones; no cache-write concept.
        assert usage.cache_write_tokens == 0
        assert usage.input_tokens == 2000
    else:
        # Anthropic reports input_tokens apart from cache reads and writes: added back.
        assert usage.cache_write_tokens == 100
        assert usage.input_tokens == 2000 + 1536 + 100


async def test_openrouter_reported_cost(make: MakeProvider, fake_server: FakeServer) -> None:
    fake_server.script(MODEL, Reply(text="priced", cost=0.00123))
    events, err = await collect(make("openai"))
    assert err is None
    usage = usage_of(events)
    assert usage is not None and usage.reported_cost_usd == 0.00123


async def test_max_tokens_truncation_is_length(make: MakeProvider, fake_server: FakeServer, wire: str) -> None:
    fake_server.script(MODEL, Reply(text="one two three four five six"))
    events, err = await collect(make(wire), request(max_tokens=3))
    assert err is None
    assert texts(events) == "one two three "
    assert events[-1] == Finish("length")
    key = "max_tokens"
    assert fake_server.requests[-1].body[key] == 3


async def test_finish_reason_mapping(make: MakeProvider, fake_server: FakeServer, wire: str) -> None:
    fake_server.script(MODEL, Reply(text="no.", finish_reason="content_filter"),
                       Reply(text="calling", finish_reason="tool_calls"),
                       Reply(text="odd", finish_reason="something_new"))
    provider = make(wire)
    reasons = []
    for _ in range(3):
        events, err = await collect(provider)
        assert err is None
        reasons.append(events[-1].reason)
    assert reasons == ["content_filter", "tool_calls", "other"]


async def test_missing_usage_emits_no_report(make: MakeProvider, fake_server: FakeServer, wire: str) -> None:
    fake_server.script(MODEL, Reply(text="no usage here", omit_usage=True))
    events, err = await collect(make(wire))
    assert err is None
    assert usage_of(events) is None  # the engine estimates and marks it
    assert texts(events) == "no usage here"
    assert events[-1] == Finish("stop")


async def test_stream_options_rejected_retry_once_and_remember(make: MakeProvider, fake_server: FakeServer) -> None:
    fake_server.reject_stream_options = True
    fake_server.script(MODEL, Reply(text="first"), Reply(text="second"))
    provider = make("openai")
    events, err = await collect(provider)
    assert err is None and texts(events) == "first"
    assert usage_of(events) is None  # without stream_options the server sends no usage
    first, retry = fake_server.requests
    assert first.stream_options == {"include_usage": True}
    assert retry.stream_options is None
    events, err = await collect(provider)
    assert err is None and texts(events) == "second"
    assert len(fake_server.requests) == 3  # remembered: no second rejected attempt
    assert fake_server.requests[-1].stream_options is None


async def test_default_reply_and_fast_mode(make: MakeProvider, fake_server: FakeServer, wire: str) -> None:
    events, err = await collect(make(wire), request("ping please"))
    assert err is None
    assert texts(events) == f"Echo from {MODEL}: ping please"
    fake_server.script(MODEL, Reply(n_tokens=2000))
    started = time.perf_counter()
    events, err = await collect(make(wire))
    assert err is None
    assert sum(isinstance(e, TextDelta) for e in events) == 2000
    assert usage_of(events).output_tokens == 2000  # type: ignore[union-attr]
    assert time.perf_counter() - started < 5


async def test_slow_tokens_after_first_are_not_a_timeout(make: MakeProvider, fake_server: FakeServer) -> None:
    # The first-token deadline covers only the wait for the first visible token.
    fake_server.script(MODEL, Reply(text="a b c d", tokens_per_s=8))
    provider = make("openai", first_token_timeout_s=0.3)
    await collect(provider, request(model="warm-up"))  # one-off SDK set-up off the clock
    events, err = await collect(provider)
    assert err is None and texts(events) == "a b c d"


async def test_a_held_reply_waits_for_its_release(make: MakeProvider, fake_server: FakeServer) -> None:
    # The fake server's hold: tests order a reply after what they do meanwhile, not by a delay.
    release = threading.Event()
    fake_server.script(MODEL, Reply(text="held back", hold=release))
    streaming = asyncio.create_task(collect(make("openai")))
    while not fake_server.requests:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.3)
    assert not streaming.done() and fake_server.requests[0].first_text_at is None
    release.set()
    events, err = await asyncio.wait_for(streaming, 10)
    assert err is None and texts(events) == "held back"


async def test_three_concurrent_streams(make: MakeProvider, fake_server: FakeServer) -> None:
    # A second a stream, not a quarter: one after another takes three, and a loaded machine's
    # own delays fit in the difference.
    for model in ("m1", "m2", "m3"):
        fake_server.script(model, Reply(text=f"{model} " * 21, tokens_per_s=20))
    providers = [make("openai"), make("anthropic"), make("openai", name="other")]
    for p in providers:  # first use pays one-off SDK set-up; measure only the overlap
        assert (await collect(p, request(model="warm-up")))[1] is None
    started = time.perf_counter()
    results = await asyncio.gather(
        *(collect(p, request(model=m)) for p, m in zip(providers, ("m1", "m2", "m3"), strict=True))
    )
    elapsed = time.perf_counter() - started
    for (events, err), model in zip(results, ("m1", "m2", "m3"), strict=True):
        assert err is None
        assert texts(events) == f"{model} " * 21
    assert elapsed < 1.0 * 3 * 0.9  # overlapped, not one after another (each takes ~1 s)


async def test_consumer_stops_early_on_endless_stream(make: MakeProvider, fake_server: FakeServer, wire: str) -> None:
    fake_server.script(MODEL, Reply(endless=True))
    provider = make(wire)
    gen = provider.stream(request(max_tokens=1000))  # the adapter would cut the stream at 1000 chunks
    seen = 0
    async for event in gen:
        if isinstance(event, UsageReport) and event.partial:
            continue  # Anthropic's message_start counts
        assert isinstance(event, TextDelta)
        seen += 1
        if seen == 50:  # the server ignores max_tokens; the consumer stops first
            break
    await gen.aclose()  # type: ignore[attr-defined]
    # The connection was released: the next request on the same client works.
    events, err = await collect(provider)
    assert err is None and events[-1] == Finish("stop")


async def test_reasoning_counts_as_first_token_but_is_not_text(
    make: MakeProvider, fake_server: FakeServer, wire: str
) -> None:
    # 6 reasoning chunks at 10/s outlast the 0.3 s first-token deadline; still no timeout.
    fake_server.script(MODEL, Reply(text="the answer", reasoning="let me think about it now", tokens_per_s=10))
    provider = make(wire, first_token_timeout_s=0.3)
    await collect(provider, request(model="warm-up"))  # one-off SDK set-up off the clock
    events, err = await collect(provider)
    assert err is None, err
    assert texts(events) == "the answer"
    assert events[-1] == Finish("stop")
