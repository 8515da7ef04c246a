"""History benchmark: what a turn of a 10,000-turn conversation spends on its history.

    nice -n 10 .venv/bin/python benchmarks/history_bench.py [--repeat 7] [--turns 10000]

The database (one conversation of `--turns` turns, built with store_bench.fill: ~10 s) is cached
under $TMPDIR/chatroute-history-bench/; every run works on a copy. The fake provider server runs
in its own process, so nothing here reaches the internet.

Figures, medians over `--repeat` runs, in process on a warm Engine:
- load: what run_turn reads to build the request: the whole branch (Store.history plus the
  conversion to request messages), and the windowed tail when this checkout has one;
- pre-send check: Engine.context_refusal, which the TUI runs before it clears the composer;
- turn: run_turn with the cache off, to the Routed event (everything before the request
  leaves) and to the end (the fake server answers at once), or to the refusal when the whole
  history fits no window.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench_common import ServerProcess, bench_env, median, write_config  # noqa: E402

VERSION = "history-v1"
PROMPT = "Going back to what we discussed: which of those options would you pick, and why?"


def cached_db(turns: int) -> Path:
    from store_bench import fill

    from chatroute.store import Store
    from chatroute.store.migrations import SCHEMA_VERSION

    root = Path(tempfile.gettempdir()) / "chatroute-history-bench" / f"{VERSION}-s{SCHEMA_VERSION}-{turns}"
    db = root / "chatroute.db"
    if (root / "READY").exists():
        return db
    root.mkdir(parents=True, exist_ok=True)
    print(f"building a {turns:,}-turn conversation in {root} (once)", file=sys.stderr)
    store = Store.open(db)
    fill(store, turns)
    store.close()
    (root / "READY").write_text("ok")
    return db


def work_home(db: Path, server: ServerProcess) -> Path:
    home = Path(tempfile.mkdtemp(prefix="chatroute-history-run-"))
    write_config(home, server)
    src, dst = sqlite3.connect(db), sqlite3.connect(home / "chatroute.db")
    src.backup(dst)
    src.close()
    dst.close()
    return home


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


async def one_turn(engine: Any, cid: str) -> dict[str, Any]:
    from chatroute.errors import ChatrouteError
    from chatroute.turn_events import Routed, TurnFinished

    t0 = time.perf_counter()
    routed = None
    out: dict[str, Any] = {}
    try:
        async for event in engine.run_turn(cid, PROMPT, use_cache=False):
            if isinstance(event, Routed):
                routed = time.perf_counter() - t0
                out["notes"] = event.decision.get("notes", [])
            elif isinstance(event, TurnFinished):
                out["input_tokens"] = event.record.input_tokens
                out["status"] = event.record.status
                out["error"] = event.error
    except ChatrouteError as exc:
        out["refused"] = str(exc)[:120]
    out["to_routed_ms"] = ms(routed) if routed is not None else None
    out["total_ms"] = ms(time.perf_counter() - t0)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--turns", type=int, default=10_000)
    args = ap.parse_args()
    db = cached_db(args.turns)
    with ServerProcess() as server:
        home = work_home(db, server)
        os.environ.update(bench_env(home))
        try:
            from chatroute.engine import Engine
            from chatroute.engine.history import history_messages, history_window

            engine = Engine.open()
            engine.warm()
            [conv] = engine.store.list_conversations()
            cid = conv.id
            results: dict[str, Any] = {"turns": args.turns}

            full = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                history_messages(engine.store.history(cid))
                full.append(time.perf_counter() - t0)
            results["load_full_branch_ms"] = ms(median(full))

            tail = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                win = history_window(engine, cid, PROMPT, system=conv.system_prompt, pin=None, override=None)
                tail.append(time.perf_counter() - t0)
            results["load_window_ms"] = ms(median(tail))
            results["window"] = {"sent_turns": win.sent_turns, "total_turns": win.total_turns,
                                 "budget_tokens": win.budget_tokens}

            check = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                refusal = engine.context_refusal(cid, PROMPT)
                check.append(time.perf_counter() - t0)
            results["pre_send_check_ms"] = ms(median(check))
            results["pre_send_check_refuses"] = refusal is not None

            async def all_turns() -> list[dict[str, Any]]:
                # One event loop: the SDK clients are bound to the loop they were made on.
                out = [await one_turn(engine, cid) for _ in range(args.repeat)]
                await engine.aclose()
                return out

            turns = asyncio.run(all_turns())
            routed = [t["to_routed_ms"] for t in turns if t["to_routed_ms"] is not None]
            results["turn_to_routed_ms"] = median(routed) if routed else None
            results["turn_total_ms"] = median([t["total_ms"] for t in turns])
            results["turn_last"] = turns[-1]
            engine.store.close()
        finally:
            shutil.rmtree(home, ignore_errors=True)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
