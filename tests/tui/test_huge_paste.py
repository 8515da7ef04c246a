"""A paste of tens of megabytes sent from the composer: refused at once by its size, as `ask`
refuses such a prompt on standard input, the paste kept in the composer. Before, Enter counted
its tokens on the event loop (50 MB: the app frozen for about 9 s, keys and Esc unanswered) only
to refuse it for the context window."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from textual import events

import chatroute.catalog.tokens as tokens
from chatroute import safetext
from chatroute.engine import Engine
from chatroute.safetext import strip_terminal_controls
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.widgets.composer import Composer
from chatroute.tui.widgets.message import UserMessage
from tests.engine.helpers import ANTHROPIC_KEY, OPENAI_KEY, write_config
from tests.fakeserver import FakeServer
from tests.tui.fake_engine import FakeEngine, FakeStore
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


class _Watched(str):
    """A paste whose whole-text passes are counted: each of these reads every character."""

    passes: list[str] = []

    def replace(self, *args: Any, **kwargs: Any) -> str:  # type: ignore[override]
        _Watched.passes.append("replace")
        return _Watched(super().replace(*args, **kwargs))

    def encode(self, *args: Any, **kwargs: Any) -> bytes:  # type: ignore[override]
        _Watched.passes.append("encode")
        return super().encode(*args, **kwargs)


class _WatchedSearch:
    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern

    def search(self, text: str, *args: Any) -> re.Match[str] | None:
        if len(text) > 1_000_000:
            _Watched.passes.append("search")
        return self.pattern.search(text, *args)


async def test_a_50_mb_paste_with_no_control_character_is_not_read_character_by_character(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A paste of plain ASCII text holds no control to strip, CR to turn into a line end or
    multi-byte character to size: the composer learns so without a regex search, replace or
    encode over all of it. Before, those passes were most of the time the app stayed frozen
    after a 50 MB paste."""
    monkeypatch.setattr(safetext, "_UNSAFE", _WatchedSearch(safetext._UNSAFE))
    monkeypatch.setattr(_Watched, "passes", [])
    big = "word " * 10_000_000
    app = ChatrouteApp(FakeEngine(FakeStore()))
    async with app.run_test(size=(120, 40)) as pilot:
        composer = app.screen.query_one(Composer)
        composer.focus()
        app.post_message(events.Paste(_Watched(big)))
        await settle(pilot, app)
        assert composer.text == "[pasted text #1: 50.0 MB, 1 line]"
        assert composer.prompt == big
    assert _Watched.passes == []


@pytest.mark.parametrize("control", ["\x1b[2J", "\r\n", "\r", "\x00", "\x7f", "\x1f", "\x08"])
async def test_a_long_ascii_paste_still_loses_its_controls(control: str) -> None:
    """The plain-ASCII shortcut still finds a control anywhere in a long paste, and the paste
    is cleaned as a short one is."""
    half = "word " * 20_000
    app = ChatrouteApp(FakeEngine(FakeStore()))
    async with app.run_test(size=(120, 40)) as pilot:
        composer = app.screen.query_one(Composer)
        composer.focus()
        app.post_message(events.Paste(half + control + half))
        await settle(pilot, app)
        expected = half + ("\n" if control.startswith("\r") else "") + half
        assert composer.prompt == expected
        assert strip_terminal_controls(half + control + half, mark_bidi=False) == (
            half + ("\n" if control.startswith("\r") else "") + half)
