"""The streamed response of `chatroute serve`: its first frame leaves from the request's own task
(no trip through the event loop's queue, where a burst of requests would make it wait behind all
the others), a client that hangs up stops the body quietly, and start-up objects are kept out of
the garbage collector's way."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncGenerator
from types import SimpleNamespace
from typing import Any

import pytest

from chatroute.serve.app import _SSEResponse, settle_heap

SCOPE: dict[str, Any] = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "method": "POST"}


class Client:
    """The ASGI side of one connection: what was sent, and a hang-up on demand."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.gone = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    @property
    def bodies(self) -> list[bytes]:
        return [m["body"] for m in self.sent if m["type"] == "http.response.body"]


async def test_the_first_frame_goes_out_before_the_loop_runs_anything_else() -> None:
    order: list[str] = []
    client = Client()

    async def body() -> AsyncGenerator[bytes, None]:
        yield b"first"
        order.append("second piece asked")
        yield b"second"

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and message["body"] == b"first":
            order.append("first frame sent")
        await client.send(message)

    loop = asyncio.get_running_loop()
    loop.call_soon(order.append, "another callback")  # queued before the response starts
    await _SSEResponse(body(), {"x-chatroute-model": "p/m"})(SCOPE, client.receive, send)
    assert order[0] == "first frame sent", order
    assert client.bodies == [b"first", b"second", b""]
    start = client.sent[0]
    assert start["type"] == "http.response.start" and start["status"] == 200
    headers = dict(start["headers"])
    assert headers[b"content-type"].startswith(b"text/event-stream") and headers[b"x-chatroute-model"] == b"p/m"


async def test_a_client_that_hangs_up_closes_the_body_and_the_response_ends_quietly() -> None:
    client = Client()
    closed = asyncio.Event()
    produced = 0

    async def body() -> AsyncGenerator[bytes, None]:
        nonlocal produced
        try:
            while True:
                produced += 1
                if produced == 3:
                    client.gone.set()  # the client hangs up while the stream flows
                yield b"piece"
                await asyncio.sleep(0.001)
        finally:
            closed.set()  # where serve's body stops the relay, which records the partial reply

    task = asyncio.current_task()
    assert task is not None
    await asyncio.wait_for(_SSEResponse(body(), {})(SCOPE, client.receive, client.send), 5)
    assert closed.is_set()
    assert task.cancelling() == 0  # the listener's cancellation was taken back: nothing leaks to the caller
    assert 3 <= produced < 50
    assert client.sent[-1]["type"] == "http.response.body" and client.sent[-1].get("more_body")  # no clean end


async def test_a_stop_from_elsewhere_still_propagates_and_closes_the_body() -> None:
    client = Client()
    closed = asyncio.Event()
    flowing = asyncio.Event()

    async def body() -> AsyncGenerator[bytes, None]:
        try:
            while True:
                yield b"piece"
                flowing.set()
                await asyncio.sleep(0.001)
        finally:
            closed.set()

    task = asyncio.ensure_future(_SSEResponse(body(), {})(SCOPE, client.receive, client.send))
    await asyncio.wait_for(flowing.wait(), 5)
    task.cancel()  # the server stopping: not the client's hang-up, so it is not swallowed
    with pytest.raises(asyncio.CancelledError):
        await task
    assert closed.is_set()


def test_settle_heap_moves_start_up_objects_out_of_the_collectors_reach() -> None:
    keep = [[i] for i in range(1000)]  # objects alive "since start-up"
    try:
        settle_heap()
        assert gc.get_freeze_count() >= len(keep)
    finally:
        gc.unfreeze()


async def test_the_server_settles_its_heap_at_start_up_before_it_says_it_is_ready(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import chatroute.serve.app as served

    calls: list[str] = []
    monkeypatch.setattr(served, "settle_heap", lambda: calls.append("settled"))

    async def aclose() -> None:
        calls.append("closed")

    engine = SimpleNamespace(warm=lambda: calls.append("warm"), cache_enabled=False, aclose=aclose,
                             health=SimpleNamespace(save_every_s=0.0, flush=lambda: None))
    app = served.create_app(engine, SimpleNamespace(current=lambda: None),  # type: ignore[arg-type]
                            on_ready=lambda: calls.append("ready"))
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: list[str] = []

    async def send(message: dict[str, Any]) -> None:
        outbox.append(message["type"])

    await inbox.put({"type": "lifespan.startup"})
    await inbox.put({"type": "lifespan.shutdown"})
    await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, inbox.get, send)
    assert calls == ["warm", "settled", "ready", "closed"]
    assert outbox == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
