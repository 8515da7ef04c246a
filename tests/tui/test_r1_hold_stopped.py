"""Esc while the start of an R1 distill's answer is held back (its thinking, before the lone
`</think>` its chat template leaves: 441adf2), through the real Engine against the fake server.
The server generated and billed that thinking; before, the stopped turn counted none of it (0
output tokens), where the same thinking inside `<think>…</think>` was counted."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from chatroute.engine import Engine
from chatroute.store.records import CHARS_PER_TOKEN
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.widgets.composer import Composer
from tests.engine.helpers import OPENAI_KEY, write_config
from tests.fakeserver import FakeServer, Reply
from tests.hardening.crash_support import read_messages
from tests.hardening.test_think_tags import LOCAL_MODELS, R1, THOUGHT
from tests.tui.helpers import assistants, settle, until


def _served(server: FakeServer, model: str) -> int:
    return sum(1 for r in server.requests if r.model == model)


@pytest.mark.parametrize("model", R1)
async def test_esc_while_the_start_is_held_bills_it_as_thinking(
        fake_server: FakeServer, chatroute_home: Path, monkeypatch: pytest.MonkeyPatch, model: str) -> None:
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", "sk-ant-test")
    write_config(chatroute_home, fake_server, extra=LOCAL_MODELS)
    name = model.split("/")[1]
    fake_server.script(name, Reply(text="Paris.", reasoning=THOUGHT * 100, think_tags=True, think_open=False,
                                   tokens_per_s=100, omit_usage=True))
    engine = Engine.open()
    app = ChatrouteApp(engine, close_engine=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        app.screen.query_one("#composer", Composer).insert(f"@{name} What is the capital of France?")
        await pilot.press("enter")  # not type_and_send: its settle would wait out the answer
        await until(pilot, lambda: _served(fake_server, name) == 1, "the request")
        # Until 50 tokens of thinking are held back, as the engine's partial save says: in a
        # pause of a second a loaded machine's client could read fewer.
        held = ("status = 'streaming' AND thinking_chars >= ?", (50 * CHARS_PER_TOKEN,))
        await until(pilot, lambda: read_messages(Path(engine.store.path), *held), "50 tokens held back", timeout=10)
        assert assistants(app)[-1].text == ""
        await pilot.press("escape")
        await settle(pilot, app)
    db = chatroute_home / "chatroute.db" if (chatroute_home / "chatroute.db").exists() \
        else next(chatroute_home.rglob("chatroute.db"))
    with sqlite3.connect(db) as conn:
        [(status, output, cost)] = conn.execute("SELECT status, output_tokens, cost_usd FROM turns").fetchall()
    assert status == "interrupted"
    assert output >= 50 and cost > 0, (output, cost)  # a second of thinking at 100 tokens a second: not free
