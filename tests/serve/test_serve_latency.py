"""The first token leaves `chatroute serve` as soon as it arrives: no Nagle stall on the
client's connection (a small SSE write held for the client's delayed ACK of the previous one,
which added ~40 ms to the time to first token on a kept-alive connection). And one client's long
prompt does not hold the others' streams while it is measured."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

import httpx

from chatroute.commands.serve import _bind
from tests.fakeserver import Reply
from tests.serve.conftest import Served


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


def _largest_gap_while(fresh: Served, trial: int, big: bytes) -> tuple[float, httpx.Response]:
    """The longest wait between two chunks of a stream while `big` is posted beside it."""
    fresh.fake.script(Reply(n_tokens=100, tokens_per_s=40))
    headers = {"authorization": f"Bearer {fresh.token}"}
    arrivals: list[float] = []
    streaming = threading.Event()

    def stream() -> None:
        body = {"model": "chatroute/auto", "stream": True,
                "messages": [{"role": "user", "content": f"a stream beside a long prompt, trial {trial}"}]}
        with httpx.stream("POST", fresh.url + "/chat/completions", json=body, headers=headers, timeout=60) as r:
            for line in r.iter_lines():
                if line.startswith("data:"):
                    arrivals.append(time.perf_counter())
                    streaming.set()

    reader = threading.Thread(target=stream)
    reader.start()
    assert streaming.wait(30)
    refused = httpx.post(fresh.url + "/chat/completions", content=big, timeout=60,
                         headers={**headers, "content-type": "application/json"})
    reader.join(60)
    assert len(arrivals) > 100  # the whole stream: role, 100 tokens, finish, [DONE]
    return max(b - a for a, b in zip(arrivals, arrivals[1:], strict=False)), refused


def test_a_10_mb_prompt_does_not_hold_the_other_streams(fresh: Served) -> None:
    # Its size check counts some two million tokens: on the event loop that stopped every stream
    # for as long, each time. The best of three trials, so that a machine busy with other work
    # cannot fail it alone.
    prompt = ("lorem ipsum dolor sit amet " * 400_000)[:10_000_000]
    big = json.dumps({"model": "chatroute/auto", "messages": [{"role": "user", "content": prompt}]}).encode()
    gaps = []
    for trial in range(3):
        gap, refused = _largest_gap_while(fresh, trial, big)
        assert refused.status_code == 400 and "tokens" in refused.json()["error"]["message"], refused.text
        gaps.append(gap)
        if gap < 0.3:
            break
    assert min(gaps) < 0.3, gaps
