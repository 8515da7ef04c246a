"""`chatroute route`: the routing decision and its reasons, without calling a model."""

from __future__ import annotations

import argparse
import time

from chatroute.commands.common import open_engine, print_json, read_prompt, table
from chatroute.format import cost


def run(args: argparse.Namespace) -> int:
    prompt = read_prompt(args.prompt)
    engine = open_engine()
    # The one-off load (router weights, embedder; numpy's import with them) apart from the
    # decision itself, which is what every turn of a running chatroute pays.
    started = time.perf_counter()
    if engine.catalog.pool():
        engine.router.warm()
    load_ms = (time.perf_counter() - started) * 1000
    decision = engine.route(prompt, conversation_id=args.conversation)
    decision["load_ms"] = load_ms
    if args.json:
        print_json(decision)
        return 0
    print(f"→ {decision['model']}  ({decision['kind']})")
    print(f"  {decision['reason']}")
    rows = []
    for c in decision.get("candidates", []):
        rows.append([
            ("* " if c["model"] == decision["model"] else "  ") + c["model"],
            _num(c.get("quality"), "{:.2f}"),
            cost(c.get("expected_cost_usd")),
            _num(c.get("expected_latency_s"), "{:.1f} s"),
            _num(c.get("utility"), "{:+.3f}"),
            c.get("excluded") or "",
        ])
    if rows:
        print()
        print(table(rows, ["model", "quality", "exp. cost", "exp. latency", "utility", "excluded"], "lrrrrl"))
    for note in decision.get("notes", []):
        print(f"  note: {note}")
    print(f"\ndecided in {decision.get('route_ms', 0):.2f} ms (embedding the prompt and scoring the pool), "
          f"preset {decision.get('preset', '')}; loading the router once for this process took {load_ms:.0f} ms")
    return 0


def _num(value: float | None, fmt: str) -> str:
    return "—" if value is None else fmt.format(value)

