"""In the TUI, a request chatroute timed out on (no first token within first_token_timeout_s)
after the server had taken it is priced as Esc at that same moment is, on OpenAI's wire too,
where no usage has been reported by then: the same estimated input, on the badge of a pinned
turn and in the reroute line of a routed one. Before, the timeout was $0 and, routed, no turn.
Real engine and store, official SDKs, the fake provider."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from chatroute.engine import Engine
from chatroute.money import usd
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.widgets.composer import Composer
from tests.engine.helpers import OPENAI_KEY, rank_by_ability, write_config
from tests.fakeserver import FakeServer, Reply
from tests.tui.helpers import assistants, badge, settle, type_and_send, until

SIZE = (120, 40)
GPT4O, MINI = "openai/gpt-4o", "openai/gpt-4o-mini"
PROMPT = "Think hard about this proof before answering"
THINKS_SILENTLY = Reply(text="too late", ttft=15)  # headers at once, then nothing for 15 s


def first_token_timeout(config: Path, seconds: float) -> None:
    """OpenAI's first-token timeout in `config`, set or changed."""
    text = re.sub(r"\nfirst_token_timeout_s = .*\n", "\n", config.read_text())
    config.write_text(text.replace('api_key_env = "TEST_OPENAI_KEY"\n',
                                   f'api_key_env = "TEST_OPENAI_KEY"\nfirst_token_timeout_s = {seconds}\n'))


@pytest.fixture
def engine(chatroute_home: Path, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", "sk-ant-test")
    path = write_config(chatroute_home, fake_server, pool=[GPT4O, MINI])
    # Long enough that the test's Esc comes first: on a loaded machine it came after a 2 s timeout
    # (a timeout's record instead, and gpt-4o cooling down for the routed turn).
    first_token_timeout(path, 5)
    rank_by_ability(path, GPT4O, MINI)
    return Engine.open()


async def test_a_timeout_is_priced_as_esc_at_that_moment_pinned_and_routed(engine: Engine, fake_server: FakeServer,
                                                                             chatroute_home: Path) -> None:
    assert engine.route(PROMPT)["model"] == GPT4O, "precondition: gpt-4o is the router's first choice"
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        # Esc while gpt-4o thinks silently: a stop, priced at an estimate of the prompt.
        fake_server.script("gpt-4o", THINKS_SILENTLY)
        composer = app.screen.query_one("#composer", Composer)
        composer.insert(f"@{GPT4O} {PROMPT}")
        composer.action_submit()
        await until(pilot, lambda: fake_server.requests, "the request to reach the server", timeout=15)
        await asyncio.sleep(0.3)
        await pilot.press("escape")
        await settle(pilot, app)
        stopped_in = app.screen.conversation_id
    # The timeouts have no Esc to lose to: the next start, after an edit of the config, waits 2 s
    # for a first token, not 5.
    first_token_timeout(chatroute_home / "config.toml", 2)
    app = ChatrouteApp(Engine.open(), close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        # Routed (first: the timeout cools gpt-4o down): the attempt is a turn of its own, named
        # in the reroute line.
        await pilot.press("ctrl+n")
        await until(pilot, lambda: app.screen.conversation_id != stopped_in, "a new conversation")
        fake_server.script("gpt-4o", THINKS_SILENTLY)
        fake_server.script("gpt-4o-mini", Reply(text="Here it is.", input_tokens=20, output_tokens=4))
        await type_and_send(pilot, PROMPT)
        routed_in = app.screen.conversation_id
        await until(pilot, lambda: len(engine.store.turns(routed_in)) == 2, "both turns' records", timeout=15)
        await settle(pilot, app)
        [answer] = assistants(app)
        reroute = "\n".join(answer._reroutes)
        # The pinned request left to time out.
        await pilot.press("ctrl+n")
        await until(pilot, lambda: app.screen.conversation_id != routed_in, "a new conversation")
        fake_server.script("gpt-4o", THINKS_SILENTLY)
        await type_and_send(pilot, f"@{GPT4O} {PROMPT}")
        timed_out_in = app.screen.conversation_id
        await until(pilot, lambda: engine.store.turns(timed_out_in), "the timed-out turn's record", timeout=15)
        await settle(pilot, app)
        pinned_badge = badge(assistants(app)[0])
    [stop] = engine.store.turns(stopped_in)
    [timeout] = engine.store.turns(timed_out_in)
    assert stop.status == "interrupted" and timeout.status == "error"
    assert (timeout.input_tokens, timeout.output_tokens, timeout.usage_estimated) == (stop.input_tokens, 0, True)
    assert timeout.input_tokens > 0 and timeout.cost_usd == pytest.approx(stop.cost_usd)
    # It read `gpt-4o (override) · ⚠ error`: no cost.
    assert pinned_badge == f"gpt-4o (override) · ≈{usd(timeout.cost_usd)} · ⚠ error", pinned_badge
    failed = next(t for t in engine.store.turns(routed_in) if t.model == GPT4O)
    assert failed.status == "error" and failed.usage_estimated and failed.input_tokens == stop.input_tokens
    assert f"gpt-4o timeout (billed ≈{usd(failed.cost_usd)}) → gpt-4o-mini" in reroute, reroute
