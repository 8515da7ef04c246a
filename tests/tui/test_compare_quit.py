"""Quitting while compared answers stream: the question was asked (stored, billed by every model),
so it is not brought back at the next start as an unsent prompt; each answer is kept,
interrupted, and counted once. Real engine and store, official SDKs, the fake provider."""

from __future__ import annotations

import asyncio

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.widgets.composer import Composer
from tests.fakeserver import FakeServer, Reply
from tests.tui.helpers import assistants, compare_composer_text, settle

SIZE = (120, 40)
MODELS = ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"]
QUESTION = "When is the best time to visit Lisbon?"


async def test_quitting_mid_compare_does_not_bring_the_question_back_as_unsent(
        real_engine: Engine, fake_server: FakeServer) -> None:
    for model in ("gpt-4o-mini", "claude-haiku-4-5"):
        fake_server.script(model, Reply(endless=True, tokens_per_s=100, input_tokens=30))
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await compare_composer_text(pilot, app, QUESTION, MODELS)
        for _ in range(1000):  # both answers streaming
            await asyncio.sleep(0.01)
            if len(screen.columns) == 2 and all(len(c.text) > 20 for c in screen.columns):
                break
        assert all(c.status == "streaming" for c in screen.columns)
        await pilot.press("ctrl+q")
    store = real_engine.store
    [conv] = store.list_conversations()
    assert [(t.status, bool(t.cost_usd)) for t in store.turns(conv.id)] == [("interrupted", True)] * 2
    asked = [m for m in store.history(conv.id) if m.role == "user"]
    assert [m.content for m in asked] == [QUESTION]

    again = ChatrouteApp(real_engine)
    async with again.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, again)
        assert again.screen.query_one(Composer).text == ""  # asked already: not a draft to send again
        assert not any("unsent" in str(n.message) for n in again._notifications)
        [answer] = assistants(again)
        assert answer.status == "interrupted" and answer.text
