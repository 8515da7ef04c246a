"""Stickiness as a user meets it: a conversation stays on its model, and when a turn leaves it
the decision says so and why (the model is cooling down, gone from the pool, or another is
clearly better), in `route --json` and in what `ask` then does."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.engine.helpers import ask_json, run_cli, write_config
from tests.fakeserver import FakeServer, Fault

MINI, GPT4O, HAIKU = "openai/gpt-4o-mini", "openai/gpt-4o", "anthropic/claude-haiku-4-5"
HARD = ("Write a Python function that parses ISO dates and returns JSON with fields year, month, day. "
        "Handle time zones carefully and explain edge cases.")


def _route(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code, out, err = run_cli(capsys, "route", "--json", *args)
    assert code == 0, err
    return json.loads(out)


def _on_haiku(capsys: pytest.CaptureFixture[str]) -> str:
    code, first = ask_json(capsys, HARD)
    assert code == 0 and first["model"] == HAIKU, first["route"]
    kept = _route(capsys, "-c", first["conversation_id"], "thanks")
    assert kept["model"] == HAIKU and "kept as the conversation's model" in kept["why"]
    return str(first["conversation_id"])


def test_a_switch_off_a_cooling_model_says_so(capsys: pytest.CaptureFixture[str], configured: FakeServer) -> None:
    conv = _on_haiku(capsys)
    configured.script("claude-haiku-4-5", Fault(status=429, retry_after=120))
    code, _ = ask_json(capsys, "--no-cache", "-m", HAIKU, "Name a river in Europe.")  # another conversation
    assert code == 1
    decided = _route(capsys, "-c", conv, "thanks")
    assert decided["model"] != HAIKU
    assert "switched from claude-haiku-4-5: cooling down" in decided["reason"]
    assert "switched from claude-haiku-4-5" in decided["why"]
    # The why is the badge's few words: the provider's own message stays in the reason. It carried
    # the whole "... after rate_limited: Rate limit reached, please try again later." before.
    assert re.search(r"switched from claude-haiku-4-5: cooling down for \d+ s after rate_limited$", decided["why"])
    assert "Rate limit reached" in decided["reason"] and "Rate limit reached" not in decided["why"]
    code, asked = ask_json(capsys, "-c", conv, "thanks")
    assert code == 0 and asked["model"] == decided["model"] and asked["route"]["reason"] == decided["reason"]


def test_a_switch_off_a_model_gone_from_the_pool_says_so(capsys: pytest.CaptureFixture[str], configured: FakeServer,
                                                         chatroute_home: Path) -> None:
    conv = _on_haiku(capsys)
    write_config(chatroute_home, configured, pool=[MINI, GPT4O])
    decided = _route(capsys, "-c", conv, "thanks")
    assert "switched from claude-haiku-4-5: not in the pool" in decided["reason"]


def test_a_switch_to_a_clearly_better_model_says_so(capsys: pytest.CaptureFixture[str], configured: FakeServer) -> None:
    """After a one-turn @gpt-4o, the conversation's model is gpt-4o; the next routed turn goes
    back to the cheap model, which is better by more than the stickiness, and says from what."""
    code, first = ask_json(capsys, f"@{GPT4O} What is the capital of Italy?")
    assert code == 0 and first["model"] == GPT4O
    decided = _route(capsys, "-c", first["conversation_id"], "and of France?")
    assert decided["model"] == MINI, json.dumps(decided["candidates"], indent=0)
    assert "switched from gpt-4o (better by more than the 0.03 stickiness)" in decided["reason"]
    assert "switched from gpt-4o" in decided["why"]


def test_a_regenerate_gives_no_stickiness_to_the_model_whose_answer_it_rejects(
        capsys: pytest.CaptureFixture[str], configured: FakeServer) -> None:
    """`g` on an answer the conversation's model gave: the user rejected that model's answer,
    so the new one is routed without the bonus for staying on it (it kept the model before)."""
    import asyncio

    from chatroute.engine import Engine
    from chatroute.turn_events import Routed

    conv = _on_haiku(capsys)
    code, kept = ask_json(capsys, "-c", conv, "thanks")
    assert code == 0 and kept["model"] == HAIKU and "kept as the conversation's model" in kept["route"]["reason"]

    async def regenerate() -> Routed:
        engine = Engine.open()
        try:
            events = [e async for e in engine.run_turn(conv, "thanks", regenerate_of=kept["message_id"])]
        finally:
            await engine.aclose()
            engine.store.close()
        return next(e for e in events if isinstance(e, Routed))

    routed = asyncio.run(regenerate())
    assert routed.model != HAIKU, routed.reason
    assert "kept as the conversation's model" not in routed.reason
    assert "switched from" not in routed.reason


def test_under_best_a_conversation_begun_on_the_cheap_model_moves_up_for_a_turn_that_needs_it(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path) -> None:
    """Predicted quality gaps between gpt-4o-mini and gpt-4o are a few points, under the 0.03
    stickiness: a conversation begun with a trivial question stayed on gpt-4o-mini for every
    later turn, however needy, even under `best` ("kept as the conversation's model"), where the
    same turn alone goes to gpt-4o. A move up needs only a clear win."""
    write_config(chatroute_home, configured, pool=[MINI, GPT4O], extra='preset = "best"')
    code, first = ask_json(capsys, "What is the capital of Italy?")
    assert code == 0 and first["model"] == MINI, first["route"]
    needy = "Solve: a train leaves at 3pm going 60 mph; another at 4pm going 80 mph. When does the second catch up?"
    alone = _route(capsys, needy)
    assert alone["model"] == GPT4O, alone["reason"]
    decided = _route(capsys, "-c", first["conversation_id"], needy)
    assert decided["model"] == GPT4O, decided["reason"]
    assert "switched up from gpt-4o-mini (predicted better for this turn" in decided["reason"]
    assert "switched up from gpt-4o-mini" in decided["why"]
    # Down again is still held back by the whole stickiness: a trivial follow-up stays on gpt-4o.
    code, second = ask_json(capsys, "-c", first["conversation_id"], needy)
    assert code == 0 and second["model"] == GPT4O
    kept = _route(capsys, "-c", first["conversation_id"], "thanks")
    assert kept["model"] == GPT4O, kept["reason"]
