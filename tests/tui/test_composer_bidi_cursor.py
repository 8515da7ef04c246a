"""The composer keeps a prompt's bidirectional controls but does not draw them, and they take no
cell: a Left or Right press onto one moved the cursor nowhere on screen, and a Backspace or
Delete next to one removed only it, changing nothing drawn. Each run of them now goes with the
character after it, so every press moves or removes something the user sees. The compare screen's
prompt line, which keeps and hides them as the composer does, steps the same way. Driven as a user
does: a bracketed paste, then arrow keys, Backspace and Delete."""

from __future__ import annotations

from textual import events
from textual.pilot import Pilot
from textual.widgets import Input

from chatroute.tui.app import ChatrouteApp
from chatroute.tui.widgets.composer import Composer
from tests.tui.fake_engine import FakeEngine

SIZE = (80, 24)
# b, then an override and an isolate (drawn as nothing), then c; an isolate's end closes the line.
PASTED = "ab\u202e\u2066cd\u2069"


async def _pasted(pilot: Pilot) -> Composer:
    composer = pilot.app.screen.query_one(Composer)
    composer.focus()
    pilot.app.post_message(events.Paste(PASTED))
    await pilot.pause()
    assert composer.text == PASTED
    return composer


def _drawn(composer: Composer) -> str:
    return composer.render_line(0).text.strip()  # the prompt's one line


async def test_every_arrow_press_moves_the_cursor_on_screen(engine: FakeEngine) -> None:
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        composer = await _pasted(pilot)
        assert composer.cursor_location == (0, len(PASTED))
        xs = [composer.cursor_screen_offset.x]
        for _ in range(4):  # end, after d, after c, after b, after a
            await pilot.press("left")
            xs.append(composer.cursor_screen_offset.x)
        # one cell a press, end to start; before, the press onto the controls left x where it was
        assert [xs[0] - x for x in xs] == [0, 1, 2, 3, 4], xs
        assert composer.cursor_location == (0, 0)
        for _ in range(4):
            await pilot.press("right")
            xs.append(composer.cursor_screen_offset.x)
        assert [x - xs[4] for x in xs[4:]] == [0, 1, 2, 3, 4], xs
        assert composer.cursor_location == (0, len(PASTED))  # past the closing isolate too
        # shift+arrows select as the arrows move: two presses from the end select c, d and the
        # controls before c, what the eye sees as "cd"
        await pilot.press("shift+left", "shift+left")
        assert composer.selected_text == "\u202e\u2066cd\u2069"


async def test_every_backspace_and_delete_removes_something_drawn(engine: FakeEngine) -> None:
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        composer = await _pasted(pilot)
        drawn = [_drawn(composer)]
        for _ in range(4):
            await pilot.press("backspace")
            drawn.append(_drawn(composer))
        assert drawn == ["abcd", "abc", "ab", "a", ""], drawn
        assert composer.text == ""

        composer.focus()
        pilot.app.post_message(events.Paste(PASTED))
        await pilot.pause()
        await pilot.press("home")
        drawn = [_drawn(composer)]
        for _ in range(4):
            await pilot.press("delete")
            drawn.append(_drawn(composer))
        assert drawn == ["abcd", "bcd", "cd", "d", ""], drawn
        assert composer.text == ""
        assert str(composer.border_subtitle) == ""  # no control left behind, unseen


async def test_the_compare_prompt_steps_over_them_as_the_composer_does(engine: FakeEngine) -> None:
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        await pilot.pause()
        prompt = app.screen.query_one("#compare-prompt", Input)
        prompt.focus()

        def drawn() -> str:  # the line as drawn ("" for an empty one, not its placeholder)
            return prompt.render_line(0).text.strip() if prompt.value else ""

        async def lefts(text: str) -> list[int]:
            """The cursor's x from the end of `text` pasted, then after each of four Left presses."""
            prompt.value = ""
            pilot.app.post_message(events.Paste(text))
            await pilot.pause()
            assert prompt.value == text and prompt.cursor_position == len(text)
            xs = [prompt.cursor_screen_offset.x]
            for _ in range(4):
                await pilot.press("left")
                xs.append(prompt.cursor_screen_offset.x)
            return xs

        # as over the same line without them (the end of a line is a cell past its last character)
        plain = await lefts("abcd")
        assert await lefts(PASTED) == plain, plain
        for _ in range(4):
            await pilot.press("right")
        assert prompt.cursor_position == len(PASTED)  # past the closing isolate too
        shown = [drawn()]
        for _ in range(4):
            await pilot.press("backspace")
            shown.append(drawn())
        assert shown == ["abcd", "abc", "ab", "a", ""], shown
        prompt.value = PASTED
        await pilot.press("home")
        shown = [drawn()]
        for _ in range(4):
            await pilot.press("delete")
            shown.append(drawn())
        assert shown == ["abcd", "bcd", "cd", "d", ""], shown
        assert prompt.value == ""
