from __future__ import annotations

import time
from collections.abc import Callable

from textual.app import App
from textual.command import CommandInput, CommandList, CommandPalette
from textual.pilot import Pilot
from textual.widgets import SelectionList

from chatroute.tui.screens.compare import CompareScreen
from chatroute.tui.widgets.badge import Badge
from chatroute.tui.widgets.composer import Composer
from chatroute.tui.widgets.message import AssistantMessage


async def settle(pilot: Pilot, app: App) -> None:
    """Let workers (the streaming turn) finish and the screen catch up: a pause, then, while
    workers run, their end and another pause, up to three times (a worker's end can start
    another). It ends once a pause finds no worker running: more pauses would only wait out
    more of Textual's idle windows, in which nothing but the cursor's blink changes on screen."""
    from textual.worker import WorkerCancelled

    await pilot.pause()
    for _ in range(3):
        if not app.workers:
            break
        try:
            await app.workers.wait_for_complete()
        except WorkerCancelled:  # a turn stopped on purpose (Esc) ends so, when the wait began first
            pass
        await pilot.pause()
    # A pause ends when the process looks idle by its CPU time, which on a machine shared with
    # other work advances slower than the clock even while keys and messages wait in queues (a
    # burst of keys read back empty): pause again until none is left, as a test would read it.
    for _ in range(50):
        if not _messages_pending(app):
            break
        await pilot.pause()


def _messages_pending(app: App) -> bool:
    """Whether the app or a widget of its screen has a message or callback not yet handled."""
    try:
        pumps = [app, *app.screen.walk_children(with_self=True)]
    except Exception:  # noqa: BLE001 - no screen yet (or one closing): nothing of it to wait for
        return False
    return any(p._pending_message is not None or p._next_callbacks
               or ("_message_queue" in vars(p) and not p._message_queue.empty()) for p in pumps)


async def until(pilot: Pilot, check: Callable[[], object], what: str, timeout: float = 15.0) -> None:
    """Pause until `check()` holds: a notice or a worker's result lands a few loop turns later on
    a loaded machine than on an idle one, so one pause is not enough. The timeout only ends a wait
    for what never comes (on an overloaded machine a request can reach the fake server seconds
    after Enter); a test about how soon something happens gives its own."""
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
    await pilot.press("ctrl+p")
    await until(pilot, lambda: isinstance(pilot.app.screen, CommandPalette), "the command palette")
    palette = pilot.app.screen
    assert isinstance(palette, CommandPalette)
    await palette_matches(pilot, palette, command)
    await pilot.press("enter")
    await settle(pilot, pilot.app)


async def palette_matches(pilot: Pilot, palette: CommandPalette, value: str) -> None:
    """Enter `value` in the open command palette and wait until its list is what that value
    matches: Enter runs the best match. Not a pause: on a loaded machine the search can outlast
    one, and Enter then runs the first command of the list shown on opening, or nothing."""
    shown = palette.query_one(CommandList)

    def searching() -> bool:
        return any(w.node is palette and w.group == palette._GATHER_COMMANDS_GROUP for w in palette.workers)

    # "-ready": the palette's own search on opening is over (it shows the list).
    await until(pilot, lambda: palette.has_class("-ready") and not searching(), "the palette's list on opening")
    before = list(shown.options)
    palette.query_one(CommandInput).value = value
    # Every search ends in a new list (new options, or none): a new one, and no search running.
    await until(pilot, lambda: not searching() and (len(shown.options) != len(before) or any(
        a is not b for a, b in zip(shown.options, before, strict=False))), f"the palette's matches for {value!r}")


def palette_choice(app: App) -> str:
    """The command the open palette's Enter runs now, as its list shows it ('' for none)."""
    palette = app.screen
    if not isinstance(palette, CommandPalette):
        return ""
    option = palette.query_one(CommandList).highlighted_option
    return "" if option is None else str(option.prompt)


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


def recording_notices(app: App) -> list[str]:
    """A list that gets the text of every notice `app` shows from now on (they fade from the
    screen; the list keeps them)."""
    notes: list[str] = []
    original = app.notify

    def notify(message: str, **kw: object) -> None:
        notes.append(str(message))
        original(message, **kw)  # type: ignore[arg-type]

    app.notify = notify  # type: ignore[method-assign]
    return notes
