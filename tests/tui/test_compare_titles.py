"""A compare as the first turn of a conversation made empty (a model pinned, or the answer cache
switched off, before anything was asked) titles it by its prompt, as a first turn does.

Before: it stayed untitled for good, "Untitled" in the sidebar, and the costs screen (F5) and
`chatroute costs --by conversation` named it by its hex id."""

from __future__ import annotations

from chatroute.engine import Engine
from chatroute.store import Store
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.widgets.sidebar import ConversationList
from tests.fakeserver import FakeServer, Reply
from tests.tui.helpers import compare_composer_text, run_palette_command, settle

SIZE = (120, 40)
MODELS = ["openai/gpt-4o-mini", "openai/gpt-4o"]


async def test_a_compare_first_in_an_empty_conversation_titles_it(real_engine: Engine,
                                                                  fake_server: FakeServer) -> None:
    fake_server.script("gpt-4o-mini", Reply(text="Mini says May."))
    fake_server.script("gpt-4o", Reply(text="Four-o says September."))
    app = ChatrouteApp(real_engine, close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        await run_palette_command(pilot, "answer cache")  # makes the conversation, with nothing asked yet
        cid = app.screen.conversation_id  # type: ignore[attr-defined]
        assert cid is not None and not real_engine.store.get_conversation(cid).title  # type: ignore[union-attr]
        await compare_composer_text(pilot, app, "When is the best time to visit Lisbon?", MODELS)
        await settle(pilot, app)
        await pilot.press("1")  # keep the first answer
        await settle(pilot, app)
        assert app.screen.conversation_id == cid  # type: ignore[attr-defined]
        listed = app.screen.query_one(ConversationList)
        label = str(listed.get_option(cid).prompt)
    with Store.open() as store:
        conv = store.get_conversation(cid)
        [row] = store.spend(by="conversation")
    assert conv is not None and conv.title == "When is the best time to visit Lisbon?"
    assert label == conv.title
    assert row.label == conv.title
