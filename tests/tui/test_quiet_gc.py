"""Full garbage collections happen at quiet moments (chatroute/tui/collector.py), and stored
answers arrive with their Markdown blocks already built (one layout per page of messages)."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets.markdown import MarkdownBlock

from chatroute.store import Store
from chatroute.tui import collector as collector_mod
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.collector import COLLECTOR, QuietCollector
from chatroute.tui.markdown.answer import AnswerMarkdown
from chatroute.tui.markdown.repair import top_level_blocks
from chatroute.tui.widgets.message import AssistantMessage
from tests.tui.fake_engine import FakeEngine
from tests.tui.helpers import settle, until


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def quiet() -> tuple[QuietCollector, Clock]:
    clock = Clock()
    c = QuietCollector(clock=clock)
    c.install()
    yield c, clock
    c.uninstall()


def screen_text(app: ChatrouteApp) -> str:
    """What the terminal shows, as plain text (the frame the compositor would write)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def pending(n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend n young collections happened since the last full one."""
    monkeypatch.setattr(collector_mod.gc, "get_count", lambda: (0, 0, n))


def test_install_switches_off_automatic_full_collections_and_uninstall_restores_them() -> None:
    before = gc.get_threshold()
    c = QuietCollector()
    c.install()
    c.install()  # a second app in the same process
    assert gc.get_threshold()[2] >= 1 << 30
    assert gc.get_threshold()[:2] == before[:2]  # young generations untouched
    c.uninstall()
    assert gc.get_threshold()[2] >= 1 << 30  # the other app still runs
    c.uninstall()
    assert gc.get_threshold() == before


def test_while_a_stream_runs_generation_1_is_collected_less_often() -> None:
    """A stream redraws the screen's rows every frame, and each row drawn is cyclic garbage a
    frame later: collected with CPython's generation-1 threshold (10), the rows alive at each run
    moved to the old generation, and a 5,000-line code block left ~560k objects for the full
    collection after the answer, a pause of seconds."""
    before = gc.get_threshold()
    c = QuietCollector()
    c.install()
    c.begin_busy()
    c.begin_busy()  # two streams at once (compare)
    streaming = gc.get_threshold()
    assert streaming[1] > before[1] and streaming[::2] == (before[0], 1 << 30)
    c.end_busy()
    assert gc.get_threshold() == streaming  # the other still streams
    c.end_busy()
    assert gc.get_threshold()[:2] == before[:2]
    c.begin_busy()
    c.uninstall()  # the app closed mid-stream
    assert gc.get_threshold() == before
    c.end_busy()
    assert gc.get_threshold() == before


def test_collects_only_after_a_quiet_spell(quiet: tuple[QuietCollector, Clock],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    c, clock = quiet
    pending(collector_mod.MIN_DEFERRED, monkeypatch)
    c.activity()
    clock.now += collector_mod.IDLE_S / 2
    assert not c.tick()  # a key was pressed just now
    clock.now += collector_mod.IDLE_S
    assert c.tick() and c.collections == 1 and c.forced == 0


def test_little_garbage_is_left_for_later(quiet: tuple[QuietCollector, Clock], monkeypatch: pytest.MonkeyPatch) -> None:
    c, clock = quiet
    pending(collector_mod.MIN_DEFERRED - 1, monkeypatch)
    clock.now += 10 * collector_mod.IDLE_S
    assert not c.tick()


def test_streams_hold_it_off_until_they_end(
    quiet: tuple[QuietCollector, Clock], monkeypatch: pytest.MonkeyPatch
) -> None:
    c, clock = quiet
    pending(collector_mod.MIN_DEFERRED, monkeypatch)
    c.begin_busy()
    clock.now += 10 * collector_mod.IDLE_S
    assert not c.tick()
    c.end_busy()  # counts as activity: the last frames of the answer come first
    assert not c.tick()
    clock.now += collector_mod.IDLE_S
    assert c.tick()


def test_a_long_busy_spell_still_collects(quiet: tuple[QuietCollector, Clock], monkeypatch: pytest.MonkeyPatch) -> None:
    c, clock = quiet
    pending(collector_mod.MAX_DEFERRED, monkeypatch)
    c.activity()  # a key held down
    assert c.tick() and c.forced == 1  # memory stays bounded


def test_a_stream_defers_it_further_but_not_forever(quiet: tuple[QuietCollector, Clock],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A long answer renders fast enough to pass MAX_DEFERRED mid-stream: the pause would
    freeze the stream itself."""
    c, clock = quiet
    pending(0, monkeypatch)
    c.begin_busy()
    pending(collector_mod.MAX_DEFERRED, monkeypatch)
    assert not c.tick()
    pending(collector_mod.MAX_DEFERRED_STREAMING, monkeypatch)
    assert c.tick() and c.forced == 1  # a pathological stream is still bounded
    pending(collector_mod.MAX_DEFERRED, monkeypatch)  # as many again before the stream ends
    c.end_busy()
    assert not c.tick()  # nor right after it: the answer's last frames come first
    clock.now += collector_mod.IDLE_S
    assert c.tick() and c.forced == 1  # at the next quiet moment instead
    clock.now -= collector_mod.IDLE_S
    c.activity()
    assert c.tick() and c.forced == 2  # young collections outside streams: the usual bound


async def test_the_app_reports_keys_and_collects_when_idle(chatroute_home: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys count as activity and the app's timer collects once it has been quiet for IDLE_S.
    The collector reads a clock the test moves, and the test waits for the timer to have looked:
    on a loaded machine the loop can stall past IDLE_S between two keys, which with the real
    clock was a quiet spell, and a collection, in the middle of the typing."""
    monkeypatch.setattr(collector_mod, "MIN_DEFERRED", 0)
    monkeypatch.setattr(collector_mod, "MAX_DEFERRED", 1 << 30)  # only a quiet moment collects here
    clock = Clock()
    monkeypatch.setattr(COLLECTOR, "_clock", clock)
    looked = [0]
    tick = COLLECTOR.tick

    def counted_tick() -> bool:
        looked[0] += 1
        return tick()

    monkeypatch.setattr(COLLECTOR, "tick", counted_tick)  # what the app's timer calls
    # The timer looks five times as often: the test waits for it to have looked (twice per step),
    # and what it sees is the test's clock, not how often it looks.
    monkeypatch.setattr("chatroute.tui.app.CHECK_INTERVAL_S", collector_mod.CHECK_INTERVAL_S / 5)

    async def timer_looks(pilot: Pilot) -> None:
        """Until the timer has looked twice at the clock as it is now."""
        seen = looked[0]
        await until(pilot, lambda: looked[0] >= seen + 2, "the quiet-gc timer", timeout=30)

    before = gc.get_threshold()
    app = ChatrouteApp(FakeEngine(Store.open()))  # type: ignore[arg-type]
    async with app.run_test(size=(100, 30)) as pilot:
        assert gc.get_threshold()[2] >= 1 << 30
        await timer_looks(pilot)
        start = COLLECTOR.collections
        for _ in range(6):  # typing: a key every 0.6 s, never quiet for IDLE_S (1 s) though 3.6 s pass
            clock.now += collector_mod.IDLE_S * 0.6
            await pilot.press("x")
            await timer_looks(pilot)
        assert COLLECTOR.collections == start
        clock.now += collector_mod.IDLE_S * 0.9
        await timer_looks(pilot)
        assert COLLECTOR.collections == start  # not before the quiet
        clock.now += collector_mod.IDLE_S * 0.2
        await until(pilot, lambda: COLLECTOR.collections > start, "a collection once quiet", timeout=30)
    assert gc.get_threshold() == before


async def test_stored_answers_mount_with_their_blocks(chatroute_home: Path) -> None:
    store = Store.open()
    conv = store.create_conversation(title="Stored")
    user = store.add_message(conv.id, "user", "list please")
    text = "Intro paragraph.\n\n- one\n- two\n\n```python\nprint(1)\n```\n\nLast words."
    store.add_message(conv.id, "assistant", text, parent_id=user.id, model="openai/gpt-4o-mini")
    app = ChatrouteApp(FakeEngine(store))  # type: ignore[arg-type]
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        answer = app.screen.query_one(AssistantMessage)
        markdown = answer.query_one(AnswerMarkdown)
        blocks = [b for b in markdown.children if isinstance(b, MarkdownBlock)]
        # The blocks a one-shot render builds (the parser's top-level tokens), the last one marked.
        assert [(b.name, tuple(b.source_range)) for b in blocks] == top_level_blocks(text)
        assert len(blocks) == 4
        assert markdown.source == text
        assert blocks[-1].has_class("-last") and not blocks[0].has_class("-last")
        shown = screen_text(app)
        assert "print" in shown and "Last words." in shown
        # A later full render (regenerate, sibling switch) replaces the blocks as usual.
        await markdown.update("Replaced.")
        await settle(pilot, app)
        assert [b for b in markdown.children if isinstance(b, MarkdownBlock)] and markdown.source == "Replaced."
        assert "Replaced." in screen_text(app) and "Last words." not in screen_text(app)
