"""A long stored answer opened in the TUI: time to its first frame and to the first key answered.

    nice -n 10 .venv/bin/python benchmarks/long_answer_bench.py [--runs 3] [--items 100 250 500 1200]

A conversation holds one answer: a numbered list of --items items (a sentence each, with bold,
code and a link; a code block every 40 items). The real ChatrouteApp opens it headless
(App.run_test, 120x40, every frame composed) over a real Engine on a fresh CHATROUTE_HOME (no
model is called). Per run and size, in one process, both ways of drawing a stored answer:

  * whole: as shipped, an answer over AnswerMarkdown.LARGE_MIN_CHARS is one widget (Rich's
    Markdown);
  * blocks: LARGE_MIN_CHARS raised past the answer, so it is a widget per block, as before;

and for each: app start -> the answer's first frame composed, and -> two typed keys are in the
composer (the event loop was free to take them). Medians of --runs are printed, with the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench_common import make_home, median, use_home  # noqa: E402

SENTENCE = "Lorem ipsum dolor sit amet, **consectetur** adipiscing `elit` [x](http://e.example) sed do.\n"


def answer(items: int) -> str:
    return "# Title\n" + "".join(f"{i}. " + SENTENCE + ("\n```python\nprint(1)\n```\n" if i % 40 == 0 else "")
                                 for i in range(items))


async def open_once(items: int, whole: bool) -> tuple[float, float]:
    from chatroute.engine import Engine
    from chatroute.tui.app import ChatrouteApp
    from chatroute.tui.markdown.answer import AnswerMarkdown
    from chatroute.tui.widgets.composer import Composer
    from chatroute.tui.widgets.message import AssistantMessage

    use_home(make_home(None))
    engine = Engine.open()
    conv = engine.store.create_conversation("long answer")
    user = engine.store.add_message(conv.id, "user", "list them all")
    text = answer(items)
    engine.store.add_message(conv.id, "assistant", text, parent_id=user.id, model="openai/gpt-4o")
    saved = AnswerMarkdown.LARGE_MIN_CHARS
    if not whole:
        AnswerMarkdown.LARGE_MIN_CHARS = len(text) + 1
    try:
        start = time.perf_counter()
        app = ChatrouteApp(engine, close_engine=True)
        async with app.run_test(size=(120, 40)) as pilot:
            shown = asyncio.get_running_loop().create_future()

            def check() -> None:
                if list(app.screen.query(AssistantMessage)) and not shown.done():
                    shown.set_result(time.perf_counter())
                else:
                    app.call_after_refresh(check)

            app.call_after_refresh(check)
            first = await shown - start
            await pilot.press("h", "i")
            while app.screen.query_one(Composer).text != "hi":
                await asyncio.sleep(0.005)
            keys = time.perf_counter() - start
    finally:
        AnswerMarkdown.LARGE_MIN_CHARS = saved
    return first, keys


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--items", type=int, nargs="+", default=[100, 250, 500, 1200])
    args = ap.parse_args()
    print(f"{'items':>6} {'chars':>8} | {'first frame: whole':>18} {'blocks':>8} | {'keys: whole':>11} "
          f"{'blocks':>8} | {'blocks / whole (keys)':>21}")
    for items in args.items:
        runs: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
        for _ in range(args.runs):
            for whole in (True, False):  # interleaved: machine noise falls on both alike
                runs[whole].append(asyncio.run(open_once(items, whole)))
        first = {w: median([r[0] for r in runs[w]]) for w in runs}
        keys = {w: median([r[1] for r in runs[w]]) for w in runs}
        print(f"{items:>6} {len(answer(items)):>8,} | {first[True]:>17.2f}s {first[False]:>7.2f}s | "
              f"{keys[True]:>10.2f}s {keys[False]:>7.2f}s | {keys[False] / keys[True]:>20.1f}x", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
