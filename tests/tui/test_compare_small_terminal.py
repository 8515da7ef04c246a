"""Compare on a small terminal: four answers side by side at 40x12 were a few cells wide each, so
nothing could be read. Where a column would be narrower than MIN_COLUMN_WIDTH the answers are
shown one at a time, full width, with a row of their numbers and names to move between them."""

from __future__ import annotations

from textual.widgets import SelectionList

from chatroute.format import short_model
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.screens.chat import ChatScreen
from chatroute.tui.screens.compare import CompareColumn, CompareScreen
from tests.tui.fake_engine import MODELS, FakeEngine, Reply
from tests.tui.helpers import assistants, settle
from tests.tui.test_costs_layout import screen_text

FOUR = [m.id for m in MODELS]
MIN_COLUMN_WIDTH = 24  # the narrowest column an answer is read in (compare.MIN_COLUMN_WIDTH)


def _answer(model: str) -> str:
    return f"{short_model(model)} says visit in May when it is warm"


async def _compare_four(pilot, app: ChatrouteApp, engine: FakeEngine) -> CompareScreen:  # type: ignore[no-untyped-def]
    engine.compare_script = {m: Reply(text=_answer(m), model=m) for m in FOUR}
    await pilot.press("f4")
    await settle(pilot, app)
    screen = app.screen
    assert isinstance(screen, CompareScreen)
    picker = screen.query_one(SelectionList)
    for model in FOUR:
        picker.select(model)
    await pilot.press("tab", *"Lisbon?", "ctrl+s")
    await settle(pilot, app)
    assert [c.status for c in screen.columns] == ["ok"] * 4
    return screen


def _shown(screen: CompareScreen) -> list[CompareColumn]:
    """The answers on screen now, with room to be read."""
    return [c for c in screen.columns if c.display and c.region.width > 0 and screen.region.contains_region(c.region)]


def _readable(app: ChatrouteApp, column: CompareColumn, name_cells: int | None = None) -> None:
    """Its text and its model's name (the first `name_cells` of it, where the heading cuts it
    with …) are on screen, in a column at least MIN_COLUMN_WIDTH wide."""
    assert column.region.width >= MIN_COLUMN_WIDTH, column.region
    shown = " ".join(screen_text(app).split())
    name = short_model(column.model)[:name_cells]
    assert name in shown, (name, shown)
    assert _answer(column.model) in " ".join(str(column.text).split()), column.text
    # The start of the answer is drawn (the widths leave it whole on the first lines).
    assert _answer(column.model)[:MIN_COLUMN_WIDTH - 4] in shown, shown


async def test_four_answers_on_a_small_terminal_are_read_one_at_a_time(engine: FakeEngine) -> None:
    for size in ((40, 12), (80, 24)):
        app = ChatrouteApp(engine)
        async with app.run_test(size=size) as pilot:
            screen = await _compare_four(pilot, app, engine)
            # One answer at a time, the whole width.
            [first] = _shown(screen)
            assert first is screen.columns[0] and first.has_focus_within
            _readable(app, first)
            # Tab (as between the columns) and → move to the next answer, ← and shift+tab back.
            seen = [first]
            for key in ("tab", "right", "right"):
                await pilot.press(key)
                await settle(pilot, app)
                [column] = _shown(screen)
                assert column.has_focus_within
                _readable(app, column)
                seen.append(column)
            assert seen == screen.columns, size
            await pilot.press("left", "shift+tab")
            await settle(pilot, app)
            assert _shown(screen) == [screen.columns[1]]
            # 1–4 still picks, whichever answer is shown.
            await pilot.press("3")
            await settle(pilot, app)
            assert isinstance(app.screen, ChatScreen)
            picked = screen.columns[2]
            assert engine.picks[-1] == (picked.conversation_id, picked.message_id)
            assert assistants(app)[-1].text == _answer(picked.model)


async def test_four_answers_stay_side_by_side_where_they_fit(engine: FakeEngine) -> None:
    app = ChatrouteApp(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _compare_four(pilot, app, engine)
        columns = _shown(screen)
        assert columns == screen.columns  # all four, side by side
        assert len({c.region.y for c in columns}) == 1
        for column in columns:
            _readable(app, column, name_cells=MIN_COLUMN_WIDTH - 4)  # one line, cut with … as before
        await pilot.press("tab")  # Tab moves the focus, as it did: nothing is hidden
        await settle(pilot, app)
        assert screen.columns[1].has_focus_within and _shown(screen) == screen.columns
        # Narrowed, the answer with the focus is the one shown; widened again, all four are.
        await pilot.resize_terminal(40, 12)
        await settle(pilot, app)
        assert _shown(screen) == [screen.columns[1]]
        _readable(app, screen.columns[1])
        await pilot.resize_terminal(120, 40)
        await settle(pilot, app)
        assert _shown(screen) == screen.columns and screen.columns[1].has_focus_within
        await pilot.press("2")
        await settle(pilot, app)
        assert engine.picks[-1] == (screen.columns[1].conversation_id, screen.columns[1].message_id)
