"""Load benchmark: a 10,000-turn conversation in the TUI and a 200,000-turn database.

    .venv/bin/python benchmarks/load_bench.py [--repeat 5] [--scroll-steps 300] [--only start|select|scroll|cli]

The database is built once through the store (store_bench.fill: 200k turns, 400k messages, one
conversation of 10,000 turns, made the most recent one so the TUI opens it at start; ~100 s)
and cached under $TMPDIR/chatroute-load-bench/<VERSION>-s<schema>-<turns>/ with a config that
points at a dead local port (nothing here calls a model). Every run works on a copy of that
home (CHATROUTE_HOME), never the user's.

Each TUI figure comes from a fresh child process running the real ChatrouteApp over a real
Engine in App.run_test(size=(120, 40)) - the headless driver: the compositor lays out and
renders every frame, only the terminal write is skipped - with freeze_startup=True as the
`chatroute` command runs it (LOAD_BENCH_NO_FREEZE=1 to compare without). "Rendered" means a
frame was composed after the newest message's widget sat in the chat viewport with the view
scrolled to the end (app.call_after_refresh, polled until true).

Figures:
- TUI start with the 10k conversation: process spawn -> latest messages rendered (parent
  clock), and Engine.open + app start -> rendered (child clock); peak RSS then and after the
  warm-up thread is done;
- sidebar selection of the 10k conversation (Enter, coming from another one) -> rendered;
- the sidebar's search box: typing a query, per keystroke, until the results are listed;
- scrolling up with Home (scrolls to the top of what is mounted, which loads the previous batch)
  and with PageUp (reaching the top loads the previous batch), pressed with a message focused and
  scroll animation off: per-step time (press -> loads done -> next frame), and the longest
  event-loop stall, from a task that sleeps 5 ms and records how late it wakes (also measured
  with the app idle: the noise floor); peak RSS after. --scroll-steps 0 goes all the way up
  (~2,000 Home presses); the window of mounted messages is bounded, so a step costs the same at
  any depth;
- `chatroute costs`: subprocess wall time (interpreter + imports + report), and in-process time
  of the command in a warm process; Store.search on the big file (there is no search command).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench_common import ROOT, bench_env, median, pct, write_config  # noqa: E402

# Bump when the data or its layout changes: the cached database is rebuilt.
VERSION = "load-v1"
BIG_TURNS = 10_000
# The command as `python -m chatroute`, with this checkout first on PYTHONPATH (bench_env): its
# code, whatever is installed.
CLI = [sys.executable, "-m", "chatroute"]


# ---------------------------------------------------------------- the cached database

def _dead_server() -> SimpleNamespace:
    # Port 9 (discard) on loopback: a config that parses, with nothing listening.
    return SimpleNamespace(openai_base_url="http://127.0.0.1:9/v1", anthropic_base_url="http://127.0.0.1:9")


def cached_home(turns: int) -> Path:
    """A CHATROUTE_HOME holding `turns` turns, built on first use and reused after."""
    from store_bench import fill

    from chatroute.store import Store
    from chatroute.store.ids import utc_now
    from chatroute.store.migrations import SCHEMA_VERSION

    root = Path(tempfile.gettempdir()) / "chatroute-load-bench"
    home = root / f"{VERSION}-s{SCHEMA_VERSION}-{turns}"
    if (home / "READY").exists():
        return home
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="building-", dir=root))
    print(f"building a {turns:,}-turn database in {staging} (once; cached for later runs)", file=sys.stderr)
    write_config(staging, _dead_server())
    store = Store.open(staging / "chatroute.db")
    fill(store, turns)
    # The 10k conversation (the first one filled) becomes the most recent: the TUI opens it at start.
    big = store.conn.execute(
        "SELECT conversation_id FROM turns GROUP BY conversation_id ORDER BY COUNT(*) DESC LIMIT 1").fetchone()[0]
    store.conn.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (utc_now(), big))
    store.close()
    (staging / "READY").write_text(big)
    if home.exists():
        shutil.rmtree(home)
    staging.rename(home)
    return home


def work_home(cached: Path) -> Path:
    """A throwaway copy of the cached home, so nothing a run writes leaks into the cache."""
    dst = Path(tempfile.mkdtemp(prefix="chatroute-load-run-"))
    for item in cached.iterdir():
        if item.is_file():
            shutil.copy2(item, dst / item.name)
    src = sqlite3.connect(cached / "chatroute.db")  # WAL-safe copy (the -wal file may hold pages)
    dst_db = sqlite3.connect(dst / "chatroute.db")
    src.backup(dst_db)
    src.close()
    dst_db.close()
    return dst


# ---------------------------------------------------------------- the TUI child

CHILD = r"""
import asyncio, gc, json, os, sys, time
T_SPAWN = time.perf_counter()
from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.widgets.chat_view import ChatView
from chatroute.tui.widgets.message import MessageWidget
from chatroute.tui.widgets.sidebar import ConversationList, SearchResults
MODE, BIG, STEPS = sys.argv[1], sys.argv[2], int(sys.argv[3])


def rss_mb():
    out = {}
    for line in open("/proc/self/status"):
        if line.startswith(("VmHWM", "VmRSS")):
            out[line.split(":")[0]] = int(line.split()[1]) / 1024
    return out


def branch_ids(chat):
    # ChatView.branch (paged); before it, ChatView.history held every message (for a before/after run).
    branch = getattr(chat, "branch", None)
    return branch.ids if branch is not None else [m.id for m in chat.history]


async def frame(app):
    # The next frame; refresh() first, or an idle app (nothing to repaint) never runs callbacks.
    ev = asyncio.Event()
    app.screen.refresh()
    app.call_after_refresh(ev.set)
    await ev.wait()


def latest_shown(app, cid):
    # The newest message's widget inside the chat viewport, the view at its end.
    screen = app.screen
    if getattr(screen, "conversation_id", None) != cid:
        return False
    chat = screen.query_one(ChatView)
    msgs = chat.query(MessageWidget)
    ids = branch_ids(chat)
    end = getattr(chat, "end", len(ids))
    if not msgs or end != len(ids) or chat.start + len(msgs) != end:
        return False
    last = msgs.last()
    if last.message_id != ids[-1]:
        return False
    region = last.region
    return bool(region) and chat.scroll_y >= chat.max_scroll_y - 1 and chat.region.overlaps(region)


async def until_shown(app, cid, timeout=30.0):
    end = time.perf_counter() + timeout
    while True:
        await frame(app)
        if latest_shown(app, cid):
            return
        if time.perf_counter() > end:
            raise RuntimeError("the latest messages never showed")


class Stalls:
    # A task that sleeps 5 ms and records how late it wakes: the longest lateness is the
    # longest time the event loop could not run anything (input, paint) = a visible stall.
    def __init__(self, interval=0.005):
        self.interval, self.worst, self.task = interval, 0.0, None

    async def _run(self):
        while True:
            t = time.perf_counter()
            await asyncio.sleep(self.interval)
            self.worst = max(self.worst, time.perf_counter() - t - self.interval)

    def start(self):
        self.task = asyncio.get_running_loop().create_task(self._run())

    def take(self):
        w, self.worst = self.worst, 0.0
        return w * 1000

    def stop(self):
        self.task.cancel()


async def settle_workers(app):
    await app.workers.wait_for_complete()
    await frame(app)


async def scroll_run(app, pilot, how, max_steps):
    chat = app.screen.query_one(ChatView)
    # Keys reach the chat's scroll bindings once a message has focus (Tab from the composer does
    # that too). No scroll animation: a step's time is then the work, not a 1 s glide.
    app.animation_level = "none"
    chat.query(MessageWidget).last().focus()
    await frame(app)
    stalls = Stalls()
    stalls.start()
    await asyncio.sleep(0.05)
    stalls.take()
    idle = []  # the noise floor: lateness of the same task while the app does nothing
    for _ in range(10):
        await asyncio.sleep(0.1)
        idle.append(stalls.take())
    steps, worst = [], []
    t_all = time.perf_counter()
    while len(steps) < max_steps:
        if chat.start == 0 and chat.scroll_y <= 0:
            break
        t = time.perf_counter()
        await pilot.press("home" if how == "home" else "pageup")
        await settle_workers(app)
        steps.append((time.perf_counter() - t) * 1000)
        worst.append(stalls.take())
    total = time.perf_counter() - t_all
    stalls.stop()
    return {"steps": steps, "stalls": worst, "idle": idle, "total_s": total, "mounted": len(chat.query(MessageWidget)),
            "start": chat.start, "history": len(branch_ids(chat))}


async def main():
    t0 = time.perf_counter()
    engine = Engine.open()
    # As run_tui() (the `chatroute` command) does; LOAD_BENCH_NO_FREEZE=1 to compare without.
    try:
        app = ChatrouteApp(engine, freeze_startup=not os.environ.get("LOAD_BENCH_NO_FREEZE"))
    except TypeError:  # an older chatroute (before/after runs)
        app = ChatrouteApp(engine)
    out = {"import_ms": (t0 - T_SPAWN) * 1000}
    async with app.run_test(size=(120, 40)) as pilot:
        await until_shown(app, BIG)
        out["start_to_shown_ms"] = (time.perf_counter() - t0) * 1000
        print("SHOWN", flush=True)
        out["rss_shown"] = rss_mb()
        await settle_workers(app)  # the engine's warm-up thread, before anything is timed
        screen = app.screen
        if MODE == "select":
            opens = []
            conv_list = screen.query_one(ConversationList)
            for i in range(STEPS):
                await screen.open_conversation(conv_list.get_option_at_index(1).id)
                await settle_workers(app)
                gc.collect()
                conv_list.focus()
                conv_list.highlighted = conv_list.get_option_index(BIG)
                await frame(app)
                t = time.perf_counter()
                await pilot.press("enter")
                await until_shown(app, BIG)
                opens.append((time.perf_counter() - t) * 1000)
            out["select_ms"] = opens
            searches = []
            for q in ("python async", "zanzibar", "borr", "sqlite transaction lock"):
                await pilot.press("escape")
                await frame(app)
                await pilot.press("ctrl+f")
                await frame(app)
                results = screen.query_one(SearchResults)
                t = time.perf_counter()
                await pilot.press(*q)
                await frame(app)
                searches.append(((time.perf_counter() - t) * 1000 / len(q), results.option_count, q))
            out["search_keystroke_ms"] = searches
        elif MODE in ("home", "page"):
            out["scroll"] = await scroll_run(app, pilot, MODE, STEPS)
        out["rss_end"] = rss_mb()
    await engine.aclose()
    print("RESULT " + json.dumps(out), flush=True)

asyncio.run(main())
"""


def tui_child(home: Path, big: str, mode: str, steps: int, timeout: float = 3600) -> tuple[float, dict[str, Any]]:
    """Run the child; return (parent-clock seconds from spawn to SHOWN, the child's RESULT)."""
    with tempfile.TemporaryFile(mode="w+") as err:  # a file, not a pipe: a full pipe would block the child
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", CHILD, mode, big, str(steps)], cwd=ROOT, env=bench_env(home),
                                stdout=subprocess.PIPE, stderr=err, text=True)
        assert proc.stdout is not None
        watchdog = threading.Timer(timeout, proc.kill)  # a hung child must not hang the benchmark
        watchdog.start()
        shown = float("nan")
        result: dict[str, Any] | None = None
        try:
            for line in proc.stdout:
                if line.startswith("SHOWN"):
                    shown = time.perf_counter() - start
                elif line.startswith("RESULT "):
                    result = json.loads(line[7:])
            proc.wait()
        finally:
            watchdog.cancel()
        if result is None:
            err.seek(0)
            raise RuntimeError(f"TUI child ({mode}) failed:\n{err.read()[-3000:]}")
    return shown, result


# ---------------------------------------------------------------- CLI and store

def cli_once(args: list[str], home: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run([*CLI, *args], cwd=ROOT, env=bench_env(home), capture_output=True, timeout=120)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"chatroute {' '.join(args)} exited {done.returncode}: {done.stderr.decode()[-500:]}")
    return elapsed


IN_PROCESS = r"""
import contextlib, io, json, statistics, sys, time
from chatroute.cli import main
from chatroute.store import Store
from chatroute.paths import resolve_paths
repeat = int(sys.argv[1])
out = {}
def timed(fn):
    fn()  # warm: imports, page cache
    xs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        xs.append((time.perf_counter() - t) * 1000)
    return xs
def costs(*args):
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["costs", *args]) == 0
out["costs"] = timed(costs)
out["costs_by_model"] = timed(lambda: costs("--by", "model"))
out["costs_by_conversation"] = timed(lambda: costs("--by", "conversation"))
store = Store.open(resolve_paths().database)
out["search"] = {q: timed(lambda q=q: store.search(q)) for q in
                 ("sqlite", "zanzibar", "borr", "python async database", "the")}
store.close()
print(json.dumps(out))
"""


def in_process(home: Path, repeat: int) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", IN_PROCESS, str(repeat)], cwd=ROOT, env=bench_env(home),
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"in-process child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- report

class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []

    def add(self, name: str, target_ms: float | None, measured: float, unit: str = "ms", note: str = "") -> None:
        met = "" if target_ms is None else ("yes" if measured < target_ms else "NO")
        target = "-" if target_ms is None else f"< {target_ms:,.0f} {unit}"
        self.rows.append((name, target, f"{measured:,.1f} {unit}" + (f"  {note}" if note else ""), met))

    def print(self) -> None:
        w = max(len(r[0]) for r in self.rows)
        print(f"{'figure':{w}}  {'target':>12}  {'met?':4}  measured median")
        for name, target, measured, met in self.rows:
            print(f"{name:{w}}  {target:>12}  {met:4}  {measured}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--turns", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=5, help="runs per figure (fresh processes for start-up)")
    ap.add_argument("--scroll-steps", type=int, default=300,
                    help="scroll steps per mode (0: all the way to the top, ~2,000 Home presses; the window "
                         "of mounted messages is bounded, so steps cost the same at any depth)")
    ap.add_argument("--only", choices=("start", "select", "scroll", "cli"), action="append",
                    help="run only these parts (repeatable)")
    args = ap.parse_args()
    parts = set(args.only or ("start", "select", "scroll", "cli"))

    cached = cached_home(args.turns)
    big = (cached / "READY").read_text().strip()
    home = work_home(cached)
    size_mb = (home / "chatroute.db").stat().st_size / 1e6
    table = Table()
    extra: list[str] = []
    try:
        tui_child(home, big, "start", 0)  # untimed: .pyc files, page cache
        if "start" in parts:
            spawn, in_child, hwm, hwm_warm = [], [], [], []
            for _ in range(args.repeat):
                s, r = tui_child(home, big, "start", 0)
                spawn.append(s * 1000)
                in_child.append(r["start_to_shown_ms"])
                hwm.append(r["rss_shown"]["VmHWM"])
                hwm_warm.append(r["rss_end"]["VmHWM"])
            table.add("TUI start (process spawn) -> 10k conversation's latest messages rendered", 1000,
                      median(spawn), note=f"(max {max(spawn):,.0f})")
            table.add("  of which Engine.open + app start -> rendered (in child)", 1000, median(in_child))
            table.add("peak RSS, TUI with the 200k DB and the 10k conversation shown", 300, median(hwm), "MB",
                      note="(at that first frame)")
            table.add("  same, once the warm-up (SDK imports, router weights) is done", 300, median(hwm_warm), "MB")
        if "select" in parts:
            _, r = tui_child(home, big, "select", args.repeat)
            table.add("sidebar selection (Enter) -> 10k conversation rendered", 1000, median(r["select_ms"]),
                      note=f"(max {max(r['select_ms']):,.0f})")
            per_key = [s[0] for s in r["search_keystroke_ms"]]
            table.add("TUI search box: per keystroke, query -> results listed", 200, median(per_key),
                      note=f"(max {max(per_key):,.0f}; " + ", ".join(f"{q!r}: {n}" for _, n, q in
                                                                 r["search_keystroke_ms"]) + " results)")
        if "scroll" in parts:
            for how, label in (("home", "Home key"), ("page", "page up")):
                _, r = tui_child(home, big, how, args.scroll_steps or 10**9)
                sc = r["scroll"]
                reached = sc["start"] == 0
                end = "reached the top" if reached else f"stopped at message {sc['start']}"
                table.add(f"scroll to the top by {label}: per step", 50, median(sc["steps"]),
                          note=f"(p95 {pct(sc['steps'], 95):,.0f}, max {max(sc['steps']):,.0f}; "
                               f"{len(sc['steps']):,} steps in {sc['total_s']:.0f} s, "
                               f"{end})")
                table.add(f"scroll to the top by {label}: longest event-loop stall", 50, max(sc["stalls"]),
                          note=f"(per step: median {median(sc['stalls']):.0f}, p95 {pct(sc['stalls'], 95):.0f}; "
                               f"idle app's worst lateness per 0.1 s: median {median(sc['idle']):.0f}, "
                               f"max {max(sc['idle']):.0f})")
                table.add(f"peak RSS after scrolling to the top by {label}", 300, r["rss_end"]["VmHWM"], "MB",
                          note=f"({sc['mounted']:,} message widgets mounted)")
        if "cli" in parts:
            cli_once(["costs"], home)  # untimed warm-up
            costs = [cli_once(["costs"], home) * 1000 for _ in range(args.repeat)]
            table.add("`chatroute costs` (subprocess wall: start-up + report)", 300, median(costs),
                      note=f"(max {max(costs):,.0f})")
            ip = in_process(home, args.repeat)
            table.add("`chatroute costs` in process (warm)", 300, median(ip["costs"]))
            table.add("`chatroute costs --by model` in process", 300, median(ip["costs_by_model"]))
            table.add("`chatroute costs --by conversation` in process", 300, median(ip["costs_by_conversation"]))
            for q, xs in ip["search"].items():
                table.add(f"Store.search({q!r})", 200, median(xs))
            extra.append("history search from the CLI: n/a (chatroute has no search subcommand)")
    finally:
        shutil.rmtree(home, ignore_errors=True)

    print(f"\nchatroute load benchmark: {args.turns:,} turns ({size_mb:,.0f} MB database), a {BIG_TURNS:,}-turn "
          f"conversation; medians of {args.repeat} unless noted")
    table.print()
    for line in extra:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
