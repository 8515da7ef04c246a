"""TUI streaming throughput and event-loop stalls, over the real stack.

    .venv/bin/python benchmarks/stream_bench.py [--runs 5] [--tokens 5000] [--markdown] [--profile]
    .venv/bin/python benchmarks/stream_bench.py --code-lines 5000 --rate 200 [--runs 3]

A fake OpenAI server (its own process, 127.0.0.1) streams N one-token chunks as fast as it
can. The real ChatrouteApp runs headless (App.run_test, 120x40) over a real Engine (store,
router, answer cache, official openai SDK). The prompt is typed into the composer and sent
with Enter through the Pilot. Measured per run:

  * tok/s: tokens the TUI consumed / (last fragment handled by AssistantMessage.finish done
    - first fragment reaching AssistantMessage.write). finish() waits until everything
    streamed is rendered, so the figure includes rendering that lags behind the network.
  * longest stall: an asyncio task in the app's loop sleeps 5 ms at a time and records the
    gap between wake-ups; the max gap inside the streaming window (first token -> finished)
    is the figure (target < 50 ms). The whole turn (Enter -> finished) is reported too; it
    also covers the pre-stream work (cache lookup, routing) and, in the first run, the cold
    SDK / embedder loads.
  * render check: after the turn, the answer's Markdown widget must hold the whole answer,
    with every code block and table of it rendered (a RENDER PROBLEM line otherwise).

Workloads: by default "w0 w1 w2 ..." (one 19.5 KB paragraph for 5000 tokens: the worst case
for re-wrapping); --markdown streams a realistic answer instead (headings, paragraphs,
nested lists, code blocks, tables, quotes; about --tokens words, one word a chunk), whose
cost is dominated by the number of widgets Textual's Markdown builds; --code-lines N streams
one Python code block of N lines between a sentence before and after it, a chunk a line (the
README's "TUI streaming one Python code block" row), paced at --rate tokens/s (default: as
fast as the server can). "drawn whole" is Enter -> the answer finished; with --linger S (3 s
with --code-lines) the run then waits for the app's workers (the code block's colours) and S
seconds more, so "whole turn" also covers colouring and the full garbage collection the app
runs once it is quiet (tui/collector.py).

Each run uses a fresh CHATROUTE_HOME (no cache hits) and a fresh app, in one process; run 1
is therefore "cold" for lazy imports. The first prompt uses an @override (pinned model) so
the router is not a factor; --routed sends without it.

Targets (README, Performance): >= 1,000 tok/s, longest stall < 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench_common import ROOT, ServerProcess, make_home, median, use_home  # noqa: E402

from chatroute.engine import Engine  # noqa: E402
from chatroute.tui.app import ChatrouteApp  # noqa: E402
from chatroute.tui.widgets.composer import Composer  # noqa: E402
from chatroute.tui.widgets.message import AssistantMessage  # noqa: E402

TICK_S = 0.005

_SECTION = """## Part {i}: routing requests

When a request arrives the router scores every model in the pool for quality, expected cost and
latency, then picks the best utility. Part {i} looks at how **cached answers** and `fallbacks`
interact with *streaming*, and why the badge shows what it shows. A long paragraph like this one
is typical of an answer; it keeps going for a few lines so that wrapping matters at 120 columns.

Steps to follow:

1. Open the configuration and check the pool.
2. Send a prompt with an `@override` to pin a model.
3. Compare the badge with the cost report.
   - nested detail one
   - nested detail two
4. Regenerate and look at the siblings.

```python
def route_{i}(prompt: str, pool: list[str]) -> str:
    \"\"\"Pick the model with the best utility for this prompt.\"\"\"
    scores = {{}}
    for model in pool:
        quality = estimate_quality(model, prompt)
        cost = expected_cost(model, prompt)
        latency = expected_latency(model)
        scores[model] = quality - 0.3 * cost - 0.1 * latency
    best = max(scores, key=scores.get)
    return best
```

| model | quality | cost (USD) | latency |
|-------|---------|-----------|---------|
| gpt-4o-mini | 0.71 | 0.0004 | 2.1 s |
| gpt-4o | 0.83 | 0.0071 | 3.4 s |
| claude-3-5-haiku | 0.74 | 0.0028 | 2.6 s |

> Note {i}: the cache only answers when the similarity is above the threshold.

"""


def code_answer(n_lines: int) -> str:
    """An answer of one Python code block of n_lines lines, each one chunk for the fake server
    (no blank inside a line: it streams a word a chunk), with a sentence before and after."""
    kinds = ["value_{i}=compute({i},'item{i}')#step{i}", "total+=value_{i}*{i}",
             "if(value_{i}>{i}):total-=1", "results.append(str(value_{i}))"]
    code = "\n".join(kinds[i % len(kinds)].format(i=i) for i in range(n_lines))
    return f"Here is the module:\n\n```python\n{code}\n```\n\nThat is all.\n"


def markdown_answer(n_words: int) -> str:
    """A long, realistic answer: headings, paragraphs, nested lists, code, tables, quotes;
    about n_words whitespace-separated words (the fake server sends one word per chunk)."""
    parts = ["# A long answer\n\nThis answer mixes every block the TUI renders.\n\n"]
    words, i = 0, 0
    while words < n_words:
        i += 1
        section = _SECTION.format(i=i)
        parts.append(section)
        words += len(section.split())
    parts.append("The end: **all of it** rendered.\n")
    return "".join(parts)


class MarkdownServerProcess(ServerProcess):
    """The fake server in its own process, answering every request with `text`, one word
    (with its trailing whitespace) per chunk."""

    def __init__(self, text: str, tokens_per_s: float | None = None) -> None:
        fd, name = tempfile.mkstemp(prefix="chatroute-bench-", suffix=".md")
        self._doc = Path(name)
        with open(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        code = ("import sys, time\n"
                "from tests.fakeserver import FakeServer, Reply\n"
                "server = FakeServer()\n"
                "rate = float(sys.argv[2]) or None\n"
                "server.default_reply = Reply(text=open(sys.argv[1], encoding='utf-8').read(), tokens_per_s=rate)\n"
                "server.start()\n"
                "print(server.url, flush=True)\n"
                "while True:\n"
                "    time.sleep(3600)\n")
        self.proc = subprocess.Popen([sys.executable, "-c", code, str(self._doc), str(tokens_per_s or 0)], cwd=ROOT,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://127.0.0.1:"):
            self.stop()
            raise RuntimeError(f"fake server did not start: {self.url!r}")

    def stop(self) -> None:
        super().stop()
        self._doc.unlink(missing_ok=True)


class Probe:
    """Timestamps from the TUI side: wraps AssistantMessage.write/finish (benchmark only)."""

    def __init__(self) -> None:
        self.first: float | None = None
        self.last_write: float | None = None
        self.done: float | None = None
        self.writes = 0
        self.chars = 0
        self.final_len = 0
        self.error: str | None = None
        self._orig_write = AssistantMessage.write
        self._orig_finish = AssistantMessage.finish

    def install(self) -> None:
        probe = self

        async def write(msg: AssistantMessage, fragment: str) -> None:
            now = time.perf_counter()
            if probe.first is None:
                probe.first = now
            probe.writes += 1
            probe.chars += len(fragment)
            await probe._orig_write(msg, fragment)
            probe.last_write = time.perf_counter()

        async def finish(msg: AssistantMessage, text: str, record: Any, error: str | None, retryable: bool) -> None:
            await probe._orig_finish(msg, text, record, error, retryable)
            probe.final_len = len(text)
            probe.error = error
            probe.done = time.perf_counter()

        AssistantMessage.write = write  # type: ignore[method-assign,assignment]
        AssistantMessage.finish = finish  # type: ignore[method-assign,assignment]

    def uninstall(self) -> None:
        AssistantMessage.write = self._orig_write  # type: ignore[method-assign]
        AssistantMessage.finish = self._orig_finish  # type: ignore[method-assign]


class Ticker:
    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []  # (wake time, gap since previous wake)
        self._stop = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        last = time.perf_counter()
        while not self._stop:
            await asyncio.sleep(TICK_S)
            now = time.perf_counter()
            self.samples.append((now, now - last))
            last = now

    async def stop(self) -> None:
        self._stop = True
        if self._task is not None:
            await self._task

    def max_gap(self, start: float, end: float) -> tuple[float, float]:
        """Longest gap (s) whose wake-up falls in [start, end + one tick], and when it ended."""
        best = (0.0, start)
        for t, gap in self.samples:
            if start < t <= end + 2 * TICK_S and gap > best[0]:
                best = (gap, t)
        return best


async def one_run(server: ServerProcess, tokens: int, routed: bool, timeout: float = 120.0,
                  linger: float = 0.0) -> dict[str, Any]:
    home = make_home(server)
    use_home(home)
    engine = Engine.open()
    app = ChatrouteApp(engine)
    probe = Probe()
    probe.install()
    ticker = Ticker()
    coloured = 0.0
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            composer = app.screen.query_one("#composer", Composer)
            composer.focus()
            prompt = "Write a very long story about routers."
            composer.insert(prompt if routed else f"@gpt-4o-mini {prompt}")
            ticker.start()
            await asyncio.sleep(0.05)  # a few ticks of baseline
            sent = time.perf_counter()
            await pilot.press("enter")
            deadline = sent + timeout
            while probe.done is None and time.perf_counter() < deadline:
                await asyncio.sleep(0.01)
            await pilot.pause()  # one more frame after the final render
            painted = time.perf_counter()
            if linger:
                await app.workers.wait_for_complete()  # a long code block is coloured by a worker
                await pilot.pause()
                coloured = time.perf_counter()
                await asyncio.sleep(linger)
                painted = time.perf_counter()
            await ticker.stop()
            await app.workers.wait_for_complete()
            render_problem = check_render(app)
    finally:
        probe.uninstall()
        await engine.aclose()
        engine.store.close()
        shutil.rmtree(home, ignore_errors=True)
    if probe.done is None or probe.first is None:
        raise RuntimeError("the turn did not finish in time")
    if tokens and probe.writes != tokens:
        print(f"  note: {probe.writes} fragments for {tokens} tokens", file=sys.stderr)
    stream_s = probe.done - probe.first
    stall_stream, stall_at = ticker.max_gap(probe.first, probe.done)
    stall_turn, stall_turn_at = ticker.max_gap(sent, painted)
    stall_after, _ = ticker.max_gap(probe.done, painted)
    return {
        "tokens": probe.writes,
        "tok_s": probe.writes / stream_s,
        "tok_s_until_last_write": probe.writes / max(1e-9, (probe.last_write or probe.done) - probe.first),
        "stream_s": stream_s,
        "finish_render_ms": (probe.done - (probe.last_write or probe.done)) * 1000,
        "enter_to_first_ms": (probe.first - sent) * 1000,
        "stall_stream_ms": stall_stream * 1000,
        "stall_stream_at_ms": (stall_at - probe.first) * 1000,
        "stall_turn_ms": stall_turn * 1000,
        "stall_turn_at_ms": (stall_turn_at - sent) * 1000,
        "enter_to_done_s": probe.done - sent,
        "enter_to_coloured_s": coloured - sent if coloured else None,
        "stall_after_ms": stall_after * 1000,
        "final_len": probe.final_len,
        "render_problem": render_problem,
    }


def check_render(app: ChatrouteApp) -> str:
    """'' if the answer's final Markdown shows the whole text with its code blocks and tables."""
    from textual.widgets import Markdown
    from textual.widgets._markdown import MarkdownFence, MarkdownTable

    [msg] = list(app.screen.query(AssistantMessage))
    md = msg.query_one(Markdown)
    if md.source != msg.text:
        return f"the Markdown source ({len(md.source)} chars) is not the answer ({len(msg.text)} chars)"
    fences = len(md.query(MarkdownFence))
    tables = len(md.query(MarkdownTable))
    want_fences = msg.text.count("```") // 2
    want_tables = sum(1 for line in msg.text.splitlines() if line.startswith("|---"))
    if (fences, tables) != (want_fences, want_tables):
        return f"{fences} code blocks / {tables} tables rendered, {want_fences} / {want_tables} expected"
    return ""


async def raw_sdk_throughput(server: ServerProcess) -> float:
    """Reference: tokens/s of the bare openai SDK reading the same stream (no UI, no engine)."""
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=server.openai_base_url, api_key="x", max_retries=0)
    try:
        stream = await client.chat.completions.create(model="gpt-4o-mini", stream=True,
                                                      messages=[{"role": "user", "content": "hi"}])
        n = 0
        first = None
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                if first is None:
                    first = time.perf_counter()
                n += 1
        return n / (time.perf_counter() - (first or time.perf_counter()))
    finally:
        await client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=5000)
    parser.add_argument("--routed", action="store_true", help="let the router choose (no @override)")
    parser.add_argument("--markdown", action="store_true",
                        help="stream a realistic Markdown answer (headings, lists, code, tables) of about --tokens "
                             "words, one word a chunk, instead of one long paragraph of one-word chunks")
    parser.add_argument("--code-lines", type=int, default=0, metavar="N",
                        help="stream one Python code block of N lines, a chunk a line, instead")
    parser.add_argument("--rate", type=float, default=0, metavar="TOK_S",
                        help="with --markdown or --code-lines: pace the stream at this many chunks a second")
    parser.add_argument("--linger", type=float, default=None, metavar="S",
                        help="after the answer, wait for workers (a code block's colours) and S seconds more, "
                             "still timing stalls: the quiet-time full collection runs then (default: 3 with "
                             "--code-lines, else 0)")
    parser.add_argument("--profile", action="store_true", help="cProfile the last run, print the top 25")
    args = parser.parse_args()
    if args.linger is None:
        args.linger = 3.0 if args.code_lines else 0.0

    if args.code_lines:
        server_cm: ServerProcess = MarkdownServerProcess(code_answer(args.code_lines), args.rate or None)
    elif args.markdown:
        server_cm = MarkdownServerProcess(markdown_answer(args.tokens), args.rate or None)
    else:
        server_cm = ServerProcess(n_tokens=args.tokens)
    expected = 0 if args.markdown or args.code_lines else args.tokens
    with server_cm as server:
        raw = asyncio.run(raw_sdk_throughput(server))
        print(f"reference: raw openai SDK reads the fake stream at {raw:,.0f} tok/s")
        results = []
        for i in range(args.runs):
            prof = cProfile.Profile() if args.profile and i == args.runs - 1 else None
            if prof:
                prof.enable()
            r = asyncio.run(one_run(server, expected, args.routed, linger=args.linger))
            if prof:
                prof.disable()
            results.append(r)
            print(f"run {i + 1}: {r['tok_s']:8,.0f} tok/s ({r['tokens']} tokens in {r['stream_s'] * 1000:,.0f} ms; "
                  f"final render {r['finish_render_ms']:.0f} ms)  longest stall while streaming "
                  f"{r['stall_stream_ms']:.1f} ms (at +{r['stall_stream_at_ms']:.0f} ms)  whole turn "
                  f"{r['stall_turn_ms']:.1f} ms (at +{r['stall_turn_at_ms']:.0f} ms after Enter)  "
                  f"Enter->first token {r['enter_to_first_ms']:.0f} ms  drawn whole {r['enter_to_done_s']:.1f} s")
            if r["enter_to_coloured_s"] is not None:
                print(f"  coloured {r['enter_to_coloured_s']:.1f} s after Enter; longest stall from the end of the "
                      f"answer to {args.linger} s after it was coloured {r['stall_after_ms']:.0f} ms")
            if r["render_problem"]:
                print(f"  RENDER PROBLEM: {r['render_problem']}")
            if prof:
                pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    warm = results[1:] or results
    print()
    print(f"median of {len(results)} runs: {median([r['tok_s'] for r in results]):,.0f} tok/s (target >= 1,000); "
          f"longest stall while streaming {median([r['stall_stream_ms'] for r in results]):.1f} ms "
          f"(worst {max(r['stall_stream_ms'] for r in results):.1f} ms; target < 50 ms)")
    print(f"whole turn (Enter -> finished) longest stall: "
          f"median {median([r['stall_turn_ms'] for r in results]):.1f} ms,"
          f" run 1 (cold) {results[0]['stall_turn_ms']:.1f} ms, warm median "
          f"{median([r['stall_turn_ms'] for r in warm]):.1f} ms; drawn whole (Enter -> finished) median "
          f"{median([r['enter_to_done_s'] for r in results]):.1f} s")
    if args.linger:
        coloured = [r["enter_to_coloured_s"] for r in results]
        print(f"coloured (Enter -> the app's workers done) median {median(coloured):.1f} s; longest stall from "
              f"the end of the answer to {args.linger} s after: median "
              f"{median([r['stall_after_ms'] for r in results]):.0f} ms")
    ok = (median([r["tok_s"] for r in results]) >= 1000
          and median([r["stall_stream_ms"] for r in results]) < 50
          and not any(r["render_problem"] for r in results))
    print("PASS" if ok else "FAIL")
    return 0


if __name__ == "__main__":
    sys.exit(main())
