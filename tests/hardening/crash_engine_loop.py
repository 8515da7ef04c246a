"""A writer process for the multi-process test: many turns through the Engine API, the same code
path `chatroute ask` runs, without paying the interpreter start-up for every turn.

    python -m tests.hardening.crash_engine_loop --label w1 --turns 40

With --wait, it opens and warms the engine, prints "ready" and waits for a line on stdin before the first
turn, so the test can start every writer at the same moment. Runs the turns in one conversation
(each continuing the last), then prints one JSON line:
{"label", "conversation_id", "ok", "statuses", "errors"}. Any exception is printed to stderr
and makes the exit code 1, so the test sees "database is locked" if it ever escapes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import traceback

from chatroute.engine import Engine
from chatroute.providers.base import ChatRequest, Message
from chatroute.turn_events import TurnFinished, TurnStarted


async def _loop(label: str, turns: int, wait: bool) -> dict[str, object]:
    engine = Engine.open()
    if wait:
        # Pay the one-off costs (SDK imports, router weights, embedder, the HTTP client's
        # first connection) before the race, without writing anything.
        engine.router.warm()  # the SDK in use is imported by the warm-up request below
        engine.cache.lookup(None, [], "warm-up", count=False)
        for model in engine.catalog.pool()[:1]:
            request = ChatRequest(model=model.name, messages=(Message("user", "warm-up"),))
            async for _ in engine.provider(model.provider).stream(request):
                pass
        print("ready", flush=True)
        sys.stdin.readline()
    conversation_id: str | None = None
    statuses: list[str] = []
    errors: list[str] = []
    try:
        for i in range(turns):
            # Distinct numbers in every prompt: the cache must never answer one turn with another.
            prompt = f"{label} question {i}: how many lighthouses stand on cape {i * 7 + 3}?"
            async for event in engine.run_turn(conversation_id, prompt):
                if isinstance(event, TurnStarted):
                    conversation_id = event.conversation_id
                elif isinstance(event, TurnFinished):
                    statuses.append(event.record.status)
                    if event.error:
                        errors.append(event.error)
    finally:
        await engine.aclose()
        engine.store.close()
    return {"label": label, "conversation_id": conversation_id, "ok": statuses.count("ok"),
            "statuses": statuses, "errors": errors}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--label", required=True)
    parser.add_argument("--turns", type=int, required=True)
    parser.add_argument("--wait", action="store_true", help='print "ready", start on a line from stdin')
    args = parser.parse_args()
    try:
        result = asyncio.run(_loop(args.label, args.turns, args.wait))
    except BaseException:  # noqa: BLE001 - report everything to the test, including lock errors
        traceback.print_exc()
        return 1
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
