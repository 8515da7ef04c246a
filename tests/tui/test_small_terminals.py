"""Dialogs on a small terminal keep their key hint on screen: a long question (a conversation's
title is the user's own, of any length) or a long list clips its own text, never the line that
says which key answers."""

from __future__ import annotations

from textual.widgets import Static

from chatroute.tui.app import ChatrouteApp
from chatroute.tui.screens.dialogs import ConfirmScreen
from chatroute.tui.screens.models import ModelPicker
from tests.tui.fake_engine import FakeEngine, FakeStore, seed_conversation
from tests.tui.helpers import answer_question, settle


def _hint_on_screen(app: ChatrouteApp) -> str:
    screen = app.screen
    [hint] = screen.query(".hint").results(Static)
    region = hint.region
    assert region.height > 0 and screen.region.contains_region(region), (region, screen.region)
    # Not hidden under the dialog's edge either: its container shows all of it.
    assert hint.parent is not None and hint.parent.region.contains_region(region)
    return str(hint.render())


async def test_delete_question_with_a_long_title_keeps_its_answer_keys(engine: FakeEngine, store: FakeStore) -> None:
    conv = seed_conversation(store, "長いタイトル " * 80, [("hi", "hello")])
    app = ChatrouteApp(engine)
    for size in ((40, 15), (80, 24)):
        async with app.run_test(size=size) as pilot:
            await settle(pilot, app)
            app.screen.action_delete_current()
            await settle(pilot, app)
            assert isinstance(app.screen, ConfirmScreen)
            assert "yes" in _hint_on_screen(app)
            await answer_question(pilot, "n")
            await settle(pilot, app)
            assert not isinstance(app.screen, ConfirmScreen)
        app = ChatrouteApp(engine)
    assert store.get_conversation(conv.id) is not None


async def test_model_picker_keeps_its_keys_on_a_small_terminal(engine: FakeEngine) -> None:
    app = ChatrouteApp(engine)
    async with app.run_test(size=(40, 15)) as pilot:
        await settle(pilot, app)
        await pilot.press("ctrl+o")
        await settle(pilot, app)
        assert isinstance(app.screen, ModelPicker)
        assert "pin" in _hint_on_screen(app)
