"""Every fault the engine must tell apart, through the official SDKs, for both wire formats."""

from __future__ import annotations

import time
from email.utils import formatdate

import pytest

from chatroute.config import ProviderConfig
from chatroute.providers import ErrorKind, ReasoningDelta, TextDelta, UsageReport, make_provider
from tests.fakeserver import Drop, FakeServer, Fault, InStreamError, Malformed, Reply
from tests.providers.conftest import MODEL, SECRET, MakeProvider, collect


def deltas(events: list) -> list[str]:
    return [e.text for e in events if isinstance(e, TextDelta)]


def nothing_shown(events: list) -> bool:
    """No text; at most the partial usage Anthropic's message_start reports before any token."""
    return all(isinstance(e, UsageReport) and e.partial for e in events)


async def fail(provider, fake_server: FakeServer, *steps):  # type: ignore[no-untyped-def]
    fake_server.script(MODEL, *steps)
    events, err = await collect(provider)
    assert err is not None, f"expected an error, got {events}"
    assert "\n" not in err.message and SECRET not in str(err) and SECRET not in repr(err)
    return events, err


async def test_429_retry_after_seconds(make: MakeProvider, fake_server: FakeServer, wire: str) -> None:
    events, err = await fail(make(wire), fake_server, Fault(status=429, retry_after=2))
    assert err.kind is ErrorKind.RATE_LIMITED and err.status == 429
    assert err.retry_after == 2
    assert err.short == "429"
    assert events == []


async def test_429_retry_after_ms_and_http_date(make: MakeProvider, fake_server: FakeServer, wire: str) -> None:
    provider = make(wire)
    _, err = await fail(provider, fake_server, Fault(status=429, retry_after_ms=1500))
    assert err.retry_after == pytest.approx(1.5)
    _, err = await fail(provider, fake_server, Fault(status=429, retry_after=formatdate(time.time() + 30, usegmt=True)))
    assert err.retry_after is not None and 27 <= err.retry_after <= 30.5


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors(make: MakeProvider, fake_server: FakeServer, wire: str, status: int) -> None:
    _, err = await fail(make(wire), fake_server, Fault(status=status, retry_after=7 if status == 503 else None))
    assert err.kind is ErrorKind.SERVER and err.status == status
    assert err.retry_after == (7 if status == 503 else None)


async def test_529_overloaded(make: MakeProvider, fake_server: FakeServer, wire: str) -> None:
    _, err = await fail(make(wire), fake_server, Fault(status=529, anthropic_overloaded=True))
    assert err.kind is ErrorKind.OVERLOADED and err.status == 529


async def test_overloaded_error_inside_200_stream(make: MakeProvider, fake_server: FakeServer, wire: str) -> None:
    events, err = await fail(make(wire), fake_server, InStreamError("overloaded_error", after_chunks=2))
    assert err.kind is ErrorKind.OVERLOADED
    assert err.status is None  # the HTTP status was 200; it is not a 529
    assert deltas(events) == ["partial ", "answer "]  # partial text kept by the caller


async def test_other_error_inside_200_stream_is_server(make: MakeProvider, fake_server: FakeServer, wire: str) -> None:
    _, err = await fail(make(wire), fake_server, InStreamError("api_error", "Internal server error"))
    assert err.kind is ErrorKind.SERVER


async def test_drop_before_headers(make: MakeProvider, fake_server: FakeServer, wire: str) -> None:
    events, err = await fail(make(wire), fake_server, Drop(before_headers=True))
    assert err.kind is ErrorKind.CONNECTION and events == []


async def test_drop_before_first_token(make: MakeProvider, fake_server: FakeServer, wire: str) -> None:
    events, err = await fail(make(wire), fake_server, Drop(after_chunks=0))
    assert err.kind is ErrorKind.CONNECTION and nothing_shown(events)


async def test_drop_after_thinking_only_passes_the_thinking_on(make: MakeProvider, fake_server: FakeServer,
                                                                wire: str) -> None:
    """Thinking is billed output: the engine must see it (and Anthropic's reported input) to
    price a stream that breaks before any visible text."""
    thought = "first I weigh every option with care before I answer"
    events, err = await fail(make(wire), fake_server, Drop(after_chunks=0, reasoning=thought, input_tokens=5000))
    assert err.kind is ErrorKind.CONNECTION and deltas(events) == []
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == thought
    if wire == "anthropic":
        assert isinstance(events[-1], UsageReport) and events[-1].partial and events[-1].input_tokens == 5000


async def test_drop_mid_stream_keeps_partial(make: MakeProvider, fake_server: FakeServer, wire: str) -> None:
    events, err = await fail(make(wire), fake_server, Drop(after_chunks=3))
    assert err.kind is ErrorKind.CONNECTION
    assert deltas(events) == ["this ", "answer ", "will "]


async def test_malformed_chunk(make: MakeProvider, fake_server: FakeServer, wire: str) -> None:
    events, err = await fail(make(wire), fake_server, Malformed(after_chunks=1))
    assert err.kind is ErrorKind.MALFORMED_STREAM
    assert deltas(events) == ["a "]


async def test_first_token_timeout(make: MakeProvider, fake_server: FakeServer, wire: str) -> None:
    # 1.5 s, not less: the follow-up request must still get its first token in time on a busy CI box.
    provider = make(wire, first_token_timeout_s=1.5)
    started = time.perf_counter()
    events, err = await fail(provider, fake_server, Reply(text="too late", ttft=8))
    assert time.perf_counter() - started < 6
    assert err.kind is ErrorKind.TIMEOUT and nothing_shown(events)
    assert "first token" in err.message
    # The same provider (and its client) is fine afterwards.
    events, err = await collect(provider)
    assert err is None


async def test_first_token_timeout_before_headers(make: MakeProvider, fake_server: FakeServer, wire: str) -> None:
    _, err = await fail(make(wire, first_token_timeout_s=0.3), fake_server, Fault(status=500, delay=5))
    assert err.kind is ErrorKind.TIMEOUT


@pytest.mark.parametrize("status", [401, 403])
async def test_auth(make: MakeProvider, fake_server: FakeServer, wire: str, status: int) -> None:
    _, err = await fail(make(wire), fake_server, Fault(status=status, echo_key=True))
    assert err.kind is ErrorKind.AUTH and err.status == status
    assert "***" in err.message  # the echoed key was scrubbed


async def test_not_found(make: MakeProvider, fake_server: FakeServer, wire: str) -> None:
    _, err = await fail(make(wire), fake_server, Fault(status=404))
    assert err.kind is ErrorKind.NOT_FOUND and err.status == 404


async def test_context_overflow(make: MakeProvider, fake_server: FakeServer, wire: str) -> None:
    provider = make(wire)
    _, err = await fail(provider, fake_server, Fault.context_overflow())
    assert err.kind is ErrorKind.CONTEXT_OVERFLOW
    too_long = Fault(status=400, message="prompt is too long: 210000 tokens > 200000 maximum")
    _, err = await fail(provider, fake_server, too_long)
    assert err.kind is ErrorKind.CONTEXT_OVERFLOW


async def test_content_policy(make: MakeProvider, fake_server: FakeServer, wire: str) -> None:
    provider = make(wire)
    _, err = await fail(provider, fake_server, Fault.content_policy())
    assert err.kind is ErrorKind.CONTENT_POLICY
    _, err = await fail(provider, fake_server, Fault(status=400, code="content_filter",
                                                     message="The response was filtered due to the prompt "
                                                     "triggering content management policy."))
    assert err.kind is ErrorKind.CONTENT_POLICY


async def test_plain_bad_request(make: MakeProvider, fake_server: FakeServer, wire: str) -> None:
    _, err = await fail(make(wire), fake_server, Fault(status=400, message="messages: roles must alternate"))
    assert err.kind is ErrorKind.BAD_REQUEST and err.status == 400


async def test_connection_refused(monkeypatch: pytest.MonkeyPatch, wire: str) -> None:
    import socket

    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("FAKE_PROVIDER_KEY", SECRET)
    provider = make_provider(ProviderConfig(name="gone", kind=wire, base_url=f"http://127.0.0.1:{port}/v1",
                                            api_key_env="FAKE_PROVIDER_KEY", timeout_s=5))
    events, err = await collect(provider)
    await provider.aclose()
    assert err is not None and err.kind is ErrorKind.CONNECTION and events == []
    assert err.provider == "gone" and err.model == MODEL


async def test_missing_key_for_official_endpoint(wire: str) -> None:
    provider = make_provider(ProviderConfig(name=wire, kind=wire))  # no env key, no base_url
    events, err = await collect(provider)
    assert err is not None and err.kind is ErrorKind.AUTH
    assert ("OPENAI_API_KEY" if wire == "openai" else "ANTHROPIC_API_KEY") in err.message
    await provider.aclose()


async def test_key_never_in_any_error(make: MakeProvider, fake_server: FakeServer, wire: str) -> None:
    """Every fault, with the server echoing the key wherever it can: no message carries it."""
    provider = make(wire, first_token_timeout_s=0.3)
    steps = [
        Fault(status=s, echo_key=True, retry_after=1) for s in (400, 401, 403, 404, 429, 500, 503, 529)
    ] + [
        InStreamError("overloaded_error", f"Overloaded for key {SECRET}"),
        InStreamError("api_error", f"boom Bearer {SECRET}"),
        Drop(after_chunks=1),
        Drop(before_headers=True),
        Malformed(payload=f'{{"key": "{SECRET}'),
        Reply(ttft=3),
    ]
    for step in steps:
        fake_server.script(MODEL, step)
        _, err = await collect(provider)
        assert err is not None, step
        for text in (str(err), repr(err), err.message, str(err.extra)):
            assert SECRET not in text, (step, text)
        cause = err.__cause__ or err.__context__
        while cause is not None:  # nothing chained that a traceback would print
            assert SECRET not in str(cause), (step, cause)
            cause = cause.__cause__ or cause.__context__
