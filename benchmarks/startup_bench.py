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

Targets (README, Performance): first interactive frame < 1 s median; --help and models < 300 ms median.
"""

from __future__ import annotations

import argparse
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

CLI = str(ROOT / ".venv" / "bin" / "chatroute")


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
    start = time.perf_counter()
    done = subprocess.run([CLI, *args], cwd=ROOT, env=env, capture_output=True, timeout=60)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"chatroute {' '.join(args)} exited {done.returncode}: {done.stderr.decode()[-500:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    with ServerProcess(n_tokens=20) as server:
        home = make_home(server)
        env = bench_env(home)
        # One untimed run of each so .pyc files exist (a fresh checkout compiles once).
        tui_once(env)
        cli_once(["--help"], env)
        cli_once(["models"], env)
        tui, phases, helps, models, pythons = [], [], [], [], []
        for _ in range(args.runs):  # interleaved, so drift hits every figure alike
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], env=env)
            pythons.append(time.perf_counter() - start)
            t, ph = tui_once(env)
            tui.append(t)
            phases.append(ph)
            helps.append(cli_once(["--help"], env))
            models.append(cli_once(["models"], env))

    def ms(xs: list[float]) -> str:
        return f"median {median(xs) * 1000:6.0f} ms  (min {min(xs) * 1000:.0f}, max {max(xs) * 1000:.0f})"

    print(f"bare `python -c pass`:              {ms(pythons)}")
    print(f"TUI first interactive frame:        {ms(tui)}   target < 1000 ms")
    names = ("imports (engine + tui)", "Engine.open()", "ChatrouteApp(engine)", "run_test -> mounted + 1 frame")
    for i, name in enumerate(names):
        print(f"    child phase {name:32s} median {median([p[i] for p in phases]):6.0f} ms")
    print(f"`chatroute --help`:                 {ms(helps)}   target < 300 ms")
    print(f"`chatroute models`:                 {ms(models)}   target < 300 ms")
    ok = median(tui) < 1.0 and median(helps) < 0.3 and median(models) < 0.3
    print("PASS" if ok else "FAIL")
    return 0


if __name__ == "__main__":
    sys.exit(main())
