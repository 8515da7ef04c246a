"""Where a served request's CPU goes before its first token (issue 17): `chatroute serve`'s ASGI
app driven in-process, the fake provider in its own process, each stage timed in CPU time
(time.process_time, so waiting for the provider does not count).

    .venv/bin/python benchmarks/serve_stages.py [--n 200] [--tokens 20]

Stages, from the request's arrival at the app (after uvicorn parsed it) to its first content
frame handed to the server: auth, body and checks; the answer cache's lookup; the routing
decision; the engine up to the provider call; the SDK's request (building it, sending it, reading
the response's head: the HTTP client's share included); then the first chunk read, relayed and
framed. Then the whole request (all tokens flat out, the ledger, cache and health writes).
Medians over `--n` requests each of a pinned and a routed model, every prompt new (cache misses).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench_common import ServerProcess, bench_env, make_home  # noqa: E402

STAGES = ("auth, body, checks", "cache lookup", "routing decision", "engine to provider call",
          "SDK request and response head", "first chunk read and framed")


class Clock:
    """CPU-time stamps of one request, by stage."""

    def __init__(self) -> None:
        self.marks: list[tuple[str, float]] = []

    def mark(self, name: str) -> None:
        self.marks.append((name, time.process_time()))

    def spans(self) -> dict[str, float]:
        """µs between consecutive marks, named by the later mark's stage."""
        return {name: (t - prev) * 1e6 for (_, prev), (name, t) in zip(self.marks, self.marks[1:], strict=False)}


def instrument(engine: Any, clock: Clock) -> None:
    """Marks at each stage's end, by wrapping the functions the request goes through."""
    import chatroute.engine.answer as answer
    from chatroute.providers.anthropic import AnthropicProvider
    from chatroute.providers.openai import OpenAIProvider

    def ending(fn: Callable[..., Any], before: str | None, after: str) -> Callable[..., Any]:
        def wrapped(*args: Any, **kw: Any) -> Any:
            if before:
                clock.mark(before)
            out = fn(*args, **kw)
            clock.mark(after)
            return out
        return wrapped

    engine.cache.lookup = ending(engine.cache.lookup, STAGES[0], STAGES[1])
    engine.decide = ending(engine.decide, None, STAGES[2])
    answer.stream = ending(answer.stream, None, "engine")  # the generator is made: the call follows
    for cls in (OpenAIProvider, AnthropicProvider):
        post = cls._post

        async def timed(self: Any, params: dict[str, Any], _post: Any = post) -> Any:
            clock.mark(STAGES[3])
            out = await _post(self, params)
            clock.mark(STAGES[4])
            return out
        cls._post = timed  # type: ignore[method-assign]


def scope_of(body: bytes, token: str) -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "path": "/v1/chat/completions", "raw_path": b"/v1/chat/completions",
            "query_string": b"", "root_path": "", "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8765),
            "headers": [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {token}".encode()),
                        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                        (b"user-agent", b"AsyncOpenAI/Python bench")]}


async def one(app: Any, clock: Clock, token: str, model: str, prompt: str,
              tokens: int) -> tuple[dict[str, float], float]:
    body = json.dumps({"model": model, "stream": True, "stream_options": {"include_usage": True},
                       "max_tokens": tokens, "messages": [{"role": "user", "content": prompt}]}).encode()
    inbox = [{"type": "http.request", "body": body, "more_body": False}]
    done = asyncio.Event()
    spans: dict[str, float] = {}

    async def receive() -> dict[str, Any]:
        if inbox:
            return inbox.pop()
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] != "http.response.body":
            return
        if not spans and b'"content"' in message.get("body", b""):
            clock.mark(STAGES[5])
            spans.update(clock.spans())
        if not message.get("more_body"):
            done.set()

    clock.marks.clear()
    clock.mark("arrival")
    start = time.process_time()
    await app(scope_of(body, token), receive, send)
    whole = (time.process_time() - start) * 1e6
    spans["engine to provider call"] = spans.pop("engine", 0.0) + spans.get(STAGES[3], 0.0)
    return spans, whole


async def run(args: argparse.Namespace, home: Path) -> None:
    from chatroute.engine import Engine
    from chatroute.serve.app import create_app
    from chatroute.serve.tokens import TokenSource, ensure_tokens

    tokens, _ = ensure_tokens(home)
    engine = Engine.open()
    clock = Clock()
    app = create_app(engine, TokenSource(home))
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    ready: asyncio.Queue[MutableMapping[str, Any]] = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    lifespan = asyncio.ensure_future(app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, inbox.get,
                                         ready.put))
    await ready.get()
    instrument(engine, clock)
    results: dict[str, list[tuple[dict[str, float], float]]] = {}
    for i in range(-5, args.n):
        for model in ("openai/gpt-4o-mini", "chatroute/auto"):
            prompt = f"Question {i} for {model}, topic {i * 7919 % 1000}: explain routers and caches."
            out = await one(app, clock, tokens.main, model, prompt, args.tokens)
            if i >= 0:
                results.setdefault(model, []).append(out)
    await inbox.put({"type": "lifespan.shutdown"})
    await lifespan
    for model, rows in results.items():
        print(f"{model}: CPU µs, medians of {len(rows)} requests")
        first = [sum(spans.get(s, 0.0) for s in STAGES) for spans, _ in rows]
        for stage in STAGES:
            print(f"   {stage:32s} {statistics.median(spans.get(stage, 0.0) for spans, _ in rows):7.0f}")
        print(f"   {'to the first frame':32s} {statistics.median(first):7.0f}")
        print(f"   {'the whole request':32s} {statistics.median(w for _, w in rows):7.0f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--tokens", type=int, default=20)
    args = ap.parse_args()
    with ServerProcess(args.tokens) as fake:
        home = make_home(fake)
        os.environ.update(bench_env(home))
        asyncio.run(run(args, home))
    return 0


if __name__ == "__main__":
    sys.exit(main())
