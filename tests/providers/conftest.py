"""Providers wired to the fake server through the real SDKs, for both wire formats."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from chatroute.config import ProviderConfig
from chatroute.providers import ChatRequest, Message, Provider, ProviderError, StreamEvent, make_provider
from tests.fakeserver import FakeServer, fake_server  # noqa: F401 - re-exported fixture

SECRET = "fake-SECRET-key-0123456789abcdef"
MODEL = "test-model"

MakeProvider = Callable[..., Provider]


@pytest.fixture
async def make(fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[MakeProvider]:  # noqa: F811
    """make(wire, **cfg_overrides) -> a provider pointed at the fake server; closed after the test."""
    monkeypatch.setenv("FAKE_PROVIDER_KEY", SECRET)
    made: list[Provider] = []

    def build(wire: str, **overrides: Any) -> Provider:
        base = fake_server.openai_base_url if wire == "openai" else fake_server.anthropic_base_url
        fields: dict[str, Any] = {"name": f"fake-{wire}", "kind": wire, "base_url": base,
                                  "api_key_env": "FAKE_PROVIDER_KEY", "timeout_s": 10.0,
                                  "first_token_timeout_s": 5.0}
        fields.update(overrides)
        provider = make_provider(ProviderConfig(**fields))
        made.append(provider)
        return provider

    yield build
    for p in made:
        await p.aclose()


@pytest.fixture(params=["openai", "anthropic"])
def wire(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def request(text: str = "hi there", **kw: Any) -> ChatRequest:
    return ChatRequest(model=kw.pop("model", MODEL), messages=(Message("user", text),), **kw)


async def collect(provider: Provider, req: ChatRequest | None = None) -> tuple[list[StreamEvent], ProviderError | None]:
    """All events until the end or the first error (which is returned, not raised)."""
    events: list[StreamEvent] = []
    try:
        async for event in provider.stream(req or request()):
            events.append(event)
    except ProviderError as err:
        return events, err
    return events, None
