"""Store benchmark: a database of 200,000 turns (the load targets in the README, Performance).

Fills a fresh database (or reuses --db if it already holds the data) with 200k turns
(400k messages, realistic text and route JSON, one conversation of 10k turns), then prints
median timings of:
- Store.open on the big file (in process, and a cold `python -c` import + open);
- spend() by day / model / conversation, spend_totals(), turn_usage()  (target < 300 ms);
- search() for common, rare, prefix and multi-word queries           (target < 200 ms);
- history() of the 10k-turn conversation                              (target < 1 s).

Run: .venv/bin/python benchmarks/store_bench.py [--turns 200000] [--db PATH] [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chatroute.store import Store  # noqa: E402
from chatroute.store.ids import format_ts, new_id  # noqa: E402

MODELS = [
    "openai/gpt-4o", "openai/gpt-4o-mini", "openai/o3-mini", "anthropic/claude-3-5-sonnet",
    "anthropic/claude-3-5-haiku", "anthropic/claude-3-opus", "ollama/llama3.1:8b",
    "openrouter/mistral-large", "openrouter/deepseek-chat", "local/qwen2.5",
]
WORDS = (
    "the a of to and in is it that for you with on as this be are was by at or from have not an "
    "function python rust borrow checker async await database index query cache router model "
    "latency token cost budget stream markdown terminal window config error retry timeout "
    "sqlite transaction lock write read table column search vector embedding semantic prompt "
    "answer question explain example code test benchmark performance memory thread process "
    "recipe cooking travel history science physics chemistry biology music art language "
).split()
RARE = ["zanzibar", "quokka", "xylophone", "fjord", "kumquat"]
CONV_TURNS = 100
BIG_CONV_TURNS = 10_000


def _text(rng: random.Random, n: int) -> str:
    words = rng.choices(WORDS, k=n)
    if rng.random() < 0.001:
        words[rng.randrange(n)] = rng.choice(RARE)
    return " ".join(words)


def _route(rng: random.Random, model: str) -> str:
    cands = [
        {"model": m, "quality": round(rng.random(), 3), "expected_cost_usd": round(rng.random() / 100, 6),
         "expected_latency_s": round(rng.random() * 3, 3), "utility": round(rng.random(), 3), "excluded": None}
        for m in rng.sample(MODELS, 4)
    ]
    return json.dumps({"reason": f"{model} has the best utility for this prompt", "candidates": cands, "reroutes": []})


def fill(store: Store, turns: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    start = datetime.now(UTC) - timedelta(days=365)
    span_s = 365 * 86400
    n_convs = max(1, (turns - BIG_CONV_TURNS) // CONV_TURNS)
    plan = [BIG_CONV_TURNS] + [CONV_TURNS] * n_convs
    done = 0
    t0 = time.perf_counter()
    for ci, n in enumerate(plan):
        n = min(n, turns - done)
        if n <= 0:
            break
        conv_id = new_id()
        # A chat lasts minutes to hours; the one huge conversation runs for two months.
        duration_s = 60 * 86400 if n >= BIG_CONV_TURNS else rng.uniform(0.2, 6) * 3600
        base = rng.random() * (span_s - duration_s)
        with store.transaction() as c:
            ts0 = format_ts(start + timedelta(seconds=base))
            c.execute(
                "INSERT INTO conversations"
                " (id, title, system_prompt, pinned_model, cache_enabled, created_at, updated_at, archived)"
                " VALUES (?, ?, NULL, NULL, 1, ?, ?, 0)",
                (conv_id, f"Conversation {ci} about {rng.choice(WORDS)}", ts0, ts0),
            )
            parent = None
            msgs: list[tuple[Any, ...]] = []
            trows: list[tuple[Any, ...]] = []
            for i in range(n):
                ts = format_ts(start + timedelta(seconds=base + i * duration_s / n))
                uid, aid = new_id(), new_id()
                model = rng.choice(MODELS)
                msgs.append((uid, conv_id, parent, "user", _text(rng, rng.randint(5, 40)), None, ts))
                msgs.append((aid, conv_id, uid, "assistant", _text(rng, rng.randint(40, 200)), model, ts))
                parent = aid
                unpriced = model.startswith(("ollama", "local")) and rng.random() < 0.5
                cost = None if unpriced else round(rng.random() / 50, 6)
                hit = rng.random() < 0.05
                trows.append((
                    new_id(), conv_id, aid, model, model.split("/")[0], "cache" if hit else "routed",
                    _route(rng, model), "hit" if hit else "miss", rng.randint(50, 4000), rng.randint(10, 1500),
                    rng.randint(0, 1000), 0, 0.0 if hit else cost, round(rng.random() / 100, 6) if hit else None,
                    "2025-01-01", 1.2, rng.uniform(100, 900), rng.uniform(500, 9000), rng.uniform(20, 120),
                    "ok", "stop", ts,
                ))
            c.executemany(
                "INSERT INTO messages"
                " (id, conversation_id, parent_id, role, content, model, status, active, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, 'complete', 1, ?, ?7)",
                msgs,
            )
            c.executemany(
                "INSERT INTO turns (id, conversation_id, message_id, model, provider, route_kind, route, cache_status,"
                " input_tokens, output_tokens, cached_tokens, cache_write_tokens, cost_usd, saved_usd, price_as_of,"
                " route_ms, ttft_ms, total_ms, tokens_per_s, status, finish_reason, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                trows,
            )
        done += n
        if ci % 200 == 0:
            print(f"  filled {done:,}/{turns:,} turns ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    store.conn.execute("ANALYZE")
    store.conn.execute("INSERT INTO messages_fts(messages_fts) VALUES ('optimize')")
    print(f"  filled {done:,} turns in {time.perf_counter() - t0:.1f} s", file=sys.stderr)


def median_ms(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    fn()  # warm up (page cache, statement cache)
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--turns", type=int, default=200_000)
    ap.add_argument("--db", type=Path, help="reuse/keep this database (filled if empty)")
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()

    tmp = None
    if args.db is None:
        tmp = tempfile.TemporaryDirectory(prefix="chatroute-bench-")
        args.db = Path(tmp.name) / "bench.db"
    store = Store.open(args.db)
    have = store.spend_totals().turns
    if have < args.turns:
        fill(store, args.turns - have)
    store.close()
    size_mb = args.db.stat().st_size / 1e6
    with Store.open(args.db) as s:
        rollup_rows = s.conn.execute("SELECT COUNT(*) FROM turn_rollup").fetchone()[0]

    results: list[tuple[str, float, str]] = []

    def bench(name: str, fn: Callable[[], Any], note: Callable[[Any], str] = lambda r: "") -> None:
        ms, r = median_ms(fn, args.repeat)
        results.append((name, ms, note(r)))

    bench("Store.open (in process)", lambda: Store.open(args.db).close())
    cold = (
        "import time; t=time.perf_counter(); from chatroute.store import Store; "
        f"s=Store.open({str(args.db)!r}); s.list_conversations(limit=50); s.close(); "
        "print((time.perf_counter()-t)*1000)"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    colds = [
        float(subprocess.run([sys.executable, "-c", cold], capture_output=True, text=True, env=env, check=True).stdout)
        for _ in range(max(3, args.repeat // 2))
    ]
    results.append(("import + open + list 50 conversations (fresh process)", statistics.median(colds), ""))

    store = Store.open(args.db)
    month = (datetime.now(UTC) - timedelta(days=30)).date()
    for by in ("day", "model", "conversation"):
        bench(f"spend(by={by!r})", partial(store.spend, by), lambda r: f"{len(r)} rows")
    bench("spend(by='day', since=30 days ago)", lambda: store.spend("day", since=month), lambda r: f"{len(r)} rows")
    bench("spend_totals()", store.spend_totals,
          lambda r: f"{r.turns:,} turns, ${r.cost_usd:,.2f}, {r.unknown_cost_turns:,} n/a")
    bench("spend_totals(since=30 days ago)", lambda: store.spend_totals(since=month), lambda r: f"{r.turns:,} turns")
    bench("costs screen: totals today/week/month/all + 3 groupings",
          lambda: ([store.spend_totals(since=d) for d in (
              datetime.now(UTC).date(), datetime.now(UTC).date() - timedelta(days=7), month, None)]
              + [store.spend(by) for by in ("day", "model", "conversation")]))
    bench("known_cost_usage() split routed / chosen (the baseline's two parts)",
          lambda: [store.known_cost_usage(chosen=k) for k in (False, True)],
          lambda r: f"{sum(len(x) for x in r)} rows")
    bench("spend(by='model', since=sub-hour bound: raw index scan)",
          lambda: store.spend("model", since=datetime.now(UTC) - timedelta(days=400, minutes=7)),
          lambda r: f"{len(r)} rows")
    bench("list(turn_usage())", lambda: list(store.turn_usage()), lambda r: f"{len(r):,} rows")
    for q in ("sqlite", "zanzibar", "borr", "python async database", "the", '"AND" *'):
        bench(f"search({q!r})", partial(store.search, q), lambda r: f"{len(r)} hits")
    big = store.conn.execute(
        "SELECT conversation_id FROM turns GROUP BY conversation_id ORDER BY COUNT(*) DESC LIMIT 1"
    ).fetchone()[0]
    bench(f"history() of a {BIG_CONV_TURNS:,}-turn conversation", lambda: store.history(big),
          lambda r: f"{len(r):,} messages")
    bench("turns() of that conversation", lambda: store.turns(big), lambda r: f"{len(r):,} records")
    bench("turns(include_route=False) of that conversation", lambda: store.turns(big, include_route=False),
          lambda r: f"{len(r):,} records")
    bench("list_conversations()", store.list_conversations, lambda r: f"{len(r):,} conversations")
    store.close()

    print(f"\nchatroute store benchmark: {args.turns:,} turns, database {size_mb:,.0f} MB, "
          f"{rollup_rows:,} rollup rows, median of {args.repeat}")
    print(f"{'operation':60} {'median ms':>10}  note")
    for name, ms, note in results:
        print(f"{name:60} {ms:10.1f}  {note}")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
