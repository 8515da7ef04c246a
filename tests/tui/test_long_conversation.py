"""A long conversation over the real store: it opens at the latest messages, scrolling up pages
older ones in, and the number of mounted messages stays bounded (the chat view is a window
over the conversation, see ChatView)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from chatroute.store import Store
from chatroute.store.records import TurnRecord
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.widgets.chat_view import ChatView, LoadEarlier, LoadLater
from chatroute.tui.widgets.message import AssistantMessage, MessageWidget
from chatroute.turn_events import Delta, Routed, TurnFinished, TurnStarted
from tests.tui.fake_engine import FakeEngine, decision_for
from tests.tui.helpers import badge, settle, type_and_send

SIZE = (100, 30)
MODEL = "openai/gpt-4o-mini"
# Two paragraphs, so a page of messages is surely taller than the view (else the view loads
# more at once to fill itself, see ChatView._fill_viewport).
ANSWER = "answer {}\n\nand a second paragraph"


@pytest.fixture(autouse=True)
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Smaller pages than the app's (same logic, fewer widgets to mount per key press): the
    test stays fast. The sizes still make every page taller than the viewport."""
    monkeypatch.setattr(ChatView, "OPENING", 8)
    monkeypatch.setattr(ChatView, "BATCH", 4)
    monkeypatch.setattr(ChatView, "WINDOW", 16)


def seed_long(store: Store, turns: int) -> str:
    """An old short conversation, then a `turns`-turn one (the most recent: it opens at start)."""
    old = store.create_conversation(title="Short and old")
    store.add_message(old.id, "user", "hello")
    conv = store.create_conversation(title="Long")
    parent = None
    with store.transaction():  # one transaction: every write below joins it
        for i in range(turns):
            user = store.add_message(conv.id, "user", f"question {i}", parent_id=parent)
            answer = store.add_message(conv.id, "assistant", ANSWER.format(i), parent_id=user.id, model=MODEL)
            store.add_turn(TurnRecord(conversation_id=conv.id, message_id=answer.id, model=MODEL, provider="openai",
                                      route_kind="routed", cache_status="miss", input_tokens=10 + i,
                                      output_tokens=20, cost_usd=0.0001, ttft_ms=300.0, total_ms=900.0))
            parent = answer.id
    return conv.id


class StoreEngine(FakeEngine):
    """FakeEngine whose turns are written to the real store, like Engine.run_turn does."""

    async def run_turn(self, conversation_id: str | None, prompt: str, *, override: str | None = None,
                       use_cache: bool = True, regenerate_of: str | None = None,
                       allow_over_budget: bool = False) -> AsyncIterator[Any]:
        store = self.store
        assert conversation_id is not None
        history = store.history(conversation_id)
        user = store.add_message(conversation_id, "user", prompt, parent_id=history[-1].id if history else None)
        answer = store.add_message(conversation_id, "assistant", "", parent_id=user.id, status="streaming")
        yield TurnStarted(conversation_id, user.id, answer.id)
        yield Routed(model=MODEL, kind="routed", reason="test", decision=decision_for(MODEL))
        text = f"Echo: {prompt}"
        yield Delta(text)
        record = TurnRecord(conversation_id=conversation_id, message_id=answer.id, model=MODEL, provider="openai",
                            route_kind="routed", cache_status="miss", input_tokens=5, output_tokens=5, cost_usd=0.0)
        store.finish_turn(answer.id, text, "complete", record)
        yield TurnFinished(record=record, text=text)


def text_at(index: int) -> str:
    """The text of the index-th message of a seed_long conversation."""
    return f"question {index // 2}" if index % 2 == 0 else ANSWER.format(index // 2)


def chat_of(app: ChatrouteApp) -> ChatView:
    return app.screen.query_one(ChatView)


def texts(app: ChatrouteApp) -> list[str]:
    return [w.text for w in chat_of(app).query(MessageWidget)]


def in_view(chat: ChatView, widget: MessageWidget) -> bool:
    return bool(widget.region) and chat.region.overlaps(widget.region)


async def frame(app: ChatrouteApp) -> None:
    done = asyncio.Event()
    app.call_after_refresh(done.set)
    await done.wait()


async def press(pilot: Pilot, *keys: str) -> None:
    """Each key, then its loads and two frames (the layout, then the scroll that keeps the
    reader's place). Faster than pilot.pause(), which waits for an idle CPU."""
    app = pilot.app
    for key in keys:
        await pilot.press(key)
        await app.workers.wait_for_complete()
        await frame(app)
        await frame(app)


async def test_long_conversation_opens_at_the_latest_and_pages_older_ones_in(chatroute_home: Path) -> None:
    turns = 2_000
    store = Store.open(chatroute_home / "chatroute.db")
    cid = seed_long(store, turns)
    app = ChatrouteApp(FakeEngine(store))  # type: ignore[arg-type]
    async with app.run_test(size=SIZE) as pilot:
        app.animation_level = "none"  # scroll jumps: the test checks positions, not a glide
        await settle(pilot, app)
        chat = chat_of(app)
        assert app.screen.conversation_id == cid
        mounted = list(chat.query(MessageWidget))
        n = 2 * turns
        # Only the tail is mounted, the newest message last and in the viewport, with its badge.
        assert [w.text for w in mounted] == [text_at(i) for i in range(n - ChatView.OPENING, n)]
        assert chat.scroll_y == chat.max_scroll_y and in_view(chat, mounted[-1])
        assert isinstance(mounted[-1], AssistantMessage) and badge(mounted[-1]).startswith("gpt-4o-mini")
        earlier = chat.query_one(LoadEarlier)
        assert earlier.display and f"{n - ChatView.OPENING:,} earlier" in str(earlier.render())

        # A message takes focus (shift+tab from the composer); Home scrolls to the top of what is
        # mounted, which loads the previous batch and keeps the reader's place.
        await press(pilot, "shift+tab")
        assert app.focused is mounted[-1]
        await press(pilot, "home")
        first = n - ChatView.OPENING - ChatView.BATCH
        assert texts(app) == [text_at(i) for i in range(first, n)]
        assert in_view(chat, mounted[0]) and chat.scroll_y > 0

        # Keep going: older batches come in, the newest go out (at most WINDOW mounted).
        steps = (ChatView.WINDOW - ChatView.OPENING) // ChatView.BATCH + 2
        await press(pilot, *["home"] * (steps - 1))
        first = n - ChatView.OPENING - steps * ChatView.BATCH
        assert texts(app) == [text_at(i) for i in range(first, first + ChatView.WINDOW)]
        later = chat.query_one(LoadLater)
        assert later.display and f"{n - first - ChatView.WINDOW:,} later" in str(later.render())

        # ctrl+home: the very first message; End: back to the newest.
        await press(pilot, "ctrl+home")
        assert texts(app) == [text_at(i) for i in range(ChatView.OPENING)] and chat.scroll_y == 0
        assert not earlier.display and later.display
        await press(pilot, "end")
        assert texts(app) == [text_at(i) for i in range(n - ChatView.OPENING, n)]
        assert chat.scroll_y == chat.max_scroll_y and not later.display
    store.close()


async def test_sending_far_up_a_long_conversation_jumps_to_the_latest(chatroute_home: Path) -> None:
    turns = 200
    store = Store.open(chatroute_home / "chatroute.db")
    cid = seed_long(store, turns)
    app = ChatrouteApp(StoreEngine(store))  # type: ignore[arg-type]
    async with app.run_test(size=SIZE) as pilot:
        app.animation_level = "none"
        await settle(pilot, app)
        away = (ChatView.WINDOW - ChatView.OPENING) // ChatView.BATCH + 1  # Home presses to trim the tail
        await press(pilot, "shift+tab", *["home"] * away)
        assert ANSWER.format(turns - 1) not in texts(app)  # the newest went out of the window

        await type_and_send(pilot, "a new question")
        now = texts(app)
        assert now[-3:] == [ANSWER.format(turns - 1), "a new question", "Echo: a new question"]
        chat = chat_of(app)
        assert in_view(chat, chat.query(MessageWidget).last())

        # The new messages join the window once it moves past them, and come back with End.
        await press(pilot, "shift+tab", *["home"] * away)
        assert "a new question" not in texts(app)
        await press(pilot, "end")
        assert texts(app)[-3:] == [ANSWER.format(turns - 1), "a new question", "Echo: a new question"]
        assert [m.content for m in store.history(cid)][-2:] == ["a new question", "Echo: a new question"]
    store.close()


async def test_moving_between_messages_does_not_pile_up_footer_keys(chatroute_home: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Every focus change rebuilds the footer's keys; the old ones must be freed (Textual's
    Footer kept them all alive: memory and garbage-collection pauses grew with each move)."""
    import gc
    import weakref

    from textual.widgets._footer import FooterKey

    store = Store.open(chatroute_home / "chatroute.db")
    seed_long(store, 12)
    app = ChatrouteApp(FakeEngine(store))  # type: ignore[arg-type]
    async with app.run_test(size=SIZE) as pilot:
        app.animation_level = "none"
        await settle(pilot, app)
        # Only the keys the moves make count, held weakly as they are made: other tests in the
        # same process may leave theirs behind, and scanning gc.get_objects() for them took
        # seconds in a process that had run many tests.
        made: weakref.WeakSet[FooterKey] = weakref.WeakSet()
        init = FooterKey.__init__

        def kept(key: FooterKey, *args: Any, **kw: Any) -> None:
            init(key, *args, **kw)
            made.add(key)

        monkeypatch.setattr(FooterKey, "__init__", kept)
        await press(pilot, "shift+tab", *["up", "down"] * 4)  # 9 focus changes (Textual: ~13 keys leaked each)
        assert isinstance(app.focused, MessageWidget)
        gc.collect()
        dead = [o for o in made if not o.is_attached]
        assert len(dead) < 20, f"{len(dead)} footer keys of old footers still alive"
    store.close()


async def test_long_answers_open_a_few_at_a_time(chatroute_home: Path) -> None:
    """A conversation of long answers opens with no more text mounted than ChatView.MOUNT_CHARS
    (past the newest message), not OPENING of them (ten 24 KB answers took 3 s to open, the
    app frozen), and each Home brings in older ones within the same bound."""
    store = Store.open(chatroute_home / "chatroute.db")
    conv = store.create_conversation(title="Long answers")
    long_answer = "A paragraph of a long answer, **bold** and `code`.\n\n" * 500  # 26 KB
    parent = None
    for i in range(12):
        user = store.add_message(conv.id, "user", f"question {i}", parent_id=parent)
        parent = store.add_message(conv.id, "assistant", f"answer {i}\n\n{long_answer}", parent_id=user.id,
                                   model=MODEL).id
    app = ChatrouteApp(FakeEngine(store))  # type: ignore[arg-type]
    async with app.run_test(size=SIZE) as pilot:
        app.animation_level = "none"
        await settle(pilot, app)
        chat = chat_of(app)
        shown = texts(app)
        assert shown[-1].startswith("answer 11") and len(shown) < ChatView.OPENING
        assert sum(map(len, shown[1:])) <= ChatView.MOUNT_CHARS
        assert chat.query_one(LoadEarlier).display
        await press(pilot, "shift+tab", "home")
        more = texts(app)
        assert len(more) > len(shown) and more[-len(shown):] == shown
        assert sum(map(len, more[: len(more) - len(shown)][1:])) <= ChatView.MOUNT_CHARS


async def test_jumping_and_paging_while_an_answer_streams_keeps_it_on_screen(
        real_engine: Any, fake_server: Any) -> None:
    """In a conversation longer than the window, Ctrl+Home while an answer streamed re-showed the
    window from the first message and unmounted the answer, and End brought back the branch as
    it was read when the conversation opened: the question just asked and its answer were gone
    from the screen (streaming on, billed, out of sight) until the conversation was reopened,
    also once it had finished. Paging up (Home) far enough trimmed the streaming answer the
    same way. Now Ctrl+Home is refused while the answer streams, as the other keys that would
    re-show the chat are; paging up never trims it; and once it is stored, Ctrl+Home then End
    show it. Real engine and store, official SDKs, the fake provider."""
    from tests.fakeserver import Reply as Streamed

    seed_long(real_engine.store, 40)
    fake_server.script("gpt-4o", Streamed(endless=True, tokens_per_s=10, input_tokens=30))
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        app.animation_level = "none"
        await settle(pilot, app)
        chat = chat_of(app)
        composer = app.screen.query_one("#composer")
        composer.insert("@gpt-4o the newest question")  # type: ignore[attr-defined]
        composer.action_submit()  # type: ignore[attr-defined]  # pilot.press("enter") would wait for the answer
        for _ in range(1000):
            await asyncio.sleep(0.01)
            live = chat.query(AssistantMessage).last()
            if live.status == "streaming" and live.text:
                break
        assert live.status == "streaming"
        live.focus()

        async def key(name: str) -> None:  # press() waits for every worker, the answer's too
            await pilot.press(name)
            for _ in range(100):
                await frame(app)
                if not chat._loading:
                    break
            await frame(app)

        await key("ctrl+home")
        assert live.is_attached and live.status == "streaming"
        notes = [str(n.message) for n in app._notifications]
        assert any("Stop the answer first (Esc)" in n for n in notes), notes
        for _ in range((ChatView.WINDOW - ChatView.OPENING) // ChatView.BATCH + 2):
            await key("home")
        assert live.is_attached  # paged far up: the window keeps the answer being written
        await key("end")
        assert live.is_attached and live.status == "streaming" and texts(app)[-2] == "the newest question"
        await pilot.press("escape")
        await settle(pilot, app)
        assert live.status == "interrupted" and live.text and badge(live).startswith("gpt-4o (override)")

        live.focus()
        await key("ctrl+home")
        assert texts(app)[0] == text_at(0)
        await key("end")
        assert texts(app)[-2:] == ["the newest question", live.text]


async def test_the_first_message_and_back_shows_what_was_sent_since_opening(real_engine: Any,
                                                                            fake_server: Any) -> None:
    """Ctrl+Home then End re-showed the branch as read when the conversation opened: a turn
    sent since was missing at the bottom until the conversation was reopened."""
    from tests.fakeserver import Reply as Streamed

    seed_long(real_engine.store, 40)
    fake_server.script("gpt-4o", Streamed(text="Lisbon, in May.", input_tokens=30, output_tokens=5))
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        app.animation_level = "none"
        await settle(pilot, app)
        await type_and_send(pilot, "@gpt-4o when to visit Lisbon?")
        assert texts(app)[-2:] == ["when to visit Lisbon?", "Lisbon, in May."]
        await press(pilot, "shift+tab", "ctrl+home")
        assert texts(app)[0] == text_at(0)
        await press(pilot, "end")
        assert texts(app)[-2:] == ["when to visit Lisbon?", "Lisbon, in May."]
