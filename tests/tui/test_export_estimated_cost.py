"""Ctrl+E on a conversation with an answer stopped mid-stream: the export's line under it marks
its cost as estimated, as the chat's badge and the export's total do. Real engine and store,
official SDKs, the fake provider."""

from __future__ import annotations

from pathlib import Path

from chatroute.engine import Engine
from chatroute.money import usd
from chatroute.tui.app import ChatrouteApp
from tests.fakeserver import FakeServer, Reply
from tests.tui.helpers import assistants, badge, settle, until


async def test_a_stopped_answers_line_marks_its_estimated_cost(real_engine: Engine, fake_server: FakeServer,
                                                                chatroute_home: Path) -> None:
    """An answer stopped with Esc is priced from estimated usage: the chat's badge reads '≈$…', and
    the export's total '≈$…', but the export's line under the answer gave the same cost flat
    ('openai/gpt-4o-mini · $0.00046 · … · ≈14 in / ≈765 out · interrupted')."""
    fake_server.script("gpt-4o-mini", Reply(endless=True, tokens_per_s=20))
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=(120, 40)) as pilot:
        composer = app.screen.query_one("#composer")
        composer.focus()
        composer.insert("@gpt-4o-mini Tell me everything")  # type: ignore[attr-defined]
        await pilot.press("enter")
        await until(pilot, lambda: len(assistants(app)) == 1 and len(assistants(app)[0].text) > 40, "the answer")
        await pilot.press("escape")
        await settle(pilot, app)
        [turn] = real_engine.store.turns(app.screen.conversation_id)
        assert turn.usage_estimated and turn.cost_usd
        assert f"≈{usd(turn.cost_usd)}" in badge(assistants(app)[0])
        await pilot.press("ctrl+e")
        await settle(pilot, app)
        await until(pilot, lambda: any("Exported to" in str(n.message) for n in app._notifications), "the export")
    [md] = (chatroute_home / "exports").glob("*.md")
    assert f"<sub>openai/gpt-4o-mini · ≈{usd(turn.cost_usd)} · ttft " in md.read_text(encoding="utf-8")
