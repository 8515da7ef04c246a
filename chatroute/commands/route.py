"""`chatroute route`: the routing decision and its reasons, without calling a model."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from chatroute.catalog.prices import stale_note
from chatroute.commands.common import (
    conversation_ref,
    open_engine,
    print_json,
    read_prompt,
    table,
    terminal_columns,
)
from chatroute.money import usd
from chatroute.safetext import strip_terminal_controls as shown


def run(args: argparse.Namespace) -> int:
    prompt = read_prompt(args.prompt, command="route")
    engine = open_engine()
    if getattr(args, "preset", None):
        engine.set_preset(args.preset)
    # The one-off load (router weights, embedder; numpy's import with them) apart from the
    # decision itself, which is what every turn of a running chatroute pays.
    started = time.perf_counter()
    if engine.catalog.pool():
        engine.router.warm()
    load_ms = (time.perf_counter() - started) * 1000
    decision = engine.route(prompt, conversation_id=conversation_ref(engine, args.conversation))
    decision["load_ms"] = load_ms
    if args.json:
        print_json(decision)
        return 0
    # Model ids can come from a local server's listing: none of their control characters is printed.
    print(shown(f"→ {decision['model']}  ({decision['kind']})"))
    print(shown(f"  {decision['reason']}"))
    if hit := decision.get("cache_hit"):
        print(shown(f"  but the cache answers it first ({hit['tier']}, similarity {hit['similarity']:.2f}, "
                    f"an answer by {hit['model']}): no model is called"))
    rows = []
    for c in decision.get("candidates", []):
        rows.append([
            ("* " if c["model"] == decision["model"] else "  ") + c["model"],
            _num(c.get("quality"), "{:.2f}"),
            _adjustment(c),
            usd(c.get("expected_cost_usd")),
            _num(c.get("expected_latency_s"), "{:.1f} s"),
            _num(c.get("utility"), "{:+.3f}"),
            c.get("excluded") or "",
        ])
    if rows:
        print()
        print(table(rows, ["model", "quality", "adjustment", "exp. cost", "exp. latency", "utility", "excluded"],
                    "lrrrrrl", fit=terminal_columns(sys.stdout), optional=["adjustment", "exp. latency", "utility"]))
    for c in decision.get("candidates", []):
        if c.get("ability_note"):
            print(shown(f"  {c['model']}: {c['ability_note']}"))
    for note in decision.get("notes", []):
        print(shown(f"  note: {note}"))
    if rows and (stale := stale_note(engine.catalog.oldest_pool_price)):  # the expected costs rest on them
        print(f"  note: {stale}")
    print(f"\ndecided in {decision.get('route_ms', 0):.2f} ms (embedding the prompt and scoring the pool), "
          f"preset {decision.get('preset', '')}; loading the router once for this process took {load_ms:.0f} ms")
    return 0


def _adjustment(c: dict[str, Any]) -> str:
    """This turn's adjustment from the user's choices; the learned one in brackets when only
    part of it applies (the routed pick is predicted to do well without it)."""
    applied, learned = c.get("adjustment") or 0.0, c.get("learned_adjustment") or 0.0
    if not learned:
        return "—"
    return f"{applied:+.3f}" if abs(applied - learned) < 5e-4 else f"{applied:+.3f} ({learned:+.3f})"


def _num(value: float | None, fmt: str) -> str:
    return "—" if value is None else fmt.format(value)

