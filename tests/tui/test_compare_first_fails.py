"""Compare closed with Esc when the first model failed: the conversation goes on from an answer,
not from the failure. Real engine and store, official SDKs, the fake provider."""

from __future__ import annotations

from textual.widgets import Static

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.screens.compare import CompareColumn, CompareScreen
from tests.fakeserver import FakeServer, Fault, Reply
from tests.tui.helpers import assistants, compare_composer_text, settle, type_and_send, until

MODELS = ["openai/gpt-4o-mini", "openai/gpt-4o"]


async def test_esc_after_a_failed_first_answer_keeps_the_one_that_answered(
        real_engine: Engine, fake_server: FakeServer) -> None:
    """gpt-4o-mini was rate limited, gpt-4o answered, Esc: the chat showed the failed answer 1 and
    said 'answer 1 stays'; the next question was sent with no history at all (a question whose
    answer has no text is left out), the compared question and gpt-4o's answer dropped."""
    fake_server.script("gpt-4o-mini", Fault(status=429))
    fake_server.script("gpt-4o", Reply(text="Lisbon is the capital.", chunk_words=False))
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await compare_composer_text(pilot, app, "Capital of Portugal?", MODELS)
        await until(pilot, lambda: all(c.settled for c in screen.query(CompareColumn)), "both answers to end")
        await pilot.pause()
        assert "esc closes, keeping answer 2" in str(screen.query_one("#pick-hint", Static).render())
        await pilot.press("escape")
        await settle(pilot, app)
        assert not isinstance(app.screen, CompareScreen)
        notes = [str(n.message) for n in app._notifications]
        assert any(n.startswith("Compare closed: answer 2 stays") for n in notes), notes
        assert assistants(app)[-1].text == "Lisbon is the capital."
        fake_server.script("gpt-4o", Reply(text="About 545,000."))
        await type_and_send(pilot, "@gpt-4o And its population?")
    assert [(m["role"], m["content"]) for m in fake_server.requests[-1].messages] == [
        ("user", "Capital of Portugal?"), ("assistant", "Lisbon is the capital."), ("user", "And its population?")]
