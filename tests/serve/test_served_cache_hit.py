"""A served request answered from the cache: the answer is handed out before its ledger and cache
writes (they are not part of its time to first token), and a client gone right after the answer
still leaves the request in the ledger."""

from __future__ import annotations

from contextlib import aclosing

from chatroute.engine import Engine
from chatroute.serve.turns import serve_turn
from chatroute.serve.wire import build_request
from chatroute.turn_events import Delta, TurnFinished
from tests.engine.helpers import configured as configured  # the fixture
from tests.fakeserver import FakeServer, Reply

BODY = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "what is a cache key made of?"}],
        "stream": True}


def served_turns(engine: Engine) -> list:
    return [t for t in engine.store.recent_turns(100) if t.client == "tester"]


async def test_a_cache_hit_is_handed_out_before_it_is_written_and_recorded_when_the_client_leaves(
        configured: FakeServer) -> None:
    configured.script(Reply(text="the whole request"))
    engine = Engine.open()
    try:
        req = build_request(BODY, BODY["model"], pinned="openai/gpt-4o-mini")
        async with aclosing(serve_turn(engine, req, "tester")) as first:
            events = [e async for e in first]
        assert isinstance(events[-1], TurnFinished) and events[-1].record.cache_status == "miss"
        assert len(served_turns(engine)) == 1

        async with aclosing(serve_turn(engine, req, "tester")) as again:
            async for event in again:
                if isinstance(event, Delta):
                    assert event.text == "the whole request"
                    assert len(served_turns(engine)) == 1  # not written yet: the answer goes out first
                    break  # the client hangs up here; closing the events must still record it
        turns = served_turns(engine)
        assert len(turns) == 2
        hit = turns[0] if turns[0].cache_status == "hit" else turns[1]
        assert hit.cache_status == "hit" and hit.route_kind == "cache" and hit.cost_usd == 0.0
        assert len(configured.requests) == 1  # the provider was asked once
    finally:
        await engine.aclose()
        engine.store.close()


async def test_what_a_served_hit_saved_reaches_cache_stats(configured: FakeServer) -> None:
    """`cache stats` said $0.00 saved for hits served to other tools, while `costs` (the ledger)
    counted what each saved: the saving was worked out and then not passed to the cache's tally."""
    configured.script(Reply(text="the whole request", input_tokens=40, output_tokens=4))
    engine = Engine.open()
    try:
        req = build_request(BODY, BODY["model"], pinned="openai/gpt-4o-mini")
        for _ in range(2):
            async with aclosing(serve_turn(engine, req, "tester")) as events:
                [e async for e in events]
        [hit] = [t for t in served_turns(engine) if t.cache_status == "hit"]
        assert hit.saved_usd and hit.saved_usd > 0
        assert engine.cache.stats().saved_usd == hit.saved_usd
    finally:
        await engine.aclose()
        engine.store.close()


async def test_a_preset_named_by_the_client_is_part_of_the_cache_key(configured: FakeServer) -> None:
    """A client asking for chatroute/best was served the answer a chatroute/frugal request's
    router had picked a cheap model for. Each named preset keeps its own answers; chatroute/auto
    routes as the chat does and shares the chat's."""
    engine = Engine.open()

    async def ask(model: str) -> str:
        body = {"model": model, "messages": [{"role": "user", "content": "Explain how a B-tree stays balanced."}]}
        async with aclosing(serve_turn(engine, build_request(body, model, pinned=None), "tester")) as events:
            finished = [e async for e in events][-1]
        assert isinstance(finished, TurnFinished)
        return finished.record.cache_status

    try:
        assert await ask("chatroute/frugal") == "miss"
        assert await ask("chatroute/best") == "miss"
        assert len(configured.requests) == 2
        assert await ask("chatroute/best") == "hit" and await ask("chatroute/frugal") == "hit"
        assert await ask("chatroute/auto") == "miss"
        assert await ask("chatroute/auto") == "hit"
        assert len(configured.requests) == 3
    finally:
        await engine.aclose()
        engine.store.close()
