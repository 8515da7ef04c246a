"""The TUI over the real chatroute.store.Store (the engine stays scripted): checks the adapter in
chatroute/tui/data.py against the store's real objects and method signatures."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatroute.tui.app import ChatrouteApp
from chatroute.tui.widgets.badge import WhyPanel
from chatroute.tui.widgets.message import MessageWidget
from chatroute.tui.widgets.sidebar import SearchResults
from tests.tui.fake_engine import FAKE_WHY, FakeEngine, decision_for
from tests.tui.helpers import assistants, badge, settle, subtitle

store_mod = pytest.importorskip("chatroute.store")


def _seed(store):  # type: ignore[no-untyped-def]
    from chatroute.store.records import TurnRecord

    conv = store.create_conversation(title="Real store chat")
    u = store.add_message(conv.id, "user", "What is a monad?")
    first = store.add_message(conv.id, "assistant", "A monoid in the category of endofunctors.", parent_id=u.id,
                              model="openai/gpt-4o-mini")
    second = store.add_message(conv.id, "assistant", "A **pattern** for chaining computations.", parent_id=u.id,
                               model="openai/gpt-4o")
    for msg, model, cost in ((first, "openai/gpt-4o-mini", 0.0004), (second, "openai/gpt-4o", 0.0071)):
        store.add_turn(TurnRecord(conversation_id=conv.id, message_id=msg.id, model=model, provider="openai",
                                  route_kind="routed", route=decision_for(model), cache_status="miss",
                                  input_tokens=100, output_tokens=200, cost_usd=cost, ttft_ms=300.0, total_ms=2000.0,
                                  tokens_per_s=100.0))
    store.set_active(second.id)
    return conv, first, second


async def test_tui_reads_the_real_store(chatroute_home: Path) -> None:
    store = store_mod.Store.open(chatroute_home / "chatroute.db")
    conv, first, second = _seed(store)
    app = ChatrouteApp(FakeEngine(store))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        assert app.screen.conversation_id == conv.id
        [msg] = assistants(app)
        assert msg.text == "A **pattern** for chaining computations."
        assert badge(msg) == (f"gpt-4o · why: {FAKE_WHY} · $0.0071 · ttft 300 ms · 2.0 s · 100 tok/s · 100→200 tok"
                              " · ‹2/2›")
        msg.focus()
        await pilot.press("w")
        await pilot.pause()
        assert msg.query(WhyPanel)  # the route came back through turn_for_message
        await pilot.press("w", "left_square_bracket")
        await settle(pilot, app)
        assert assistants(app)[0].text.startswith("A monoid")
        # pin
        await pilot.press("ctrl+o", "down", "p")
        await settle(pilot, app)
        assert store.get_conversation(conv.id).pinned_model == "openai/gpt-4o"
        assert "pinned: gpt-4o" in subtitle(app)
        # search
        await pilot.press("ctrl+f", *"endofunctor")
        await settle(pilot, app)
        assert app.screen.query_one(SearchResults).option_count >= 1
        await pilot.press("enter", "enter")
        await settle(pilot, app)
        assert isinstance(app.focused, MessageWidget) and "endofunctors" in app.focused.text
        # export
        await pilot.press("ctrl+e")
        await settle(pilot, app)
    exports = sorted(p.suffix for p in (chatroute_home / "exports").iterdir())
    assert exports == [".json", ".md"]
    store.close()
