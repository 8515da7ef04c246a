"""Keyboard-only use: the focused widget can be seen, focus is never left nowhere, and a key
the footer shows does something where it is shown."""

from __future__ import annotations

import pytest
from textual.containers import VerticalScroll
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, OptionList

from chatroute.tui.app import ChatrouteApp
from chatroute.tui.screens.compare import CompareColumn, CompareScreen
from chatroute.tui.widgets.message import MessageWidget, UserMessage
from tests.tui.fake_engine import Fail, FakeEngine, Reply
from tests.tui.helpers import assistants, settle, type_and_send

SIZE = (120, 40)


@pytest.mark.parametrize("theme", ["chatroute-dark", "chatroute-light"])
async def test_the_focused_message_stands_out(engine: FakeEngine, theme: str) -> None:
    """↑ from the composer focuses a message, and the keys (w, c, g, …) act on it: it must look
    different from the others. It was drawn with $boost, which both of chatroute's themes leave
    transparent (they set `panel`), so the focused message looked like every other one."""
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        app.theme = theme
        await type_and_send(pilot, "one")
        await pilot.press("up")
        await settle(pilot, app)
        answer, prompt = assistants(app)[-1], app.screen.query(UserMessage).last()
        assert app.focused is answer
        assert answer.rich_style.bgcolor != prompt.rich_style.bgcolor
        await pilot.press("up")
        await settle(pilot, app)
        assert app.focused is prompt
        assert prompt.rich_style.bgcolor != answer.rich_style.bgcolor
        assert isinstance(app.focused, MessageWidget)


async def _compare_two(pilot: Pilot, app: ChatrouteApp) -> CompareScreen:
    """F4, the default two models ticked, a prompt typed and Enter: the answers side by side."""
    await pilot.press("f4")
    await settle(pilot, app)
    screen = app.screen
    assert isinstance(screen, CompareScreen) and len(screen.selected()) == 2
    await pilot.press("tab", *"Lisbon?", "enter")
    await settle(pilot, app)
    assert len(screen.columns) == 2
    return screen


async def test_the_compare_answer_with_the_focus_stands_out(engine: FakeEngine) -> None:
    """Once compare runs, the arrows scroll the focused answer and Tab moves between them; the
    columns were all drawn alike, so nothing showed which one the keys would scroll."""
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _compare_two(pilot, app)
        first, second = screen.columns

        def border(column: CompareColumn) -> object:
            return column.styles.border_top

        assert first.has_focus_within and border(first) != border(second)
        await pilot.press("tab")
        await settle(pilot, app)
        assert second.has_focus_within and border(second) != border(first)


def footer_keys(app: ChatrouteApp) -> dict[str, str]:
    """What the footer shows now: key -> description."""
    from textual.widgets._footer import FooterKey

    return {key.key: key.description for key in app.screen.query(FooterKey)}


async def test_the_compare_footer_drops_start_once_the_answers_run(engine: FakeEngine) -> None:
    """^s Start stayed in the footer while the answers streamed and after, where the key does
    nothing at all (a compare runs once)."""
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        await settle(pilot, app)
        assert footer_keys(app).get("ctrl+s") == "Start"
        await pilot.press("tab", *"Lisbon?", "enter")
        await settle(pilot, app)
        assert "ctrl+s" not in footer_keys(app)
        assert footer_keys(app).get("escape") == "Close"


async def test_refreshing_the_costs_screen_keeps_the_keys_working(engine: FakeEngine) -> None:
    """r rebuilt the screen and left the focus nowhere: the arrows, PageDown and End scrolled
    nothing until Tab was pressed. The focus now stays where it was (or on the page)."""
    app = ChatrouteApp(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await type_and_send(pilot, "one")
        await pilot.press("f5")
        await settle(pilot, app)
        page = app.screen.query_one(VerticalScroll)
        assert app.focused is page and page.max_scroll_y > 0
        await pilot.press("r")
        await settle(pilot, app)
        page = app.screen.query_one(VerticalScroll)
        assert app.focused is page
        await pilot.press("end")
        await settle(pilot, app)
        assert page.scroll_y == page.max_scroll_y > 0
        # On a table, r keeps that table.
        await pilot.press("tab")
        await settle(pilot, app)
        table = app.focused
        assert isinstance(table, DataTable) and table.id
        await pilot.press("r")
        await settle(pilot, app)
        assert isinstance(app.focused, DataTable) and app.focused.id == table.id


async def test_enter_on_a_search_with_no_hits_stays_in_the_query(engine: FakeEngine) -> None:
    """Enter with no hits moved the focus to a list holding only 'no matches': typing went
    nowhere, and Esc (the way back one would try) closed the search and dropped the query."""
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "lisbon trams")
        await pilot.press("ctrl+f", *"lisbin", "enter")
        await settle(pilot, app)
        query = app.screen.query_one("#search", Input)
        assert app.focused is query
        await pilot.press("backspace", "backspace", *"on", "enter")
        await settle(pilot, app)
        assert query.value == "lisbon"
        assert isinstance(app.focused, OptionList) and app.focused.id == "results"


def test_the_help_says_what_ctrl_c_does_when_nothing_streams() -> None:
    """Ctrl+C stops an answer and, with none streaming, copies the selection (as in any Textual
    app); the help named the first only, so the copy looked taken away."""
    from chatroute.tui.screens.help import binding_sections

    said = {section: b.description for section, bindings in binding_sections(ChatrouteApp) for b in bindings
            if "ctrl+c" in b.key.split(",")}
    assert set(said) == {"Chat", "Compare"}
    assert all("stop" in what.lower() and "copies the selection" in what for what in said.values()), said


async def test_the_footer_offers_retry_only_where_there_is_something_to_retry(engine: FakeEngine) -> None:
    """r Retry was in the footer, as active as Copy, on every answer, while on a complete one r
    only said there was nothing to retry. It is shown disabled there, and live on an answer
    that failed or was stopped, including one that fails while it has the focus."""
    engine.script.append(Reply(text="fine"))
    engine.script.append(Fail(error="openai/gpt-4o: server error (500)"))
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "one")
        await pilot.press("up")
        await settle(pilot, app)

        def retry() -> bool | None:
            shown = {b.binding.action: b.enabled for b in app.screen.active_bindings.values()}
            return shown.get("retry")

        assert retry() is False
        await pilot.press("i")
        await type_and_send(pilot, "two")
        await pilot.press("up")
        await settle(pilot, app)
        assert assistants(app)[-1].status == "error" and retry() is True
        # r there: the new answer has the focus as it streams, and once complete nothing to retry.
        engine.script.append(Reply(text="fine now"))
        await pilot.press("r")
        await settle(pilot, app)
        assert app.focused is assistants(app)[-1] and assistants(app)[-1].text == "fine now"
        assert retry() is False


async def test_f1_opens_the_help_from_a_dialog_too(engine: FakeEngine) -> None:
    """The help lists F1 under 'Everywhere', but in the model picker and the rename and delete
    dialogs it did nothing, where the keys are the least obvious. Closing the help goes back
    to the dialog, its focus where it was; F1 on the help still closes it."""
    from chatroute.tui.screens.dialogs import PromptScreen
    from chatroute.tui.screens.help import HelpScreen
    from chatroute.tui.screens.models import ModelPicker

    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "one")
        for opener, dialog in (("ctrl+o", ModelPicker), ("f2", PromptScreen)):
            await pilot.press(opener)
            await settle(pilot, app)
            assert isinstance(app.screen, dialog)
            focused = app.focused
            await pilot.press("f1")
            await settle(pilot, app)
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("f1")
            await settle(pilot, app)
            assert isinstance(app.screen, dialog) and app.focused is focused
            await pilot.press("f1", "escape")
            await settle(pilot, app)
            assert isinstance(app.screen, dialog) and app.focused is focused
            await pilot.press("escape")
            await settle(pilot, app)
        assert app.focused is app.screen.query_one("#composer")


async def test_question_mark_opens_the_help_over_the_model_picker_and_a_yes_no_question(engine: FakeEngine) -> None:
    """README: '? when not typing' opens the help, 'also over the model picker or a dialog'. In
    the picker (a list) and the delete question (y/n) nothing is typed, but ? did nothing there:
    the app's binding is not reached past a dialog. In the rename box ? is still a character."""
    from chatroute.tui.screens.dialogs import ConfirmScreen, PromptScreen
    from chatroute.tui.screens.help import HelpScreen
    from chatroute.tui.screens.models import ModelPicker

    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "one")
        for dialog, open_it in ((ModelPicker, "ctrl+o"), (ConfirmScreen, "delete")):
            if open_it == "delete":
                app.chat_screen().action_delete_current()
            else:
                await pilot.press(open_it)
            await settle(pilot, app)
            assert isinstance(app.screen, dialog)
            focused = app.focused
            await pilot.press("question_mark")
            await settle(pilot, app)
            assert isinstance(app.screen, HelpScreen), app.screen
            await pilot.press("escape")
            await settle(pilot, app)
            assert isinstance(app.screen, dialog) and app.focused is focused
            await pilot.press("escape")
            await settle(pilot, app)
        assert assistants(app)  # the delete question was answered no
        await pilot.press("f2")
        await settle(pilot, app)
        assert isinstance(app.screen, PromptScreen)
        await pilot.press("question_mark")
        await settle(pilot, app)
        assert isinstance(app.screen, PromptScreen) and app.screen.query_one(Input).value.endswith("?")
