"""An answer stored before thinking in `<think>` tags was split off (803b49b) keeps the block in
its stored text: the chat shows it, and c copies it, without the block, as a new answer."""

from __future__ import annotations

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from tests.hardening.test_old_think_blocks import THOUGHT, old_conversation
from tests.tui.helpers import assistants, settle
from tests.tui.test_think_tags import shown


async def test_the_chat_shows_an_old_answer_without_its_think_block(real_engine: Engine) -> None:
    old_conversation(real_engine.store.path)
    async with ChatrouteApp(real_engine).run_test(size=(100, 30)) as pilot:
        await settle(pilot, pilot.app)
        [msg] = assistants(pilot.app)
        assert msg.text == "Paris."  # what c copies
        screen = shown(pilot.app)
        assert "Paris." in screen and THOUGHT not in screen and "think>" not in screen, screen
