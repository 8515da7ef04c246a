"""Keys delivered faster than the app handles them (tmux send-keys, text expanders, dictation,
pastes without bracketed paste, slow SSH links): what is in the composer when Enter is handled,
all of it, is what gets sent, and nothing typed is dropped."""

from __future__ import annotations

from textual import events
from textual.keys import _character_to_key
from textual.pilot import Pilot
from textual.widgets import Input

from chatroute.tui.app import ChatrouteApp
from chatroute.tui.widgets.badge import WhyPanel
from chatroute.tui.widgets.composer import Composer
from tests.tui.fake_engine import FakeEngine, FakeStore, seed_conversation
from tests.tui.helpers import settle

SIZE = (120, 40)
SENTENCE = "The quick brown fox jumps over the lazy dog near the river bank."


async def burst(pilot: Pilot, text: str, *keys: str) -> None:
    """Every key of `text`, then `keys`, handed to the app at once, the way a terminal delivers
    them when they come faster than the app handles them. (`pilot.press` waits for the app to
    go idle after each key, which no terminal does.)"""
    app = pilot.app
    driver = app._driver
    assert driver is not None
    for ch in text:
        event = events.Key(_character_to_key(ch) if not ch.isalnum() else ch, ch)
        event.set_sender(app)
        driver.send_message(event)
    for key in keys:
        event = events.Key(key, "\r" if key == "enter" else None)
        event.set_sender(app)
        driver.send_message(event)


async def test_a_burst_of_keys_then_enter_sends_all_of_it(engine: FakeEngine) -> None:
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await burst(pilot, SENTENCE, "enter")
        await settle(pilot, app)
        assert [c["prompt"] for c in engine.calls] == [SENTENCE]
        assert app.screen.query_one(Composer).text == ""


async def test_keys_typed_right_after_enter_stay_in_the_composer(engine: FakeEngine) -> None:
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await burst(pilot, "first question", "enter")
        await burst(pilot, "next one")
        await settle(pilot, app)
        assert [c["prompt"] for c in engine.calls] == ["first question"]
        assert app.screen.query_one(Composer).text == "next one"


async def test_the_first_enter_of_a_first_run_sends(engine: FakeEngine) -> None:
    """No pause at all after start-up: the keys arrive while the first screen is mounting."""
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        app.screen.set_focus(None)  # as before the first screen's mount has focused the composer
        await burst(pilot, "hello there", "enter")
        await settle(pilot, app)
        assert [c["prompt"] for c in engine.calls] == ["hello there"]


# Keys that move focus (to a message, the search box, a dialog, back to the composer), followed in
# the same burst by the keys meant for where focus goes.

async def test_w_right_after_up_opens_the_why_panel(store: FakeStore) -> None:
    seed_conversation(store, "Trip", [("flights to Lisbon?", "TAP flies direct.")])
    app = ChatrouteApp(FakeEngine(store))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await burst(pilot, "", "up", "w")
        await settle(pilot, app)
        assert app.screen.query_one(Composer).text == ""
        assert len(app.screen.query(WhyPanel)) == 1


async def test_a_query_typed_right_after_ctrl_f_goes_to_the_search_box(engine: FakeEngine) -> None:
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await burst(pilot, "", "ctrl+f")
        await burst(pilot, "lisbon")
        await settle(pilot, app)
        assert app.screen.query_one("#search", Input).value == "lisbon"
        assert app.screen.query_one(Composer).text == ""


async def test_keys_right_after_esc_from_search_reach_the_composer(engine: FakeEngine) -> None:
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await burst(pilot, "", "ctrl+f")
        await burst(pilot, "lisbon", "escape")
        await burst(pilot, "next question")
        await settle(pilot, app)
        assert app.screen.query_one(Composer).text == "next question"


async def test_a_name_typed_right_after_f2_renames(store: FakeStore) -> None:
    seed_conversation(store, "Old name", [("x", "y")])
    engine = FakeEngine(store)
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await burst(pilot, "", "f2")
        await burst(pilot, "New name", "enter")
        await burst(pilot, "then this")
        await settle(pilot, app)
        assert store.list_conversations()[0].title == "New name"
        assert app.screen.query_one(Composer).text == "then this" and engine.calls == []


async def test_a_paste_right_after_ctrl_f_goes_to_the_search_box(engine: FakeEngine) -> None:
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await burst(pilot, "", "ctrl+f")
        paste = events.Paste("lisbon flights")
        paste.set_sender(app)
        assert app._driver is not None
        app._driver.send_message(paste)
        await burst(pilot, "!")
        await settle(pilot, app)
        assert app.screen.query_one("#search", Input).value == "lisbon flights!"
        assert app.screen.query_one(Composer).text == ""
