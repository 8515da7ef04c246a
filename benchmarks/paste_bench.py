"""A 1 MB paste in the TUI: how long the UI is unresponsive, over the real stack.

    nice -n 10 .venv/bin/python benchmarks/paste_bench.py [--runs 3] [--size 1000000] [--profile]

The fake provider server runs in its own process (127.0.0.1) and a model is configured with a
1M-token window, so the prompt is accepted (as in tests/hardening/test_bad_input.py). The real
ChatrouteApp runs headless (App.run_test, 120x40, every frame composed) over a real Engine.
Each run uses a fresh CHATROUTE_HOME and a fresh app, and first sends a short turn so the SDKs,
router and embedder are loaded before anything is timed. Per run:

  * paste: the Paste event is posted to the app (as the terminal driver delivers a bracketed
    paste) -> the composer holds it and a frame was composed after;
  * send: Enter -> the user message sits in the chat viewport and a frame was composed;
  * turn: Enter -> the answer finished (the engine's work on the prompt included);
  * reopen: the conversation opened again from another one -> its messages shown;
  * stall: the longest time the event loop ran nothing (a task sleeping 5 ms records how late it
    wakes) during paste (+0.5 s after), during send -> answer, and during reopen.

The medians of --runs are printed. --profile prints cProfile's top functions of the last run.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import shutil
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench_common import ServerProcess, make_home, median, use_home  # noqa: E402
from textual import events  # noqa: E402

from chatroute.engine import Engine  # noqa: E402
from chatroute.tui.app import ChatrouteApp  # noqa: E402
from chatroute.tui.screens.chat import ChatScreen  # noqa: E402
from chatroute.tui.widgets.composer import Composer  # noqa: E402
from chatroute.tui.widgets.message import AssistantMessage, UserMessage  # noqa: E402
from tests.engine.helpers import write_config  # noqa: E402

# The log from tests/hardening/test_bad_input.py: about 1 MB, many short lines.
LOG_LINE = "2024-05-01 12:00:00 INFO worker[42]: processed batch 17 of 90 in 0.42 s ok\n"
ROOMY_HAIKU = '[models."anthropic/claude-haiku-4-5"]\ncontext_window = 1000000\n'
POOL = ["anthropic/claude-haiku-4-5"]


def payload(size: int) -> str:
    return (LOG_LINE * (size // len(LOG_LINE) + 1))[:size]


async def frame(app: ChatrouteApp) -> None:
    # refresh() first, or an idle app (nothing to repaint) never runs after-refresh callbacks.
    done = asyncio.Event()
    app.screen.refresh()
    app.call_after_refresh(done.set)
    await done.wait()


class Stalls:
    def __init__(self, interval: float = 0.005) -> None:
        self.interval, self.worst = interval, 0.0
        self.task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            t = time.perf_counter()
            await asyncio.sleep(self.interval)
            self.worst = max(self.worst, time.perf_counter() - t - self.interval)

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    def take(self) -> float:
        worst, self.worst = self.worst, 0.0
        return worst * 1000

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()


def user_shown(app: ChatrouteApp, count: int) -> bool:
    chat = app.screen.query_one("#chat")
    users = app.screen.query(UserMessage)
    if len(users) < count:
        return False
    region = users.last().region
    return bool(region) and chat.region.overlaps(region)


shown_at = [0.0]


async def until(app: ChatrouteApp, ready: Any, timeout: float = 120.0) -> None:
    """Until `ready()` holds and a frame was composed after; the time then goes in shown_at."""
    end = time.perf_counter() + timeout
    while not ready():
        if time.perf_counter() > end:
            raise RuntimeError("timed out")
        await frame(app)
    await frame(app)
    shown_at[0] = time.perf_counter()


async def one_run(text: str, home: Path, profile: cProfile.Profile | None) -> dict[str, float]:
    engine = Engine.open()
    app = ChatrouteApp(engine)
    out: dict[str, float] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        screen = cast(ChatScreen, app.screen)
        composer = screen.query_one("#composer", Composer)
        composer.focus()
        composer.insert("warm up: say hello")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await frame(app)
        stalls = Stalls()
        stalls.start()
        await asyncio.sleep(0.05)
        stalls.take()

        if profile is not None:
            profile.enable()
        t = time.perf_counter()
        app.post_message(events.Paste(text))
        await until(app, lambda: composer.text != "")
        out["paste_ms"] = (time.perf_counter() - t) * 1000
        await asyncio.sleep(0.5)
        out["paste_stall_ms"] = stalls.take()

        # Watched from a task of its own: pilot.press() returns only once the app is idle, which
        # is after the answer has streamed.
        t = time.perf_counter()
        watcher = asyncio.create_task(until(app, lambda: user_shown(app, 2)))
        await pilot.press("enter")
        await watcher
        out["send_ms"] = (shown_at[0] - t) * 1000
        await app.workers.wait_for_complete()
        await until(app, lambda: len(screen.query(AssistantMessage)) == 2
                    and screen.query(AssistantMessage).last().status not in ("pending", "streaming"))
        out["turn_ms"] = (time.perf_counter() - t) * 1000
        out["send_stall_ms"] = stalls.take()
        answer = screen.query(AssistantMessage).last()
        if answer.status in ("error", "interrupted"):
            raise RuntimeError(f"the turn failed: {answer.status} {answer.error!r}")

        cid = screen.conversation_id
        await screen.action_new_conversation()
        await frame(app)
        stalls.take()
        t = time.perf_counter()
        await screen.open_conversation(cid)
        await until(app, lambda: user_shown(app, 2))
        out["reopen_ms"] = (time.perf_counter() - t) * 1000
        out["reopen_stall_ms"] = stalls.take()
        if profile is not None:
            profile.disable()
        stalls.stop()
    await engine.aclose()
    with sqlite3.connect(home / "chatroute.db") as db:
        stored = [r[0] for r in db.execute("SELECT content FROM messages WHERE role = 'user' ORDER BY seq")]
    if stored[-1] not in (text, text.strip()):
        raise RuntimeError("the stored prompt is not the pasted text")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--size", type=int, default=1_000_000, help="characters pasted")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    text = payload(args.size)
    print(f"paste: {len(text.encode()):,} bytes, {text.count(chr(10)):,} lines; {args.runs} runs")
    results: list[dict[str, float]] = []
    profile = cProfile.Profile() if args.profile else None
    with ServerProcess() as server:
        for i in range(args.runs):
            home = make_home(None)
            write_config(home, server, pool=POOL, extra=ROOMY_HAIKU)
            use_home(home)
            try:
                last = i == args.runs - 1
                results.append(asyncio.run(one_run(text, home, profile if last else None)))
            finally:
                shutil.rmtree(home, ignore_errors=True)
            print(f"  run {i + 1}: " + ", ".join(f"{k} {v:,.0f}" for k, v in results[-1].items()), flush=True)
    print("medians:")
    for key in results[0]:
        print(f"  {key:16s} {median([r[key] for r in results]):9,.0f} ms")
    if profile is not None:
        buf = io.StringIO()
        pstats.Stats(profile, stream=buf).sort_stats("cumulative").print_stats(45)
        pstats.Stats(profile, stream=buf).sort_stats("cumulative").print_stats("chatroute", 30)
        print(buf.getvalue())
        buf = io.StringIO()
        pstats.Stats(profile, stream=buf).sort_stats("tottime").print_stats(30)
        print(buf.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
