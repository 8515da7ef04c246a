"""Start-up: process start to the first interactive TUI frame, `chatroute --help`, `chatroute models`.

    .venv/bin/python benchmarks/startup_bench.py [--runs 7]

Every figure is the wall clock of a fresh child process measured by this (parent) process,
from just before spawning to the moment the child prints READY (TUI) or exits (CLI), so it
includes interpreter start-up and every import. The TUI child runs the real ChatrouteApp
over a real Engine (config pointing at a fake server on 127.0.0.1, an empty database) in
App.run_test(size=(120, 40)) — the headless driver — and prints READY after the app is
mounted, the chat screen's on_mount ran, the composer is focused and one more frame was
rendered (app.call_after_refresh). pilot.pause() is not used: it waits for an idle CPU, which
the engine's background warm-up thread (SDK and router imports) delays by up to 1 s. The child
also reports its own phases (imports, Engine.open, app construction, mount) from
time.perf_counter() offsets plus the interpreter's own start-up (parent-measured minus
child-measured).

With --conversations N (20,000 by default; 0 skips it) the TUI is also started over a database
holding N conversations of one question and answer each, interleaved with the empty one, so
what a long history costs at start-up (the sidebar, the newest conversation opened) is the
difference of the two medians.

Targets (README, Performance): first interactive frame < 1 s median, also with 20,000
conversations; --help and models < 300 ms median.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench_common import ROOT, ServerProcess, bench_env, make_home, median  # noqa: E402

CHILD = r"""
import time
t0 = time.perf_counter()
import asyncio
from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
t_import = time.perf_counter()

async def main():
    engine = Engine.open()
    t_engine = time.perf_counter()
    app = ChatrouteApp(engine)
    t_app = time.perf_counter()
    async with app.run_test(size=(120, 40)) as pilot:
        painted = asyncio.Event()
        app.call_after_refresh(painted.set)  # the next frame after mount (not pilot.pause(): that
        await painted.wait()                 # waits for an idle CPU, and the warm-up thread is busy)
        assert app.screen.query_one("#composer").has_focus
        t_ready = time.perf_counter()
        print("READY %.1f %.1f %.1f %.1f" % ((t_import - t0) * 1e3, (t_engine - t_import) * 1e3,
                                            (t_app - t_engine) * 1e3, (t_ready - t_app) * 1e3), flush=True)
    await engine.aclose()

asyncio.run(main())
"""

# `python -m chatroute` with this checkout's root first on the path: the code beside this benchmark,
# not the tree the venv's editable install points at (which may be another copy, and whose
# database migrations would be the ones run).
CLI = [sys.executable, "-m", "chatroute"]


def cli_command(args: list[str], env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that time `chatroute ARGS` from this checkout."""
    path = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return [*CLI, *args], {**env, "PYTHONPATH": path}


def fill_conversations(home: Path, n: int) -> None:
    """`n` conversations of one question and answer each, the newest last, inserted in one
    transaction into a store opened as the app opens it (its schema, and its triggers: the
    search index too)."""
    from datetime import UTC, datetime, timedelta

    from chatroute.store import Store
    from chatroute.store.ids import format_ts, new_id

    store = Store.open(home / "chatroute.db")
    start = datetime.now(UTC) - timedelta(days=365)
    convs: list[tuple[str, ...]] = []
    msgs: list[tuple[str | None, ...]] = []
    for i in range(n):
        ts = format_ts(start + timedelta(minutes=i * 20))
        cid, uid, aid = new_id(), new_id(), new_id()
        convs.append((cid, f"Conversation {i} about topic {i % 97}", ts, ts))
        msgs.append((uid, cid, None, "user", f"question {i} about topic {i % 97}", None, ts))
        msgs.append((aid, cid, uid, "assistant", f"answer {i}: a short reply on topic {i % 97}", "gpt-4o-mini", ts))
    with store.transaction() as c:
        c.executemany("INSERT INTO conversations (id, title, system_prompt, pinned_model, cache_enabled, created_at,"
                      " updated_at, archived) VALUES (?, ?, NULL, NULL, 1, ?, ?, 0)", convs)
        c.executemany("INSERT INTO messages (id, conversation_id, parent_id, role, content, model, status, active,"
                      " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'complete', 1, ?, ?7)", msgs)
    store.close()


def tui_once(env: dict[str, str]) -> tuple[float, list[float]]:
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", CHILD], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    elapsed = time.perf_counter() - start
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if not line.startswith("READY"):
        raise RuntimeError(f"TUI child failed: {line!r} {proc.stderr.read() if proc.stderr else ''}")
    return elapsed, [float(x) for x in line.split()[1:]]


def cli_once(args: list[str], env: dict[str, str]) -> float:
    cmd, cmd_env = cli_command(args, env)
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=cmd_env, capture_output=True, timeout=60)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"chatroute {' '.join(args)} exited {done.returncode}: {done.stderr.decode()[-500:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--conversations", type=int, default=20_000,
                        help="also start over a database of this many conversations (0: skip)")
    args = parser.parse_args()

    with ServerProcess(n_tokens=20) as server:
        home = make_home(server)
        env = bench_env(home)
        many_env = None
        if args.conversations:
            many_home = make_home(server)
            fill_conversations(many_home, args.conversations)
            many_env = bench_env(many_home)
            tui_once(many_env)
        # One untimed run of each so .pyc files exist (a fresh checkout compiles once).
        tui_once(env)
        cli_once(["--help"], env)
        cli_once(["models"], env)
        tui, phases, helps, models, pythons = [], [], [], [], []
        many, many_phases = [], []
        for _ in range(args.runs):  # interleaved, so drift hits every figure alike
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], env=env)
            pythons.append(time.perf_counter() - start)
            t, ph = tui_once(env)
            tui.append(t)
            phases.append(ph)
            if many_env is not None:
                t, ph = tui_once(many_env)
                many.append(t)
                many_phases.append(ph)
            helps.append(cli_once(["--help"], env))
            models.append(cli_once(["models"], env))

    def ms(xs: list[float]) -> str:
        return f"median {median(xs) * 1000:6.0f} ms  (min {min(xs) * 1000:.0f}, max {max(xs) * 1000:.0f})"

    print(f"bare `python -c pass`:              {ms(pythons)}")
    print(f"TUI first interactive frame:        {ms(tui)}   target < 1000 ms")
    names = ("imports (engine + tui)", "Engine.open()", "ChatrouteApp(engine)", "run_test -> mounted + 1 frame")
    for i, name in enumerate(names):
        print(f"    child phase {name:32s} median {median([p[i] for p in phases]):6.0f} ms")
    if many:
        print(f"TUI, {args.conversations:,} conversations:  {ms(many)}   target < 1000 ms")
        for i, name in enumerate(names):
            print(f"    child phase {name:32s} median {median([p[i] for p in many_phases]):6.0f} ms")
    print(f"`chatroute --help`:                 {ms(helps)}   target < 300 ms")
    print(f"`chatroute models`:                 {ms(models)}   target < 300 ms")
    ok = median(tui) < 1.0 and median(helps) < 0.3 and median(models) < 0.3 and (not many or median(many) < 1.0)
    print("PASS" if ok else "FAIL")
    return 0


if __name__ == "__main__":
    sys.exit(main())
