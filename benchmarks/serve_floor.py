"""The floor under `chatroute serve`'s added latency: the least an OpenAI-compatible relay on the
same stack can do (issue 17).

A bare ASGI app on uvicorn (uvloop and httptools, as serve runs) that reads the request, sends it
on with the official openai SDK (as serve's adapter does: the SDK's POST, chunks kept as the
server's JSON) and writes each chunk back as an SSE frame. No auth, cache, routing, health, ledger,
Starlette or JSON checks. Whatever this adds against calling the provider directly, serve cannot
add less on this machine with this stack.

    .venv/bin/python benchmarks/serve_floor.py --upstream http://127.0.0.1:PORT/v1 [--port 0]

prints `listening on http://127.0.0.1:PORT/v1`; serve_bench.py starts it with `--floor`.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import socket
import sys
from typing import Any

import uvicorn
from openai import AsyncOpenAI, AsyncStream

Scope = dict[str, Any]


def make_app(upstream: str, key: str) -> Any:
    client = AsyncOpenAI(base_url=upstream, api_key=key, max_retries=0, timeout=300)

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    _ = client.chat.completions  # the SDK's lazy import, before the first request
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await client.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        params = json.loads(body)
        stream = await client.post("/chat/completions", body=params, cast_to=object, stream=True,
                                   stream_cls=AsyncStream[object])
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")]})
        try:
            async for chunk in stream:
                await send({"type": "http.response.body", "more_body": True,
                            "body": b"data: " + json.dumps(chunk).encode() + b"\n\n"})
        finally:
            await stream.close()
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False})

    return app


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upstream", required=True, help="the provider's OpenAI base URL")
    ap.add_argument("--key", default="sk-bench-openai")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1, help="processes accepting on the one socket")
    args = ap.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY, as serve
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(2048)
    print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}/v1", file=sys.stderr, flush=True)
    for _ in range(args.workers - 1):
        if os.fork() == 0:
            # A worker ends with its parent (which the benchmark stops): Linux's parent-death signal.
            ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
            break
    config = uvicorn.Config(make_app(args.upstream, args.key), log_level="warning", access_log=False,
                            lifespan="on", loop="uvloop", http="httptools")
    uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
