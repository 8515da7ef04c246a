"""Connection limits of `chatroute serve`, below the app: how long a client may take to send a
request's headers and how large they may be, how long an idle kept-alive connection stays open,
how many requests are served at once.

uvicorn has a keep-alive timeout but no deadline for the headers nor a bound on their size: a
client that opens connections and sends its headers a byte at a time, never finishing, held each
one forever, and enough of them (slowloris) locked everyone out before any token was asked for;
one that sent header lines without end grew the server by what it sent. `HeaderDeadline` adds
both to uvicorn's httptools protocol, the one uvicorn picks itself when httptools is installed
(a dependency of chatroute).

It also caps the requests in progress (--max-connections), each beyond answered with a 503 and a
Retry-After in the wire format of the endpoint. uvicorn's own cap (`limit_concurrency`) is not
used: it refuses a request while the open connections reach it, idle kept-alive ones included,
so a burst of N + 1 connections whose requests arrived together was refused whole, and a
client's idle pool could lock everyone else out.

It relies on uvicorn internals (the protocol's parser callbacks, `_start_asgi_task`, its
`transport` and `cycle` attributes): pyproject.toml pins uvicorn to the versions it was tested
with.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from chatroute.serve.messages_wire import anthropic_wire, error_body
from chatroute.serve.wire import ApiError

DEFAULT_HEADER_TIMEOUT_S = 10.0
KEEP_ALIVE_S = 5.0
DEFAULT_MAX_CONNECTIONS = 512
BODY_TIMEOUT_FACTOR = 3.0
DEFAULT_BODY_TIMEOUT_S = BODY_TIMEOUT_FACTOR * DEFAULT_HEADER_TIMEOUT_S
# What a request line and its headers may come to. httptools sets no bound: within the deadline a
# client could send a gigabyte of header lines, all kept (1.4 GB in 8 s here, on loopback). nginx
# allows 32 KB by default, Node 16 KB; a chat client sends well under 2 KB.
MAX_HEADER_BYTES = 64 * 1024


def _response(status: int, phrase: str, err: ApiError, *, anthropic: bool) -> bytes:
    """A whole response, written before the request has reached the app, in the shape of the
    endpoint it was for (as far as its request line came: unknown, OpenAI's)."""
    body = json.dumps(error_body(err) if anthropic else err.body()).encode()
    return (f"HTTP/1.1 {status} {phrase}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            "connection: close\r\n\r\n").encode() + body


_TIMED_OUT = (408, "Request Timeout", ApiError(408, "the request headers did not arrive in time",
                                               code="request_timeout"))
_TOO_LARGE = (431, "Request Header Fields Too Large",
              ApiError(431, f"the request line and headers are larger than {MAX_HEADER_BYTES // 1024} KB",
                       code="request_header_fields_too_large", anthropic_type="invalid_request_error"))


_BUSY = ApiError(503, "chatroute serve is at its limit of requests at once (--max-connections); retry shortly",
                 type_="server_error", code="too_many_connections")


async def _busy(scope: Any, receive: Any, send: Any) -> None:
    """The 503 past the cap, in the shape of the endpoint asked, so an SDK raises its own class
    and retries after the Retry-After."""
    body = json.dumps(error_body(_BUSY) if anthropic_wire(scope) else _BUSY.body()).encode()
    await send({"type": "http.response.start", "status": 503,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"retry-after", b"1"), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class _Slots:
    """The requests in progress on one server, shared by its connections."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.taken = 0

    def limited(self, app: Any) -> Any:
        """`app` for one request, or the 503 when `limit` requests are in progress. Decided as the
        request's task starts (tasks start in the order their headers came): the first `limit`
        of a burst are served, whatever else is open."""

        async def run(scope: Any, receive: Any, send: Any) -> None:
            if self.taken >= self.limit:
                await _busy(scope, receive, send)
                return
            self.taken += 1  # no await since the check: no other request can slip in between
            try:
                await app(scope, receive, send)
            finally:
                self.taken -= 1

        return run


@dataclass(frozen=True)
class Limits:
    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S
    max_connections: int = DEFAULT_MAX_CONNECTIONS

    @property
    def body_timeout_s(self) -> float:
        """How long a request's body may take once its headers are in: 30 s by default, enough
        for the 16 MB limit at 4.5 Mbit/s; a body trickling in slower holds a connection."""
        return BODY_TIMEOUT_FACTOR * self.header_timeout_s

    @property
    def keep_alive_s(self) -> float:
        # An idle connection waits for its next request no longer than a new one may take to
        # send its headers: with a short deadline, a long keep-alive would be the way around it.
        return min(KEEP_ALIVE_S, self.header_timeout_s)

    def uvicorn_options(self) -> dict[str, Any]:
        """Keyword arguments for uvicorn.Config."""
        return {
            "http": header_deadline_protocol(self.header_timeout_s, self.keep_alive_s, self.max_connections),
            "timeout_keep_alive": self.keep_alive_s,
        }


class HeaderDeadline(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline and a size bound on each request's headers.
    The deadline counts from the connection's start or the request's first byte; bytes arriving
    after do not move it."""

    header_timeout_s = DEFAULT_HEADER_TIMEOUT_S
    keep_alive_s = KEEP_ALIVE_S
    slots = _Slots(DEFAULT_MAX_CONNECTIONS)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timeout_keep_alive = self.keep_alive_s  # type: ignore[assignment]  # uvicorn types it int
        self._header_timer: asyncio.TimerHandle | None = None
        self._header_bytes = 0  # received while the current request's headers were incomplete

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._header_timer is not None and not self.transport.is_closing():
            # Counted after parsing: a piece that completes the headers (whatever body follows
            # them in it) is not counted. httptools holds an unfinished header line itself,
            # where no callback sees it, so the bytes received are what can be bounded.
            self._header_bytes += len(data)
            if self._header_bytes > MAX_HEADER_BYTES:
                self._refuse(_TOO_LARGE)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:  # a later request on a kept-alive connection
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def _start_asgi_task(self, cycle: Any, app: Any) -> None:
        super()._start_asgi_task(cycle, self.slots.limited(app))

    def _arm(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._expired)

    def _disarm(self) -> None:
        self._header_bytes = 0
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _expired(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        self._refuse(_TIMED_OUT)

    def _refuse(self, refusal: tuple[int, str, ApiError]) -> None:
        self._disarm()
        if self.cycle is not None and not self.cycle.response_complete:
            # An answer to an earlier request on this connection is still going out (the late
            # headers are a pipelined next request's): let it end, then close.
            self.cycle.keep_alive = False
            self.flow.pause_reading()
            return
        status, phrase, err = refusal
        self.transport.write(_response(status, phrase, err, anthropic=self._anthropic()))
        self.transport.close()

    def _anthropic(self) -> bool:
        """Whether the request so far is for an endpoint that answers in Anthropic's shapes: an
        Anthropic client reads `{"type": "error", "error": {...}}` (the request line and the headers
        parsed so far; none yet on a connection that sent nothing)."""
        url = getattr(self, "url", None)  # set by uvicorn once a request begins
        if not isinstance(url, bytes):
            return False
        path = url.split(b"?", 1)[0].decode("latin-1")
        return anthropic_wire({"path": path, "headers": getattr(self, "headers", None) or ()})


def header_deadline_protocol(header_timeout_s: float, keep_alive_s: float,
                             max_requests: int = DEFAULT_MAX_CONNECTIONS) -> type[asyncio.Protocol]:
    """A HeaderDeadline class with these timings and its own count of requests in progress
    (uvicorn makes each connection's protocol from a class, with arguments of its own)."""
    return type("HeaderDeadlineProtocol", (HeaderDeadline,),
                {"header_timeout_s": header_timeout_s, "keep_alive_s": keep_alive_s, "slots": _Slots(max_requests)})
