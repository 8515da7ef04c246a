"""Compare on a small terminal, answers shown one at a time: the row of tabs says how each hidden
answer is doing (still streaming, done, stopped or failed) and, where it fits, what it cost, so a
user can tell which to look at and whether to wait. Before, a tab was its number (and model) only.
The tabs are redrawn a few times a second while anything streams, never per token."""

from __future__ import annotations

import asyncio
import time

import pytest
from textual.pilot import Pilot

from chatroute.money import usd
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.screens.compare import AnswerTab, CompareScreen
from tests.tui.fake_engine import MODELS, Fail, FakeEngine, Reply
from tests.tui.helpers import open_compare_ticking, settle, until

FOUR = [m.id for m in MODELS]
SPINNER = set("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")


def tab_texts(screen: CompareScreen) -> list[str]:
    """What each tab shows on screen now."""
    return ["".join(seg.text for seg in tab.render_line(0)).strip() for tab in screen.query(AnswerTab)]


async def start_four(pilot: Pilot, app: ChatrouteApp) -> CompareScreen:
    screen = await open_compare_ticking(pilot, app, FOUR)
    await pilot.press("tab", *"Lisbon?", "ctrl+s")
    await until(pilot, lambda: len(list(screen.query(AnswerTab))) == 4, "the tabs")
    assert [c.model for c in screen.columns] == FOUR
    return screen


# 95 columns: four answers are still shown one at a time (a column would be 23 cells), and the row
# has room for every model and cost.
@pytest.mark.parametrize("size", [(40, 12), (80, 24), (95, 30)])
async def test_each_tab_says_whether_its_answer_streams_is_done_or_failed(engine: FakeEngine,
                                                                        size: tuple[int, int]) -> None:
    gate_first: asyncio.Queue[None] = asyncio.Queue()
    gate_last: asyncio.Queue[None] = asyncio.Queue()
    engine.compare_script = {
        FOUR[0]: Reply(pieces=["May ", "is ", "warm."], model=FOUR[0], gate=gate_first),
        FOUR[1]: Fail(error="openai/gpt-4o: 429 rate limited"),
        FOUR[2]: Reply(text="Late September.", model=FOUR[2], cost_usd=0.0031),
        FOUR[3]: Reply(pieces=["Spring", " or autumn."], model=FOUR[3], gate=gate_last, cost_usd=0.0),
    }
    app = ChatrouteApp(engine)
    async with app.run_test(size=size) as pilot:
        screen = await start_four(pilot, app)
        assert screen.one_at_a_time
        tabs = list(screen.query(AnswerTab))
        # The second and third settle while the others wait for their tokens.
        await until(pilot, lambda: [c.status for c in screen.columns] == ["streaming", "error", "ok", "streaming"],
                    f"two answers to settle: {[c.status for c in screen.columns]}")
        await until(pilot, lambda: tab_texts(screen)[1].startswith("2 !") and tab_texts(screen)[2].startswith("3 ✓"),
                    f"the settled tabs to say so: {tab_texts(screen)}")
        first, failed, done, last = tab_texts(screen)
        assert first[0] == "1" and first[2] in SPINNER, first
        assert last[0] == "4" and last[2] in SPINNER, last
        assert tabs[1].has_class("-failed") and not tabs[2].has_class("-failed")
        if size[0] >= 95:  # the cost of a finished answer, where the row has room
            assert done == f"3 ✓ claude-3-5-haiku-20241022 {usd(0.0031)}", done
        # Live: the spinner moves while the answer streams, a few times a second.
        seen = {tab_texts(screen)[0]}
        await until(pilot, lambda: seen.add(tab_texts(screen)[0]) or len(seen) >= 3, "the spinner to move")
        # The first answer's tokens arrive and it finishes: its tab says so without a key pressed.
        for _ in range(3):
            gate_first.put_nowait(None)
        await until(pilot, lambda: tab_texts(screen)[0].startswith("1 ✓"), f"tab 1 done: {tab_texts(screen)}")
        assert tab_texts(screen)[3][2] in SPINNER
        # Ctrl+C stops the last: its tab says it was stopped, not done.
        gate_last.put_nowait(None)
        await until(pilot, lambda: screen.columns[3].text == "Spring", "the last answer to stream")
        await pilot.press("ctrl+c")
        await until(pilot, lambda: tab_texts(screen)[3].startswith("4 ■"), f"tab 4 stopped: {tab_texts(screen)}")
        assert tabs[3].has_class("-stopped")


async def test_tabs_are_not_redrawn_per_token(engine: FakeEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Four answers of 400 tokens each, streamed as fast as they come: the tabs change a few times
    a second, not once a token."""
    gates = {m: asyncio.Queue[None]() for m in FOUR}
    engine.compare_script = {m: Reply(pieces=[f"w{i} " for i in range(400)], model=m, gate=gates[m]) for m in FOUR}
    updates = 0
    real_update = AnswerTab.update

    def counting_update(self: AnswerTab, *args, **kw) -> None:  # type: ignore[no-untyped-def]
        nonlocal updates
        updates += 1
        real_update(self, *args, **kw)

    monkeypatch.setattr(AnswerTab, "update", counting_update)
    app = ChatrouteApp(engine)
    async with app.run_test(size=(40, 12)) as pilot:
        screen = await start_four(pilot, app)
        await pilot.pause()
        updates, started = 0, time.monotonic()
        for _ in range(400):
            for gate in gates.values():
                gate.put_nowait(None)
            await asyncio.sleep(0.002)
        await settle(pilot, app)
        elapsed = time.monotonic() - started
        assert [c.status for c in screen.columns] == ["ok"] * 4
        assert all(t.startswith(f"{i} ✓") for i, t in enumerate(tab_texts(screen), 1)), tab_texts(screen)
    # Each of the four tabs at most every quarter second, and once more as it settles.
    assert updates <= 4 * (elapsed / 0.25 + 2), (updates, elapsed)


async def test_a_tab_marks_an_answer_whose_cost_was_estimated(engine: FakeEngine) -> None:
    """An answer priced from estimated usage (no usage report, a stream cut off) costs ≈ what
    its tab says: its badge and `costs` mark it, and the tab wrote it as exact."""
    engine.compare_script = {
        FOUR[0]: Fail(error="openai/gpt-4o-mini: 429 rate limited"),
        FOUR[1]: Fail(error="openai/gpt-4o: 429 rate limited"),
        FOUR[2]: Reply(text="Late September.", model=FOUR[2], cost_usd=0.0031, usage_estimated=True),
        FOUR[3]: Reply(text="Spring.", model=FOUR[3], cost_usd=0.0),
    }
    app = ChatrouteApp(engine)
    async with app.run_test(size=(95, 30)) as pilot:
        screen = await start_four(pilot, app)
        await until(pilot, lambda: [t[2] for t in tab_texts(screen)] == ["!", "!", "✓", "✓"],
                    f"done: {tab_texts(screen)}")
        assert tab_texts(screen)[2] == f"3 ✓ claude-3-5-haiku-20241022 ≈{usd(0.0031)}", tab_texts(screen)
