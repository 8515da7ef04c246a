"""The TUI's Enter -> request: from the Enter key to the request arriving at the provider, and
the CPU the app burns while idle after its first frame.

    .venv/bin/python benchmarks/enter_bench.py [--runs 5]

Each run is a fresh `chatroute` TUI process (the real ChatrouteApp over a real Engine, with
freeze_startup as the `chatroute` command runs it, headless
via App.run_test(size=(120, 40)), an empty database, config pointing at a fake server in a
third process). The child types a prompt and presses Enter, and prints the time.perf_counter()
just before the key; the fake server prints time.monotonic() as the request arrives (the same
clock on Linux). So "Enter -> request" covers the key's handling, the cache lookup (with the
embedder's first load when the warm-up has not done it), the routing decision, the SDK client
and the HTTP request up to its arrival.

Scenarios: "at once" presses Enter right after the first frame (a user who types at once, while
the background warm-up still runs); "settled" waits until the warm-up is done. "idle CPU" is
the child's process CPU time over the 3 s after its first frame, with no input.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench_common import ROOT, ServerProcess, bench_env, make_home, median, pct  # noqa: E402

CHILD = r"""
import asyncio, sys, time
from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp

MODE = sys.argv[1]

async def main():
    engine = Engine.open()
    app = ChatrouteApp(engine, freeze_startup=True)  # one app per process, as the `chatroute` command runs it
    async with app.run_test(size=(120, 40)) as pilot:
        painted = asyncio.Event()
        app.call_after_refresh(painted.set)
        await painted.wait()
        if MODE == "idle":
            cpu0 = time.process_time()
            await asyncio.sleep(3.0)
            print("IDLE %.3f" % (time.process_time() - cpu0), flush=True)
            return
        if MODE == "settled":
            while any(w.group == "warm" and not w.is_finished for w in app.workers):
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)
        composer = app.screen.query_one("#composer")
        await pilot.press(*"what is the capital of France?")
        t = time.perf_counter()
        print("ENTER %.6f" % t, flush=True)
        await pilot.press("enter")
        await asyncio.sleep(2.0)

asyncio.run(main())
"""


def _run(mode: str, server: ServerProcess, arrivals: list[float]) -> float:
    home = make_home(server, pool=["openai/gpt-4o-mini", "openai/gpt-4o"])
    before = len(arrivals)
    out = subprocess.run([sys.executable, "-c", CHILD, mode], cwd=ROOT, env=bench_env(home), capture_output=True,
                         text=True, timeout=120)
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)
    if mode == "idle":
        return float(lines["IDLE"]) * 1000
    enter = float(lines["ENTER"])
    got = [a for a in arrivals[before:] if a >= enter]
    if not got:
        raise RuntimeError(f"no request arrived ({mode}): {out.stderr[-2000:]}")
    return (got[0] - enter) * 1000


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with ServerProcess(n_tokens=20, log_requests=True) as server:
        arrivals: list[float] = []

        def read() -> None:
            assert server.proc.stdout is not None
            for line in server.proc.stdout:
                if line.startswith("REQ "):
                    arrivals.append(float(line.split()[1]))

        threading.Thread(target=read, daemon=True).start()
        for mode, label in (("at-once", "Enter -> request, at once after the first frame"),
                            ("settled", "Enter -> request, warm-up done"),
                            ("idle", "idle CPU in the 3 s after the first frame")):
            xs = [_run(mode, server, arrivals) for _ in range(args.runs)]
            print(f"{label:50s} median {median(xs):6.0f} ms   max {pct(xs, 100):6.0f} ms   (n={len(xs)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
