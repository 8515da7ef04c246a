"""The composer and the compare prompt keep a prompt's bidirectional controls without drawing them,
and a run of them goes with the drawn character after it (test_composer_bidi_cursor.py). Wherever
the cursor is put, it rests at the start of such a run, never between the run and its character:
a click on `c` in 'ab<RLO><LRI>cd' put it after the run (column 4, not 2), as did Up, Down and the
word moves, and a Backspace there then took `b` and the run that belongs to `c`. Driven as a user
does: a bracketed paste, then clicks and keys; each placement is followed by a Backspace, which
must remove exactly the one drawn character before the cursor."""

from __future__ import annotations

from textual import events
from textual.pilot import Pilot
from textual.widgets import Input

from chatroute.tui.app import ChatrouteApp
from chatroute.tui.widgets.composer import Composer
from tests.tui.fake_engine import FakeEngine

SIZE = (80, 24)
RLO, LRI, PDI = "\u202e", "\u2066", "\u2069"
LINE = f"ab{RLO}{LRI}cd{PDI}"  # a, b, then a run going with c, then d and a closing isolate
WORDS = f"ab {RLO}{LRI}cd ef"


async def _pasted(pilot: Pilot, composer: Composer, text: str) -> None:
    composer.clear()
    composer.focus()
    pilot.app.post_message(events.Paste(text))
    await pilot.pause()
    assert composer.text == text


async def _backspace(pilot: Pilot, composer: Composer) -> str:
    await pilot.press("backspace")
    return composer.text


async def test_a_click_puts_the_composers_cursor_before_a_run_not_inside_it(engine: FakeEngine) -> None:
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        composer = app.screen.query_one(Composer)
        left = composer.content_region.x - composer.region.x
        top = composer.content_region.y - composer.region.y
        seen = []
        for cell in range(5):  # a click on a, b, c, d, and past the end
            await _pasted(pilot, composer, LINE)
            await pilot.click(Composer, offset=(left + cell, top))
            seen.append((composer.cursor_location[1], await _backspace(pilot, composer)))
        assert seen == [
            (0, LINE),  # at the start: nothing to remove
            (1, f"b{RLO}{LRI}cd{PDI}"),
            (2, f"a{RLO}{LRI}cd{PDI}"),  # before: column 4, and 'acd' left (b and c's run gone)
            (5, f"abd{PDI}"),  # c goes with its run
            (7, f"ab{RLO}{LRI}c"),  # d goes with the isolate that ends the line
        ], seen


async def test_up_and_down_put_the_composers_cursor_before_a_run(engine: FakeEngine) -> None:
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        composer = app.screen.query_one(Composer)
        await _pasted(pilot, composer, f"{LINE}\nwxyz")
        await pilot.press("home", "right", "right", "up")  # two cells in, on the line above
        assert composer.cursor_location == (0, 2)  # before: (0, 4)
        assert await _backspace(pilot, composer) == f"a{RLO}{LRI}cd{PDI}\nwxyz"

        await _pasted(pilot, composer, f"wxyz\n{LINE}")
        await pilot.press("up", "home", "right", "right", "down")
        assert composer.cursor_location == (1, 2)  # before: (1, 4)
        assert await _backspace(pilot, composer) == f"wxyz\na{RLO}{LRI}cd{PDI}"
        await pilot.press("shift+up")  # a selection's end rests the same way
        assert composer.selection.start == (1, 1) and composer.selection.end == (0, 1)


async def test_word_moves_in_the_composer_stop_before_a_run(engine: FakeEngine) -> None:
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        composer = app.screen.query_one(Composer)
        await _pasted(pilot, composer, WORDS)
        columns = []
        for _ in range(3):
            await pilot.press("ctrl+left")
            columns.append(composer.cursor_location[1])
        # before ef, before the run going with cd (before: after it, column 5), the start
        assert columns == [8, 3, 0], columns
        for _ in range(3):
            await pilot.press("ctrl+right")
            columns.append(composer.cursor_location[1])
        # after ab, after cd (before: 5, between the run and c), after ef
        assert columns[3:] == [2, 7, 10], columns
        await pilot.press("ctrl+left", "ctrl+left")
        assert composer.cursor_location == (0, 3)
        assert await _backspace(pilot, composer) == f"ab{RLO}{LRI}cd ef"  # the space, not the run

        # ctrl+w deletes back to where ctrl+left goes: the word with its run, not the word alone
        await _pasted(pilot, composer, f"ab {RLO}{LRI}cd")
        await pilot.press("ctrl+w")
        assert composer.text == "ab "  # before: 'ab <U+202E><U+2066>', controls left over nothing
        assert str(composer.border_subtitle) == ""


async def test_the_composers_word_delete_right_takes_the_word_as_drawn(engine: FakeEngine) -> None:
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        composer = app.screen.query_one(Composer)
        await _pasted(pilot, composer, f"ab{RLO}cd ef")
        await pilot.press("home", "alt+delete")
        assert composer.text == " ef"  # before: '<U+202E>cd ef', half the word 'abcd' left
        await _pasted(pilot, composer, f"ab {RLO}{LRI}cd {LRI}ef")
        await pilot.press("home", "ctrl+right", "alt+delete")
        assert composer.text == f"ab {LRI}ef"  # ' cd' with c's run; ef keeps its own
        assert composer.cursor_location == (0, 2)
        await pilot.press("alt+delete")
        assert composer.text == "ab"
        await _pasted(pilot, composer, f"ab{PDI}\ncd")
        await pilot.press("up", "end", "alt+delete")  # no word left on the line: joins the next
        assert composer.text == f"ab{PDI}cd"


async def test_home_end_and_placements_in_code_rest_before_a_run(engine: FakeEngine) -> None:
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        composer = app.screen.query_one(Composer)
        await _pasted(pilot, composer, f"{RLO}ab{LRI}")
        await pilot.press("home")
        assert composer.cursor_location == (0, 0)
        await pilot.press("end")
        assert composer.cursor_location == (0, 4)  # past the control ending the line
        await _pasted(pilot, composer, LINE)
        composer.move_cursor((0, 4))
        assert composer.cursor_location == (0, 2)
        composer.cursor_location = (0, 3)
        assert composer.cursor_location == (0, 2)
        composer.selection = type(composer.selection)((0, 6), (0, 3))
        assert composer.selection.start == (0, 7) and composer.selection.end == (0, 2)
        # undo and redo put the cursor back where it rested
        composer.move_cursor((0, 5))
        assert await _backspace(pilot, composer) == f"abd{PDI}"
        await pilot.press("ctrl+z")
        assert (composer.text, composer.cursor_location) == (LINE, (0, 5))
        await pilot.press("ctrl+y")
        assert (composer.text, composer.cursor_location) == (f"abd{PDI}", (0, 2))
        # a paste ending in a control: the control goes with the character after it, and the
        # cursor rests before it (before: after it, and a Backspace took x and the control)
        await _pasted(pilot, composer, "abcd")
        composer.move_cursor((0, 2))
        pilot.app.post_message(events.Paste(f"x{LRI}"))
        await pilot.pause()
        assert composer.cursor_location == (0, 3)
        assert await _backspace(pilot, composer) == f"ab{LRI}cd"


async def test_the_compare_prompt_rests_its_cursor_before_a_run(engine: FakeEngine) -> None:
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        await pilot.pause()
        prompt = app.screen.query_one("#compare-prompt", Input)

        async def pasted(text: str) -> None:
            prompt.value = ""
            prompt.focus()
            pilot.app.post_message(events.Paste(text))
            await pilot.pause()
            assert prompt.value == text

        async def backspace() -> str:
            await pilot.press("backspace")
            return prompt.value

        left = prompt.content_region.x - prompt.region.x
        top = prompt.content_region.y - prompt.region.y
        seen = []
        for cell in range(5):
            await pasted(LINE)
            await pilot.click(prompt, offset=(left + cell, top))
            seen.append((prompt.cursor_position, await backspace()))
        assert seen == [
            (0, LINE),
            (1, f"b{RLO}{LRI}cd{PDI}"),
            (2, f"a{RLO}{LRI}cd{PDI}"),  # before: 4, and 'acd' left
            (5, f"abd{PDI}"),
            (7, f"ab{RLO}{LRI}c"),
        ], seen

        await pasted(WORDS)
        positions = []
        for key in ["ctrl+left"] * 3 + ["ctrl+right"] * 3:
            await pilot.press(key)
            positions.append(prompt.cursor_position)
        # word starts, as Textual's Input finds them, in the drawn line; before, the run split
        # 'cd' off: 8, 5, 0 and then 5 (between the run and c)
        assert positions == [8, 3, 0, 3, 8, 10], positions
        await pilot.press("ctrl+left", "ctrl+left")
        assert prompt.cursor_position == 3
        assert await backspace() == f"ab{RLO}{LRI}cd ef"

        await pasted(f"ab {RLO}{LRI}cd")
        await pilot.press("ctrl+w")
        assert prompt.value == "ab "
        await pasted(LINE)
        prompt.cursor_position = 3
        assert prompt.cursor_position == 2
        prompt.cursor_position = 6
        assert prompt.cursor_position == 7  # past the isolate that ends the line
        prompt.cursor_position = 2
        pilot.app.post_message(events.Paste(f"x{LRI}"))
        await pilot.pause()
        assert prompt.cursor_position == 3
        assert await backspace() == f"ab{LRI}{RLO}{LRI}cd{PDI}"
