"""chatroute's added time to first token, against the raw openai SDK on the same fake server.

    .venv/bin/python benchmarks/overhead_bench.py [--n 40]

One process, one event loop, both warm (one untimed call of each first). Interleaved:
raw, pinned, routed, raw, pinned, routed, ...

  * raw: AsyncOpenAI(base_url=..., api_key="x").chat.completions.create(stream=True) (one
    client reused, like chatroute's provider), time until the first chunk with content.
  * pinned: Engine.run_turn(None, prompt, override="openai/gpt-4o-mini") until the first
    Delta event: store writes (conversation, user message, streaming placeholder, override
    preference), answer-cache lookup (embedding), no router scoring, provider call.
  * routed: the same without the override: the router decides.

Every call starts a new conversation with a distinct prompt (no cache hits); the turn is
drained after the first token so each call ends cleanly (finish_turn etc. are not timed).
The fake server (its own process) answers 20 tokens with no artificial delay.

Target (README, Performance): median(pinned) - median(raw) < 5 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench_common import ServerProcess, make_home, median, pct, use_home  # noqa: E402

from chatroute.engine import Engine  # noqa: E402
from chatroute.turn_events import Delta  # noqa: E402


async def raw_ttft(client, i: int) -> float:
    start = time.perf_counter()
    stream = await client.chat.completions.create(
        model="gpt-4o-mini", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": f"Question number {i}: what is a router?"}])
    ttft = None
    async for chunk in stream:
        if ttft is None and chunk.choices and chunk.choices[0].delta.content:
            ttft = time.perf_counter() - start
    assert ttft is not None
    return ttft


async def engine_ttft(engine: Engine, i: int, override: str | None) -> float:
    prompt = f"Question number {i} about topic {i * 7919 % 1000}: explain routers and caches."
    start = time.perf_counter()
    ttft = None
    async for ev in engine.run_turn(None, prompt, override=override):
        if ttft is None and isinstance(ev, Delta):
            ttft = time.perf_counter() - start
    assert ttft is not None, "no Delta (did the turn fail?)"
    return ttft


async def run(n: int, server: ServerProcess) -> dict[str, list[float]]:
    from openai import AsyncOpenAI

    engine = Engine.open()
    client = AsyncOpenAI(base_url=server.openai_base_url, api_key="x", max_retries=0)
    warm = getattr(engine, "warm", None)
    if warm is not None:
        warm()
    try:
        await raw_ttft(client, -1)  # warm-up, untimed
        await engine_ttft(engine, -1, "openai/gpt-4o-mini")
        await engine_ttft(engine, -2, None)
        out: dict[str, list[float]] = {"raw": [], "pinned": [], "routed": []}
        for i in range(n):
            out["raw"].append(await raw_ttft(client, i))
            out["pinned"].append(await engine_ttft(engine, 2 * i, "openai/gpt-4o-mini"))
            out["routed"].append(await engine_ttft(engine, 2 * i + 1, None))
        return out
    finally:
        await client.close()
        await engine.aclose()
        engine.store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=40)
    args = parser.parse_args()
    with ServerProcess(n_tokens=20) as server:
        home = make_home(server)
        use_home(home)
        try:
            res = asyncio.run(run(args.n, server))
        finally:
            shutil.rmtree(home, ignore_errors=True)
    for name, xs in res.items():
        ms = [x * 1000 for x in xs]
        print(f"{name:7s} TTFT  median {median(ms):6.2f} ms   p10 {pct(ms, 10):6.2f}   p90 {pct(ms, 90):6.2f}"
              f"   (n={len(ms)})")
    raw = median(res["raw"]) * 1000
    pinned = median(res["pinned"]) * 1000 - raw
    routed = median(res["routed"]) * 1000 - raw
    paired = median([(p - r) * 1000 for p, r in zip(res["pinned"], res["raw"], strict=True)])
    print(f"added by chatroute (median difference): pinned {pinned:+.2f} ms (paired median {paired:+.2f} ms), "
          f"routed {routed:+.2f} ms   target < 5 ms")
    print("PASS" if pinned < 5 else "FAIL")
    return 0


if __name__ == "__main__":
    sys.exit(main())
