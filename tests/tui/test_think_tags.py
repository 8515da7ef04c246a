"""Thinking a model streams inside its text as `<think>…</think>` (Qwen3 or a DeepSeek-R1
distill on a server that does not split it off), in the TUI with the real engine: the chat
shows the answer alone, streamed and reopened, and c copies it alone."""

from __future__ import annotations

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from tests.fakeserver import FakeServer, Reply
from tests.tui.helpers import assistants, settle, type_and_send

THOUGHT = "The user wants the capital of France, which is Paris."


def shown(app: ChatrouteApp) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def test_the_chat_shows_the_answer_without_its_think_block(real_engine: Engine,
                                                                 fake_server: FakeServer) -> None:
    """Before, the chat showed the thought above the answer, and c copied both."""
    fake_server.script("gpt-4o", Reply(text="Paris is the capital.", reasoning=THOUGHT, think_tags=True))
    async with ChatrouteApp(real_engine).run_test(size=(100, 30)) as pilot:
        await type_and_send(pilot, "@gpt-4o What is the capital of France?")
        [msg] = assistants(pilot.app)
        assert msg.text == "Paris is the capital."  # what c copies
        screen = shown(pilot.app)
        assert "Paris is the capital." in screen and "wants the capital" not in screen, screen
    async with ChatrouteApp(real_engine).run_test(size=(100, 30)) as pilot:
        await settle(pilot, pilot.app)
        screen = shown(pilot.app)
        assert "Paris is the capital." in screen and "wants the capital" not in screen, screen
