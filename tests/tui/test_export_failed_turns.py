"""Ctrl+E on a conversation with a failed and a stopped answer: the Markdown says why each
ended, as the chat's line under it does. Real engine and store, official SDKs, the fake provider."""

from __future__ import annotations

from pathlib import Path

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from tests.fakeserver import FakeServer, Fault, Reply
from tests.tui.helpers import assistants, settle, type_and_send, until


async def test_the_export_says_why_an_answer_failed_or_stopped(real_engine: Engine, fake_server: FakeServer,
                                                                chatroute_home: Path) -> None:
    """The chat read '⚠ openai/gpt-4o-mini: rate limited (429): …' under the failed answer; the
    export read '_(no text)_' and '_(error)_', with no word of why."""
    fake_server.script("gpt-4o-mini", Fault(status=429))
    fake_server.script("gpt-4o-mini", Reply(endless=True, tokens_per_s=20))
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await type_and_send(pilot, "@gpt-4o-mini Say hi")
        [failed] = assistants(app)
        assert failed.error and "rate limited (429)" in failed.error
        composer = app.screen.query_one("#composer")
        composer.focus()
        composer.insert("@gpt-4o-mini Tell me everything")  # type: ignore[attr-defined]
        await pilot.press("enter")
        await until(pilot, lambda: len(assistants(app)) == 2 and len(assistants(app)[1].text) > 40, "the answer")
        await pilot.press("escape")
        await settle(pilot, app)
        await pilot.press("ctrl+e")
        await settle(pilot, app)
        await until(pilot, lambda: any("Exported to" in str(n.message) for n in app._notifications), "the export")
    [md] = (chatroute_home / "exports").glob("*.md")
    text = md.read_text(encoding="utf-8")
    assert f"_(error: {failed.error})_" in text, text
    assert "_(interrupted: openai/gpt-4o-mini: stopped before the reply was complete — partial reply kept)_" in text
