"""Connection limits of `chatroute serve`, below the app: how long a client may take to send a
request's headers, how long an idle kept-alive connection stays open, how many connections are
served at once.

uvicorn has the last two (`timeout_keep_alive`, `limit_concurrency`) but no deadline for the
headers: a client that opens connections and sends its headers a byte at a time, never
finishing, held each one forever, and enough of them (slowloris) locked everyone out before any
token was asked for. `HeaderDeadline` adds the deadline to uvicorn's httptools protocol, the one
uvicorn picks itself when httptools is installed (a dependency of chatroute).

It relies on uvicorn internals (the protocol's parser callbacks and its `transport` and `cycle`
attributes): pyproject.toml pins uvicorn to the versions it was tested with.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

DEFAULT_HEADER_TIMEOUT_S = 10.0
KEEP_ALIVE_S = 5.0
DEFAULT_MAX_CONNECTIONS = 512

_TIMED_OUT = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
              b"connection: close\r\n\r\n%s")
_TIMED_OUT_BODY = (b'{"error": {"message": "the request headers did not arrive in time", '
                   b'"type": "invalid_request_error", "param": null, "code": "request_timeout"}}')


@dataclass(frozen=True)
class Limits:
    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S
    max_connections: int = DEFAULT_MAX_CONNECTIONS

    @property
    def keep_alive_s(self) -> float:
        # An idle connection waits for its next request no longer than a new one may take to
        # send its headers: with a short deadline, a long keep-alive would be the way around it.
        return min(KEEP_ALIVE_S, self.header_timeout_s)

    def uvicorn_options(self) -> dict[str, Any]:
        """Keyword arguments for uvicorn.Config."""
        return {
            "http": header_deadline_protocol(self.header_timeout_s, self.keep_alive_s),
            # uvicorn answers 503 once connections (counting the new one) or requests in progress
            # reach limit_concurrency: + 1 lets exactly max_connections be served.
            "limit_concurrency": self.max_connections + 1,
            "timeout_keep_alive": self.keep_alive_s,
        }


class HeaderDeadline(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline on each request's headers, counted from the
    connection's start or the request's first byte, and not moved by bytes arriving after."""

    header_timeout_s = DEFAULT_HEADER_TIMEOUT_S
    keep_alive_s = KEEP_ALIVE_S

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timeout_keep_alive = self.keep_alive_s  # type: ignore[assignment]  # uvicorn types it int
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:  # a later request on a kept-alive connection
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def _arm(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._expired)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _expired(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # An answer to an earlier request on this connection is still going out (the late
            # headers are a pipelined next request's): let it end, then close.
            self.cycle.keep_alive = False
            return
        self.transport.write(_TIMED_OUT % (len(_TIMED_OUT_BODY), _TIMED_OUT_BODY))
        self.transport.close()


def header_deadline_protocol(header_timeout_s: float, keep_alive_s: float) -> type[asyncio.Protocol]:
    """A HeaderDeadline class with these timings (uvicorn makes each connection's protocol from
    a class, with arguments of its own)."""
    return type("HeaderDeadlineProtocol", (HeaderDeadline,),
                {"header_timeout_s": header_timeout_s, "keep_alive_s": keep_alive_s})
