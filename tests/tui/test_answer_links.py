"""A link in an answer is the model's to write: clicking it opens a web page, nothing else.

Textual hands a clicked Markdown link to the system's URL opener (webbrowser → xdg-open), which
launches whatever handles the scheme: a file share (smb://), an SSH client, a game launcher
(steam://), or, for a target that starts with '-', passes it on as an option. The user sees the
link's text, never its target.
"""

from __future__ import annotations

import pytest

from chatroute.tui.app import ChatrouteApp
from tests.tui.fake_engine import FakeEngine, FakeStore, seed_conversation
from tests.tui.helpers import settle
from tests.tui.test_costs_layout import screen_text

ANSWER = (
    "See [WEBDOC](https://example.org/docs) or [PLAINWEB](http://example.org/) and "
    "[SHARE](smb://evil.example/share), [SHELL](ssh://evil.example), [OPTION](-x), [LOCAL](notes.md).\n\n"
    "| where | what |\n|---|---|\n| [LAUNCHER](steam://run/1) | [TABLEWEB](https://example.org/t) |\n"
)


async def _click(pilot, app: ChatrouteApp, word: str) -> None:  # type: ignore[no-untyped-def]
    for y, line in enumerate(screen_text(app).splitlines()):
        x = line.find(word)
        if x >= 0:
            await pilot.click(offset=(x + 1, y))
            await pilot.pause()
            return
    raise AssertionError(f"{word} is not on the screen")


async def test_only_web_links_in_an_answer_open(store: FakeStore, monkeypatch: pytest.MonkeyPatch) -> None:
    seed_conversation(store, "links", [("where are the docs?", ANSWER)])
    app = ChatrouteApp(FakeEngine(store))
    opened: list[str] = []
    monkeypatch.setattr(app, "open_url", lambda url, **_: opened.append(url))
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, app)
        for word in ("WEBDOC", "PLAINWEB", "SHARE", "SHELL", "OPTION", "LOCAL", "LAUNCHER", "TABLEWEB"):
            await _click(pilot, app, word)
        await settle(pilot, app)
        notes = [n.message for n in app._notifications]
    assert opened == ["https://example.org/docs", "http://example.org/", "https://example.org/t"]
    for target in ("smb://evil.example/share", "ssh://evil.example", "-x", "notes.md", "steam://run/1"):
        assert any(target in n and "not opened" in n for n in notes), (target, notes)
