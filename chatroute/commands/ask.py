"""`chatroute ask`: one turn, streamed to stdout and recorded like a TUI turn."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from chatroute.commands.common import open_engine, print_json, read_prompt
from chatroute.turn_events import CacheHit, Delta, Rerouted, Routed, TurnFinished, TurnStarted


def run(args: argparse.Namespace) -> int:
    prompt = read_prompt(args.prompt)
    engine = open_engine()
    return asyncio.run(_ask(engine, args, prompt))


async def _ask(engine: Any, args: argparse.Namespace, prompt: str) -> int:
    finished: TurnFinished | None = None
    started: TurnStarted | None = None
    routed: Routed | None = None
    hit: CacheHit | None = None
    stream = not args.json
    try:
        async for event in engine.run_turn(
            args.conversation,
            prompt,
            override=args.model,
            use_cache=not args.no_cache,
            system=args.system,
        ):
            if isinstance(event, TurnStarted):
                started = event
            elif isinstance(event, Routed):
                routed = event
            elif isinstance(event, CacheHit):
                hit = event
            elif isinstance(event, Rerouted):
                print(f"chatroute: {event.message}", file=sys.stderr)
            elif isinstance(event, Delta) and stream:
                sys.stdout.write(event.text)
                sys.stdout.flush()
            elif isinstance(event, TurnFinished):
                finished = event
    finally:
        await engine.aclose()
    assert finished is not None and started is not None
    record = finished.record
    if args.json:
        print_json(_as_json(started, routed, hit, finished, bypass=args.no_cache))
    else:
        if finished.text and not finished.text.endswith("\n"):
            sys.stdout.write("\n")
        sys.stdout.flush()
        print(_badge(record), file=sys.stderr)
    if finished.error:
        print(f"chatroute: error: {finished.error}", file=sys.stderr)
    return 0 if record.status == "ok" else 1


def _as_json(started: TurnStarted, routed: Routed | None, hit: CacheHit | None, finished: TurnFinished,
             *, bypass: bool) -> dict[str, Any]:
    r = finished.record
    route = dict(r.route)
    route.setdefault("reason", routed.reason if routed else "")
    route.setdefault("candidates", [])
    route.setdefault("reroutes", [])
    route["kind"] = r.route_kind
    out: dict[str, Any] = {
        "model": r.model,
        "provider": r.provider,
        "route": route,
        "cache": "bypass" if bypass else r.cache_status,
        "tokens": {
            "input": r.input_tokens,
            "output": r.output_tokens,
            "cached": r.cached_tokens,
            "estimated": r.usage_estimated,
        },
        "cost_usd": r.cost_usd,
        "saved_usd": r.saved_usd,
        "price_as_of": r.price_as_of,
        "latency": {
            "route_ms": r.route_ms,
            "ttft_ms": r.ttft_ms,
            "total_ms": r.total_ms,
            "tokens_per_s": r.tokens_per_s,
        },
        "status": r.status,
        "finish_reason": r.finish_reason,
        "error": finished.error,
        "text": finished.text,
        "conversation_id": started.conversation_id,
        "message_id": started.assistant_message_id,
        "turn_id": r.id,
    }
    if hit is not None:
        out["cache_similarity"] = hit.similarity
        out["cache_tier"] = hit.tier
        out["cache_source_turn"] = hit.source_turn_id
    return out


def _badge(record: Any) -> str:
    from chatroute.format import badge_text

    return badge_text(record)
