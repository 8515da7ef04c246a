"""On an 80-column terminal the chat's footer is cut after about seven keys. Before, F1 Help came
seventh, after Export, Send, Newline, New chat, Model and Search, and was cut: a user at 80x24
saw no way to the list of keys. Real engine and store, the fake provider."""

from __future__ import annotations

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from tests.fakeserver import FakeServer
from tests.tui.helpers import settle, until
from tests.tui.test_modal_footers import bottom_line


async def test_f1_help_is_the_first_key_in_the_chat_footer_at_80_columns(
        real_engine: Engine, fake_server: FakeServer) -> None:
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await until(pilot, lambda: "Send" in bottom_line(pilot), "the chat's keys in the footer")
        line = bottom_line(pilot)
        assert line.split()[:2] == ["f1", "Help"], line
        assert "Export" in line and "New chat" in line, line  # the others follow, as before
        await pilot.press("f1")
        await until(pilot, lambda: type(app.screen).__name__ == "HelpScreen", "help, as the footer says")
