"""The TUI over the real core: Engine, Store, router, cache and the official SDKs against the
fake provider server. No fakes between the keyboard and the HTTP wire."""

from __future__ import annotations



from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from tests.fakeserver import Fault, FakeServer, Reply
from tests.tui.helpers import assistants, badge, settle, type_and_send

SIZE = (120, 40)


async def test_send_streams_and_badges_through_the_real_stack(real_engine: Engine, fake_server: FakeServer) -> None:
    fake_server.script("gpt-4o", Reply(text="Lisbon is the **capital** of Portugal.", input_tokens=30,
                                       output_tokens=9))
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "@gpt-4o What is the capital of Portugal?")
        [msg] = assistants(app)
        assert "Lisbon is the **capital** of Portugal." in msg.text
        line = badge(msg)
        assert line.startswith("gpt-4o (override) ·") and "$" in line and "ttft" in line
    assert fake_server.requests[-1].messages[-1]["content"] == "What is the capital of Portugal?"
    [conv] = real_engine.store.list_conversations()
    [turn] = real_engine.store.turns(conv.id)
    assert turn.model == "openai/gpt-4o" and turn.route_kind == "override" and turn.cost_usd


async def test_routed_turn_reroute_is_shown_inline(real_engine: Engine, fake_server: FakeServer) -> None:
    prompt = "Give me three tips for writing clear commit messages."
    first = real_engine.route(prompt)["model"]
    fake_server.script(first.split("/", 1)[1], Fault(status=503, retry_after=5))
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, prompt)
        await settle(pilot, app)
        [msg] = assistants(app)
        rendered = " ".join(str(w.render()) for w in msg.query("Static"))
        assert "503 →" in rendered
        assert msg.text  # the fallback model answered


async def test_unknown_at_model_keeps_the_prompt_in_the_composer(real_engine: Engine, fake_server: FakeServer) -> None:
    from chatroute.tui.widgets.composer import Composer

    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "@gtp-4o what is a monad?")  # a typo
        await settle(pilot, app)
        assert assistants(app) == []  # nothing sent, nothing stored
        assert app.screen.query_one(Composer).text == "@gtp-4o what is a monad?"
        notes = [str(n.message) for n in app._notifications]
        assert any("Not sent" in n and "gtp-4o" in n for n in notes), notes
    assert fake_server.requests == []
    assert real_engine.store.list_conversations() == []
