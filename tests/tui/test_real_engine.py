"""The TUI over the real core: Engine, Store, router, cache and the official SDKs against the
fake provider server. No fakes between the keyboard and the HTTP wire."""

from __future__ import annotations

import asyncio

import pytest

from chatroute.engine import Engine
from chatroute.money import usd
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.widgets.badge import Badge
from chatroute.tui.widgets.message import AssistantMessage
from tests.fakeserver import FakeServer, Fault, Reply
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


async def test_a_routed_answer_says_why_inline(real_engine: Engine, fake_server: FakeServer) -> None:
    """Which model answered, why, what it cost and how long it took, on the line under the
    answer; the why is the decision's own, and an override (the user's why) has none."""
    prompt = "Give me three tips for writing clear commit messages."
    decided = real_engine.route(prompt)
    assert decided["kind"] == "routed" and decided["why"].startswith(("quality ", "highest quality "))
    fake_server.script(decided["model"].split("/", 1)[1], Reply(text="Say what changed and why.",
                                                                  input_tokens=20, output_tokens=6))
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=(200, 40)) as pilot:
        await type_and_send(pilot, prompt)
        await settle(pilot, app)
        await type_and_send(pilot, "@gpt-4o and one more?")
        await settle(pilot, app)
        routed, overridden = assistants(app)
        assert badge(routed).startswith(f"{decided['model'].split('/', 1)[1]} · why: {decided['why']} · $")
        assert "why:" not in badge(overridden)
        # Narrow: the why gives way before the cost and the time to first token.
        narrow = routed.query_one(Badge).fitted(60)
        assert "why:" not in narrow and "$" in narrow and "ttft" in narrow
    async with ChatrouteApp(real_engine).run_test(size=(200, 40)) as pilot:  # reopened from the store
        await settle(pilot, pilot.app)
        routed, _ = assistants(pilot.app)
        assert f" · why: {decided['why']} · $" in badge(routed)


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



@pytest.mark.parametrize("stopped_in", ["provider read", "screen update"])
async def test_esc_mid_stream_badges_the_estimated_cost_at_once(stopped_in: str, real_engine: Engine,
                                                                fake_server: FakeServer,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine saves an interrupted turn with an estimated cost when Esc stops it; the badge
    must show that record straight away, exactly as reopening the conversation shows it. Esc
    lands either while the engine waits for the provider or while the screen takes a fragment
    (the engine's stream then sits at a yield and saves the turn only once it is closed)."""
    if stopped_in == "screen update":
        write = AssistantMessage.write

        async def write_then_stall(self: AssistantMessage, fragment: str) -> None:
            await write(self, fragment)
            if len(self.text) > 40:
                await asyncio.Event().wait()  # held here until Esc cancels the turn

        monkeypatch.setattr(AssistantMessage, "write", write_then_stall)
    fake_server.script("gpt-4o", Reply(endless=True, tokens_per_s=200))
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        composer = app.screen.query_one("#composer")
        composer.insert("@gpt-4o Tell me everything about lighthouses.")
        composer.action_submit()  # pilot.press("enter") would wait for an endless stream
        for _ in range(500):
            await asyncio.sleep(0.01)
            msgs = assistants(app)
            if msgs and msgs[0].status == "streaming" and len(msgs[0].text) > 40:
                break
        assert assistants(app)[0].status == "streaming"
        await pilot.press("escape")
        await settle(pilot, app)
        [msg] = assistants(app)
        shown = badge(msg)
        conversation_id = app.screen.conversation_id
    [turn] = real_engine.store.turns(conversation_id)
    assert turn.status == "interrupted" and turn.usage_estimated and turn.cost_usd
    assert shown.startswith(f"gpt-4o (override) · ≈{usd(turn.cost_usd)} · ")
    assert shown.endswith("⚠ interrupted")

    reopened = ChatrouteApp(real_engine)
    async with reopened.run_test(size=SIZE) as pilot:
        await settle(pilot, reopened)
        assert reopened.screen.conversation_id == conversation_id
        [again] = assistants(reopened)
        assert badge(again) == shown
        assert again.text == msg.text


async def test_a_regeneration_stopped_mid_stream_shows_its_position(real_engine: Engine,
                                                                   fake_server: FakeServer) -> None:
    """Both answers are billed: the stopped one says at once that the first is one key away."""
    fake_server.script("gpt-4o", Reply(text="First answer.", input_tokens=20, output_tokens=4))
    fake_server.script("gpt-4o", Reply(text=" ".join(["second"] * 2000), tokens_per_s=20))
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "@gpt-4o hello")
        assistants(app)[0].focus()
        await pilot.press("g")
        for _ in range(500):
            await asyncio.sleep(0.01)
            if assistants(app)[-1].status == "streaming" and len(assistants(app)[-1].text) > 40:
                break
        await pilot.press("ctrl+c")
        await settle(pilot, app)
        [stopped] = assistants(app)
        assert stopped.status == "interrupted"
        assert "‹2/2›" in badge(stopped)


async def test_a_prompt_with_no_model_to_go_to_stays_in_the_composer(chatroute_home: object) -> None:
    """No keys and no config: nothing would be stored, so the prompt must not leave the composer."""
    from chatroute.tui.widgets.composer import Composer

    engine = Engine.open()
    app = ChatrouteApp(engine)
    prompt = "A long carefully written prompt that must not be lost"
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        await type_and_send(pilot, prompt)
        await settle(pilot, app)
        assert app.screen.query_one(Composer).text == prompt
        assert not assistants(app)
        assert any("Not sent: no models to use" in str(n.message) for n in app._notifications)
    assert engine.store.list_conversations() == []


async def test_an_at_model_prompt_shows_as_it_is_stored(real_engine: Engine, fake_server: FakeServer) -> None:
    """`@gpt-4o hello` picks the model and is stored as "hello": shown so while it streams too,
    not only once the conversation is reopened."""
    from textual.widgets import Static

    from chatroute.tui.widgets.message import UserMessage

    fake_server.script("gpt-4o", Reply(text="hi there"))
    app = ChatrouteApp(real_engine, close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "@gpt-4o hello")
        [user] = list(app.screen.query(UserMessage))
        assert user.text == "hello"
        assert str(user.query_one(".user-text", Static).content) == "hello"
        assert "(override)" in badge(assistants(app)[-1])


async def test_a_chat_pinned_before_its_first_turn_is_titled_by_it(real_engine: Engine,
                                                                   fake_server: FakeServer) -> None:
    """Pinning a model on an empty new chat made the conversation there and then, untitled; the
    first turn then never titled it ("Untitled" in the sidebar and the store for good)."""
    from chatroute.tui.widgets.sidebar import ConversationList

    fake_server.script(Reply(text="Kilimanjaro."))
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+o", "down", "p")  # pin the pool's second model
        await settle(pilot, app)
        await type_and_send(pilot, "What is the tallest mountain in Africa?")
        await settle(pilot, app)
        [conv] = real_engine.store.list_conversations()
        assert conv.title == "What is the tallest mountain in Africa?" and conv.pinned_model
        listed = app.screen.query_one(ConversationList)
        titles = [str(listed.get_option_at_index(i).prompt) for i in range(listed.option_count)]
        assert "What is the tallest mountain in Africa?" in titles


async def test_a_narrow_chat_still_marks_an_estimated_cost(real_engine: Engine, fake_server: FakeServer) -> None:
    """A server that sends no usage: the turn's tokens and cost are estimated. A narrow chat
    leaves the token counts (the only ≈ on the badge) out, and the cost read as exact."""
    fake_server.script("gpt-4o", Reply(text="Lisbon.", omit_usage=True))
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=(40, 20)) as pilot:
        await type_and_send(pilot, "@gpt-4o What is the capital of Portugal?")
        await settle(pilot, app)
        [msg] = assistants(app)
        shown = str(msg.query_one(Badge).render())
        [turn] = real_engine.store.turns(app.screen.conversation_id)
    assert turn.usage_estimated and turn.cost_usd
    assert " tok" not in shown and f"≈{usd(turn.cost_usd)}" in shown, shown
