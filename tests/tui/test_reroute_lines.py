"""The reroute line above an answer says the same live and once the conversation is reopened,
the cost of an attempt billed before the reroute included. Real engine and store, official
SDKs, the fake provider."""

from __future__ import annotations

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from tests.fakeserver import Drop, FakeServer
from tests.tui.helpers import assistants, settle, type_and_send

SIZE = (120, 40)
THINKS_THEN_DROPS = Drop(after_chunks=0, reasoning="Let me think about this step by step. " * 60,
                         input_tokens=2000)


def reroute_text(app: ChatrouteApp) -> str:
    [answer] = assistants(app)
    return "\n".join(answer._reroutes)


async def test_a_billed_reroute_keeps_its_cost_when_reopened(real_engine: Engine, fake_server: FakeServer) -> None:
    prompt = "Prove there are infinitely many primes, carefully"
    picked = real_engine.route(prompt)["model"]
    fake_server.script(picked.split("/", 1)[1], THINKS_THEN_DROPS)
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, prompt)
        await settle(pilot, app)
        live = reroute_text(app)
        assert "(billed ≈$" in live, live
        conversation_id = app.screen.conversation_id
        await pilot.press("ctrl+n")
        await settle(pilot, app)
        await app.screen.open_conversation(conversation_id)
        await settle(pilot, app)
        assert reroute_text(app) == live
