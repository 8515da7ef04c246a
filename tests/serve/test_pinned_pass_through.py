"""A pinned (pass-through) served request goes to its model without the pool being weighed: no
other model may answer it, so their predicted quality and the budget state are not computed
before its first token."""

from __future__ import annotations

from contextlib import aclosing
from typing import Any

import pytest

from chatroute.engine import Engine
from chatroute.serve.turns import serve_turn
from chatroute.serve.wire import build_request
from chatroute.turn_events import Routed, TurnFinished
from tests.engine.helpers import configured as configured  # the fixture
from tests.fakeserver import FakeServer, Reply


def _body(model: str) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "say hello to the pass-through"}]}


async def _serve(engine: Engine, model: str, pinned: str | None) -> list[Any]:
    req = build_request(_body(model), model, pinned=pinned)
    async with aclosing(serve_turn(engine, req, "tester")) as events:
        return [e async for e in events]


async def test_a_pinned_request_is_not_weighed_against_the_pool(configured: FakeServer,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    configured.script(Reply(text="hello"), Reply(text="hello again"))
    engine = Engine.open()
    try:
        weighed: list[int] = []
        predict = engine.router.quality_model.predict
        monkeypatch.setattr(engine.router.quality_model, "predict",
                            lambda feats, models: weighed.append(len(models)) or predict(feats, models))
        events = await _serve(engine, "openai/gpt-4o-mini", "openai/gpt-4o-mini")
        routed = next(e for e in events if isinstance(e, Routed))
        assert routed.model == "openai/gpt-4o-mini" and routed.kind == "pinned"
        assert weighed == []  # no model's quality was predicted
        assert [c["model"] for c in routed.decision["candidates"]] == ["openai/gpt-4o-mini"]
        finished = events[-1]
        assert isinstance(finished, TurnFinished) and finished.record.model == "openai/gpt-4o-mini"

        events = await _serve(engine, "chatroute/auto", None)  # a routed one still weighs the pool
        routed = next(e for e in events if isinstance(e, Routed))
        assert routed.kind == "routed" and weighed and weighed[0] >= 1
    finally:
        await engine.aclose()
        engine.store.close()
