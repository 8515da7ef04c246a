"""A paste of tens of megabytes sent from the composer: refused at once by its size, as `ask`
refuses such a prompt on standard input, the paste kept in the composer. Before, Enter counted
its tokens on the event loop (50 MB: the app frozen for about 9 s, keys and Esc unanswered) only
to refuse it for the context window."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual import events

import chatroute.catalog.tokens as tokens
from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.widgets.composer import Composer
from chatroute.tui.widgets.message import UserMessage
from tests.engine.helpers import ANTHROPIC_KEY, OPENAI_KEY, write_config
from tests.fakeserver import FakeServer
from tests.tui.helpers import settle


async def test_a_50_mb_paste_is_refused_by_its_size_without_counting_it(
        chatroute_home: Path, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", ANTHROPIC_KEY)
    write_config(chatroute_home, fake_server)
    counted: list[int] = []
    real_count = tokens.count_messages

    def count_messages(messages, *args, **kwargs):  # type: ignore[no-untyped-def]
        counted.append(sum(len(m["content"]) for m in messages))
        return real_count(messages, *args, **kwargs)

    monkeypatch.setattr(tokens, "count_messages", count_messages)
    big = "word " * 10_000_000  # 50 MB
    app = ChatrouteApp(Engine.open(), close_engine=True)
    async with app.run_test(size=(120, 40)) as pilot:
        composer = app.screen.query_one(Composer)
        composer.focus()
        app.post_message(events.Paste(big))
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot, app)
        said = [str(n.message) for n in app._notifications]
        assert ("Not sent: this prompt is 50.0 MB; chatroute sends a prompt of at most 4 MB, as `chatroute ask` "
                "takes one. Your prompt is still in the composer.") in said, said
        assert composer.prompt == big
        assert not app.screen.query(UserMessage) and fake_server.requests == []
        assert not [n for n in counted if n > 1_000_000], "the prompt's tokens were counted"
