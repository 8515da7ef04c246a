"""Keys typed while the TUI starts, before its first screen is up (the user runs `chatroute` and
starts typing at once), on a real pseudo-terminal: none of them is dropped."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.engine.helpers import OPENAI_KEY, write_config
from tests.fakeserver import FakeServer
from tests.hardening.crash_support import REPO, PtyChild, chatroute_argv, wait_until

START_TIMEOUT = 30.0  # cold imports on a busy 2-core machine


def test_keys_typed_before_the_first_screen_all_reach_the_composer(chatroute_home: Path, fake_server: FakeServer,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", "sk-ant-test")
    write_config(chatroute_home, fake_server, pool=["openai/gpt-4o-mini"])
    tui = PtyChild(chatroute_argv(), env=dict(os.environ), cwd=REPO, cols=100, rows=30)
    try:
        tui.type("@gpt-4o-mini abc hello")  # before the interpreter has even loaded Textual
        wait_until(lambda: "preset:" in tui.output(), START_TIMEOUT, "the TUI's first screen", alive=tui.exited)
        wait_until(lambda: "abc hello" in tui.output(), 10, "the early keys in the composer", alive=tui.exited)
        tui.type("\r")
        wait_until(lambda: fake_server.requests, 20, "the request", alive=tui.exited)
    finally:
        tui.close()
    # The first key too: it was dropped, and "gpt-4o-mini abc hello" went to the router as the prompt.
    assert fake_server.requests[-1].messages[-1]["content"] == "abc hello"
