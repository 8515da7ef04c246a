"""A streamed answer's text frames, written in as few sends as the client's pace allows.

A task of its own reads the turn's events and turns each token into its SSE frame; the response
takes every frame made since its last write and writes them as one piece. While the server keeps
up, that is one frame a write, as before. When tokens come faster than they are written (a burst
from the provider, 50 streams on one event loop), the backlog goes out in one send and one
wake-up of the client instead of one each, so a busy server spends less per token just when it
has least to spare. The bytes on the wire are the same frames either way.

The reader waits once `max_pending` frames are waiting, so a client that stops reading still
stops the provider read, as when one task did both.

When the client hangs up, the reader first takes what the provider has already sent (the frames
are dropped), until a read would wait: those tokens are billed whoever reads them, and a stream
cut in the middle of a read loses what was received but not yet read, from the count as well.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Iterable
from contextlib import aclosing
from typing import Any

from chatroute.turn_events import Delta, TurnFinished

MAX_PENDING_FRAMES = 64
# After a hang-up: the reader is cut once this many turns of the event loop, and IDLE_S, pass
# without an event (nothing more has arrived: a read would wait for the provider), or after
# CATCH_UP_MAX_S. A backlog comes with no gap at all; a live stream's next token takes longer.
IDLE_TURNS = 8
IDLE_S = 0.002
CATCH_UP_MAX_S = 1.0


class FrameRelay:
    def __init__(self, events: AsyncGenerator[Any, None], text_frame: Callable[[str], bytes], *,
                 max_pending: int = MAX_PENDING_FRAMES) -> None:
        self._events = events
        self._text_frame = text_frame
        self._max_pending = max_pending
        self._pending: list[bytes] = []
        self._wake: asyncio.Future[None] | None = None  # the writer, waiting for frames
        self._room: asyncio.Future[None] | None = None  # the reader, waiting for the writer
        self._read = 0  # events the reader has taken
        self._dropping = False  # the client is gone: no more frames are made
        self.finished: TurnFinished | None = None

    def _add(self, event: Any) -> None:
        if isinstance(event, Delta) and not self._dropping:
            self._pending.append(self._text_frame(event.text))
            wake = self._wake
            if wake is not None and not wake.done():
                wake.set_result(None)
        elif isinstance(event, TurnFinished):
            self.finished = event

    def _wake_writer(self, _: object = None) -> None:
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    async def _reading(self) -> None:
        # Closing the events here, in the reader's task, is what records a stopped stream
        # (the engine's stream sees the cancellation or GeneratorExit and saves the partial).
        async with aclosing(self._events):
            if self.finished is not None:
                return
            async for event in self._events:
                self._read += 1
                self._add(event)
                if len(self._pending) >= self._max_pending:
                    self._room = asyncio.get_running_loop().create_future()
                    await self._room

    async def batches(self, head: bytes, seen: Iterable[Any]) -> AsyncGenerator[bytes, None]:
        """`head` and the frames of the events already read (`seen`) as the first piece, then
        every frame made since the previous piece, until the events end (re-raising what ended
        them). `finished` is the turn's TurnFinished once they have."""
        self._pending.append(head)
        for event in seen:
            self._add(event)
        loop = asyncio.get_running_loop()
        reader = loop.create_task(self._reading())
        reader.add_done_callback(self._wake_writer)
        try:
            while True:
                if self._pending:
                    piece = b"".join(self._pending)
                    self._pending.clear()
                    room = self._room
                    if room is not None and not room.done():
                        room.set_result(None)
                    yield piece
                elif reader.done():
                    break
                else:
                    self._wake = loop.create_future()
                    await self._wake
        except BaseException:
            if not reader.done():
                # The client went away or the server is stopping: stop the reader, which records
                # the partial answer, and give it the moment it needs (if this wait is cancelled
                # too, the reader still stops and records on its own). First it takes what had
                # already arrived, which the provider bills.
                try:
                    await self._catch_up(reader)
                finally:
                    reader.cancel()
                    await asyncio.wait([reader])
                    if not reader.cancelled():
                        reader.exception()  # read to its end meanwhile, or failed: nobody to tell now
            raise
        reader.result()

    async def _catch_up(self, reader: asyncio.Task[None]) -> None:
        """Let the reader run on, its frames dropped, while events keep coming without a wait."""
        self._dropping = True
        self._pending.clear()
        room = self._room
        if room is not None and not room.done():
            room.set_result(None)
        await take_what_arrived(reader, lambda: self._read)


async def take_what_arrived(reader: asyncio.Task[Any], read: Callable[[], int]) -> None:
    """The client is gone: let `reader` (the task reading the turn's events) run on while events
    keep coming without a wait, `read()` counting them: what the provider had already sent, which
    it bills whoever reads it. Returns when a read would wait, the reader is done, or after
    CATCH_UP_MAX_S; the caller then stops the reader."""
    loop = asyncio.get_running_loop()
    now = last = loop.time()
    until = now + CATCH_UP_MAX_S
    idle = 0
    while not reader.done() and (idle < IDLE_TURNS or now - last < IDLE_S) and now < until:
        before = read()
        await asyncio.sleep(0)
        now = loop.time()
        if read() != before:
            idle, last = 0, now
        else:
            idle += 1


async def tallied(events: AsyncGenerator[Any, None], tally: list[int]) -> AsyncGenerator[Any, None]:
    """`events`, counting in tally[0] those read (for take_what_arrived)."""
    async with aclosing(events):
        async for event in events:
            tally[0] += 1
            yield event
