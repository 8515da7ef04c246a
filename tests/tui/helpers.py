from __future__ import annotations

import time
from collections.abc import Callable

from textual.app import App
from textual.pilot import Pilot
from textual.widgets import SelectionList

from chatroute.tui.screens.compare import CompareScreen
from chatroute.tui.widgets.badge import Badge
from chatroute.tui.widgets.composer import Composer
from chatroute.tui.widgets.message import AssistantMessage


async def settle(pilot: Pilot, app: App) -> None:
    """Let workers (the streaming turn) finish and the screen catch up."""
    from textual.worker import WorkerCancelled

    for _ in range(3):
        await pilot.pause()
        try:
            await app.workers.wait_for_complete()
        except WorkerCancelled:  # a turn stopped on purpose (Esc) ends so, when the wait began first
            pass
    await pilot.pause()


async def until(pilot: Pilot, check: Callable[[], object], what: str, timeout: float = 5.0) -> None:
    """Pause until `check()` holds: a notice or a worker's result lands a few loop turns later on
    a loaded machine than on an idle one, so one pause is not enough."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited in vain for {what}")
        await pilot.pause(0.02)


async def compare_composer_text(pilot: Pilot, app: App, prompt: str, models: list[str]) -> CompareScreen:
    """`prompt` written in the composer and compared on `models`: F4, only those ticked, Ctrl+S."""
    app.screen.query_one(Composer).insert(prompt)
    screen = await open_compare_ticking(pilot, app, models)
    await pilot.press("ctrl+s")
    return screen


async def open_compare_ticking(pilot: Pilot, app: App, models: list[str]) -> CompareScreen:
    """F4, and in its picker only `models` ticked (not the pre-selected pair)."""
    await pilot.press("f4")
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, CompareScreen)
    picker = screen.query_one(SelectionList)
    picker.deselect_all()
    for model in models:
        picker.select(model)
    return screen


async def run_palette_command(pilot: Pilot, command: str) -> None:
    """Open the command palette, enter `command` (pasted, not typed key by key: each key is a
    full search round trip) and run the best match."""
    from textual.command import CommandInput

    await pilot.press("ctrl+p")
    await pilot.pause()
    pilot.app.screen.query_one(CommandInput).value = command
    await pilot.pause(0.3)
    await pilot.press("enter")
    await settle(pilot, pilot.app)


async def answer_question(pilot: Pilot, key: str) -> None:
    """Answer a yes/no question (delete, over budget) as a person does, after reading it: a key
    typed on straight after the key that opened it is taken for typing, not for an answer."""
    from chatroute.tui.screens.dialogs import ConfirmScreen

    await pilot.pause(ConfirmScreen.TYPING_GAP_S)
    await pilot.press(key)


async def type_and_send(pilot: Pilot, text: str) -> None:
    app = pilot.app
    app.screen.query_one("#composer").focus()
    app.screen.query_one("#composer", Composer).insert(text)
    await pilot.press("enter")
    await settle(pilot, app)


def assistants(app: App) -> list[AssistantMessage]:
    return list(app.screen.query(AssistantMessage))


def badge(msg: AssistantMessage) -> str:
    return msg.query_one(Badge).text  # the whole line (what is shown may leave parts out when narrow)


def subtitle(app: App) -> str:
    return str(app.screen.sub_title)
