"""What `chatroute serve` writes to its own terminal about a request never drives that terminal.

An internal error in a request is logged as one line naming the request's path and the error;
the path is the client's to choose (a model id in /v1/models/{id}, percent-decoded, so %1b is
an ESC), and so may be the error's message. That line is cleaned as every line chatroute
prints from outside is."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import httpx
import pytest

from chatroute.engine import Engine
from chatroute.serve.app import create_app
from chatroute.serve.listing import ModelListing
from chatroute.serve.tokens import Tokens
from tests.engine.helpers import configured as configured  # the fixture
from tests.fakeserver import FakeServer

HOSTILE = "%1b%5d0%3bPWNED%07%e2%80%aeid"  # ESC ] 0 ; PWNED BEL, a bidi override: OSC 0 retitles


async def test_an_internal_error_is_logged_as_one_clean_line(configured: FakeServer, monkeypatch: pytest.MonkeyPatch,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    async def broken(self: ModelListing) -> list[dict[str, object]]:
        raise RuntimeError("listing failed for \x1b]0;PWNED AGAIN\x07 here")

    monkeypatch.setattr(ModelListing, "data", broken)
    engine = Engine.open()
    try:
        app = create_app(engine, SimpleNamespace(current=lambda: Tokens(main="tok")))  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://serve") as client:
            with caplog.at_level(logging.ERROR, logger="chatroute.serve"):
                r = await client.get(f"/v1/models/{HOSTILE}", headers={"authorization": "Bearer tok"})
    finally:
        await engine.aclose()
        engine.store.close()
    assert r.status_code == 500 and "PWNED" not in r.text
    [line] = [rec.getMessage() for rec in caplog.records if rec.name == "chatroute.serve"]
    assert "GET /v1/models/" in line and "RuntimeError: listing failed for" in line
    assert not any(ch in line for ch in "\x1b\x07\u202e"), repr(line)
    assert "<U+202E>id" in line
