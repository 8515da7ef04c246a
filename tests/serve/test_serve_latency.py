"""The first token leaves `chatroute serve` as soon as it arrives: no Nagle stall on the
client's connection (a small SSE write held for the client's delayed ACK of the previous one,
which added ~40 ms to the time to first token on a kept-alive connection)."""

from __future__ import annotations

import asyncio
import socket

from chatroute.commands.serve import _bind


def test_connections_accepted_on_the_serve_listener_have_nagle_off() -> None:
    """The listener `chatroute serve` hands uvicorn, served the way uvicorn serves it
    (loop.create_server(sock=...)): every accepted connection must have TCP_NODELAY."""

    async def accept_one() -> int:
        loop = asyncio.get_running_loop()
        accepted: asyncio.Future[int] = loop.create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        listener = _bind("127.0.0.1", 0)
        server = await loop.create_server(Probe, sock=listener)
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", listener.getsockname()[1])
            result = await asyncio.wait_for(accepted, 5)
            writer.close()
            return result
        finally:
            server.close()

    assert asyncio.run(accept_one()) != 0
