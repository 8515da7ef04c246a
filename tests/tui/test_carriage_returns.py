"""An answer or a prompt whose lines end in a lone carriage return (classic Mac line ends, some
Windows tools) is shown line by line in the chat, streamed and reopened, and copied so."""

from __future__ import annotations

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from tests.fakeserver import FakeServer, Reply
from tests.tui.helpers import assistants, settle, type_and_send

ANSWER = "First line\rSecond line\r\rThird paragraph\r\nFourth"
LINES = ("First line", "Second line", "Third paragraph", "Fourth", "Ask about line one", "and line two")


def shown_lines(app: ChatrouteApp) -> list[str]:
    # the chat's side of each line (the sidebar, when shown, is left of its ▕ edge)
    return [strip.text.split("▕")[-1].strip(" █│") for strip in app.screen._compositor.render_strips()]


def missing(app: ChatrouteApp) -> list[str]:
    lines = shown_lines(app)
    return [line for line in LINES if line not in lines]


async def test_lone_carriage_returns_end_lines_in_the_chat(real_engine: Engine, fake_server: FakeServer) -> None:
    fake_server.script("gpt-4o", Reply(text=ANSWER))
    async with ChatrouteApp(real_engine).run_test(size=(100, 30)) as pilot:
        await type_and_send(pilot, "@gpt-4o Ask about line one\rand line two")
        assert missing(pilot.app) == [], shown_lines(pilot.app)
        [msg] = assistants(pilot.app)
        assert msg.text == "First line\nSecond line\n\nThird paragraph\nFourth"  # what c copies
    async with ChatrouteApp(real_engine).run_test(size=(100, 30)) as pilot:
        await settle(pilot, pilot.app)
        assert missing(pilot.app) == [], shown_lines(pilot.app)
