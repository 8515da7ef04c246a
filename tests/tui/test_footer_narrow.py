"""The chat's footer at 80 columns. Before, F1 Help came seventh and was cut; then, first, but
the keys after Search were cut mid-word ("^f S") and the product's own keys, Compare and Costs,
never showed below about 110 columns. Now the footer closes up its spacing and leaves out whole
keys, least important first. Real engine and store, the fake provider."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets._footer import FooterKey

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from tests.fakeserver import FakeServer
from tests.tui.helpers import settle, until
from tests.tui.test_modal_footers import bottom_line


def drawn_keys(pilot: Pilot) -> list[str]:
    """The keys left of the command palette's, as drawn, each as "key description"; fails on a
    key drawn in part."""
    line = bottom_line(pilot)
    left = line.split("▏")[0]
    shown = {f"{k.key_display} {k.description}" for k in pilot.app.screen.query(FooterKey)}
    words = left.split()
    keys: list[str] = []
    while words:
        match = next((k for k in shown if words[:len(k.split())] == k.split()), None)
        assert match is not None, f"a key cut in {line!r}"
        keys.append(match)
        words = words[len(match.split()):]
    return keys


async def test_the_chat_footer_shows_whole_keys_most_important_first(
        real_engine: Engine, fake_server: FakeServer) -> None:
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await until(pilot, lambda: "Send" in bottom_line(pilot), "the chat's keys in the footer")
        keys = drawn_keys(pilot)
        assert keys[:6] == ["f1 Help", "⏎ Send", "^j Newline", "^o Model", "f4 Compare", "f5 Costs"], keys
        assert "^p palette" in bottom_line(pilot)
        await pilot.press("f1")
        await until(pilot, lambda: type(app.screen).__name__ == "HelpScreen", "help, as the footer says")
        await pilot.press("escape")
        await settle(pilot, app)

        await pilot.resize_terminal(130, 24)
        await until(pilot, lambda: "Export" in bottom_line(pilot), "every key at 130 columns")
        assert len(drawn_keys(pilot)) == 10, bottom_line(pilot)
        await pilot.resize_terminal(60, 24)
        await until(pilot, lambda: "Costs" not in bottom_line(pilot), "the footer refitted to 60 columns")
        assert drawn_keys(pilot)[0] == "f1 Help"


async def test_every_screens_footer_shows_whole_keys_at_40_columns(real_engine: Engine,
                                                                   fake_server: FakeServer) -> None:
    """Only the chat's footer fitted its keys: at 40 columns the costs screen drew "f1 He", compare
    and the model picker "p Pin for conversa". Every screen's footer now leaves out whole keys."""
    from tests.tui.helpers import type_and_send

    app = ChatrouteApp(real_engine)
    async with app.run_test(size=(40, 24)) as pilot:
        await type_and_send(pilot, "Name a river.")  # a conversation to rename, a turn to cost
        for key, screen in (("f5", "CostsScreen"), ("f4", "CompareScreen"), ("ctrl+o", "ModelPicker"),
                            ("f1", "HelpScreen"), ("f2", "PromptScreen")):
            await pilot.press(key)
            await until(pilot, lambda expected=screen: type(app.screen).__name__ == expected, screen)
            await until(pilot, lambda: bool(bottom_line(pilot).strip()), f"{screen}'s footer")
            await pilot.pause()
            keys = drawn_keys(pilot)  # fails on a key drawn in part
            assert keys, (screen, bottom_line(pilot))
            await pilot.press("escape")
            await until(pilot, lambda: type(app.screen).__name__ == "ChatScreen", "back to the chat")
