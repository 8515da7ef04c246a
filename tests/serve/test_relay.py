"""FrameRelay: a stream's frames go out in as few writes as the client's pace allows, in order,
with back-pressure, and a stop mid-stream reaches the turn's events (which record the partial)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

from chatroute.serve.relay import FrameRelay
from chatroute.store.records import TurnRecord
from chatroute.turn_events import Delta, TurnFinished


def frame(text: str) -> bytes:
    return f"<{text}>".encode()


def finished() -> TurnFinished:
    return TurnFinished(record=TurnRecord(conversation_id=None, message_id=None, model="p/m", provider="p"), text="")


async def test_a_burst_goes_out_in_one_write_and_in_order() -> None:
    async def events() -> AsyncGenerator[Any, None]:
        for burst in range(3):
            await asyncio.sleep(0.01)  # the provider's next read
            for i in range(5):  # five tokens in that read, yielded without waiting
                yield Delta(f"{burst}.{i}")
        yield finished()

    relay = FrameRelay(events(), frame)
    pieces = [p async for p in relay.batches(b"role", [Delta("first")])]
    assert b"".join(pieces) == b"role<first>" + b"".join(frame(f"{b}.{i}") for b in range(3) for i in range(5))
    assert pieces[0] == b"role<first>"
    assert len(pieces) == 4  # the head, then one write per burst, not one per token (16)
    assert relay.finished is not None


async def test_a_client_that_stops_reading_stops_the_provider_read() -> None:
    read = 0

    async def events() -> AsyncGenerator[Any, None]:
        nonlocal read
        for i in range(1000):
            read += 1
            yield Delta(str(i))
            await asyncio.sleep(0)

    relay = FrameRelay(events(), frame, max_pending=8)
    pieces = relay.batches(b"", [])
    await anext(pieces)  # the client takes the head, then reads nothing more
    await asyncio.sleep(0.05)
    assert read == 8  # the reader waits for room instead of buffering the whole answer
    await pieces.aclose()


async def test_closing_mid_stream_stops_the_events() -> None:
    stopped: list[str] = []

    async def events() -> AsyncGenerator[Any, None]:
        try:
            for i in range(1000):
                yield Delta(str(i))
                await asyncio.sleep(0.01)
        except BaseException as exc:  # what the engine's stream sees, and records the partial on
            stopped.append(type(exc).__name__)
            raise

    relay = FrameRelay(events(), frame)
    pieces = relay.batches(b"", [])
    await anext(pieces)
    await anext(pieces)
    await pieces.aclose()  # the client went away
    assert stopped == ["CancelledError"]
    assert relay.finished is None
