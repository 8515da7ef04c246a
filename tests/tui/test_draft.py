"""A prompt being written when the TUI quits (Ctrl+Q, the terminal closed) is not lost: the next
start puts it back in the composer, a large paste kept aside included, and says so."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
from textual import events

from chatroute.paths import resolve_paths
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.screens.chat import DRAFT_SAVE_DELAY_S
from chatroute.tui.widgets.composer import PASTE_MAX_LINES, Composer
from tests.tui.fake_engine import FakeEngine, FakeStore
from tests.tui.helpers import settle, type_and_send

SIZE = (120, 40)
LOG = "\n".join(f"line {i}: something happened" for i in range(PASTE_MAX_LINES + 50))


def _record_notifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every toast raised from now on, kept after it has gone: on a loaded machine the start can
    outlast a 4 s toast before the test looks at it."""
    said: list[str] = []
    notify = ChatrouteApp.notify

    def recording(self: ChatrouteApp, message: str, *args: Any, **kwargs: Any) -> None:
        said.append(str(message))
        notify(self, message, *args, **kwargs)

    monkeypatch.setattr(ChatrouteApp, "notify", recording)
    return said


async def test_a_draft_left_at_quit_is_back_at_the_next_start(
        store: FakeStore, monkeypatch: pytest.MonkeyPatch) -> None:
    app = ChatrouteApp(FakeEngine(store))
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "sent, so not a draft")
        composer = app.screen.query_one(Composer)
        composer.focus()
        await pilot.press(*"Why does this fail? ")
        pilot.app.post_message(events.Paste(LOG))  # as the terminal driver delivers a bracketed paste
        await pilot.pause()
        await pilot.press(*" thanks")
        written, pasted = composer.text, composer.prompt
        assert "[pasted text #1:" in written
        await pilot.press("ctrl+q")
    drafts = resolve_paths().data_dir / "drafts"
    [draft] = drafts.glob("*.json")  # the conversation's: one file each
    assert stat.S_IMODE(draft.stat().st_mode) == 0o600  # what the user typed: theirs alone
    assert stat.S_IMODE(drafts.stat().st_mode) == 0o700

    said = _record_notifications(monkeypatch)
    again = ChatrouteApp(FakeEngine(store))
    async with again.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, again)
        composer = again.screen.query_one(Composer)
        assert composer.text == written and composer.prompt == pasted  # the paste in full, as a placeholder
        assert any("unsent" in message for message in said)
        await pilot.press("enter")
        await settle(pilot, again)
        assert composer.text == ""
    assert not draft.exists()  # sent: nothing to bring back

    said.clear()
    third = ChatrouteApp(FakeEngine(store))
    async with third.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, third)
        assert third.screen.query_one(Composer).text == ""
        assert not any("unsent" in message for message in said)


async def test_a_draft_that_cannot_be_kept_is_said_while_the_user_is_there(
        store: FakeStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a full disk the draft was dropped without a word: the user learnt of it at the next
    start, the prompt gone. The save a second after typing pauses says so, once, while the
    text is still in the composer to copy."""
    import os

    from chatroute import fsutil

    real = fsutil._create_temp

    def full(path: Path) -> tuple[int, str]:  # every byte written to the temporary: ENOSPC
        fd, tmp = real(path)
        dev_full = os.open("/dev/full", os.O_WRONLY)
        os.dup2(dev_full, fd)
        os.close(dev_full)
        return fd, tmp

    monkeypatch.setattr(fsutil, "_create_temp", full)
    app = ChatrouteApp(FakeEngine(store))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        app.screen.query_one(Composer).focus()
        await pilot.press(*"a long prompt I am writing")
        await pilot.pause(DRAFT_SAVE_DELAY_S + 0.5)
        await pilot.press(*" and more")
        await pilot.pause(DRAFT_SAVE_DELAY_S + 0.5)
        said = [str(n.message) for n in app._notifications if "not kept" in str(n.message)]
        assert len(said) == 1, said  # once, not at every pause
        assert "No space left on device" in said[0] and "still in the composer" in said[0], said
    assert not list((resolve_paths().data_dir / "drafts").glob("*.json"))


async def test_the_one_draft_an_older_chatroute_left_comes_back_at_the_next_start(store: FakeStore) -> None:
    """It kept one `draft.json` for every conversation; it is the draft of the one a start shows."""
    import json

    data_dir = resolve_paths().data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "draft.json").write_text(json.dumps({"text": "left by an older version", "pastes": {}}))
    app = ChatrouteApp(FakeEngine(store))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        assert app.screen.query_one(Composer).text == "left by an older version"
    assert not (data_dir / "draft.json").exists()
