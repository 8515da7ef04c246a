"""A long history in the sidebar: listing every conversation before the first frame made the
TUI's start-up grow with their number (20,000 added 0.7 s). The list is read a page at a time
now; everything the sidebar did still reaches the oldest conversation: the arrows, PageDown,
End, the scroll, search, opening, renaming and deleting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from textual.widgets import Input

from chatroute.engine import Engine
from chatroute.store.ids import format_ts, new_id
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.screens.dialogs import ConfirmScreen, PromptScreen
from chatroute.tui.widgets.sidebar import ConversationList, SearchResults
from tests.tui.helpers import answer_question, settle

SIZE = (120, 40)  # the sidebar shows (below 100 columns it folds)
MANY = 1000


def _fill(engine: Engine) -> list[str]:
    """MANY conversations of one question and answer each, oldest first; the two oldest name a
    place no other does. Returns their ids, oldest first."""
    start = datetime.now(UTC) - timedelta(days=100)
    convs, msgs = [], []
    for i in range(MANY):
        ts = format_ts(start + timedelta(minutes=i))
        cid, uid, aid = new_id(), new_id(), new_id()
        place = {0: "Zanzibar", 1: "Kilimanjaro"}.get(i, "Lisbon")
        convs.append((cid, f"Trip {i} to {place}", ts, ts))
        msgs.append((uid, cid, None, "user", f"What to see in {place}?", None, ts))
        msgs.append((aid, cid, uid, "assistant", f"In {place}, the old town.", "openai/gpt-4o-mini", ts))
    with engine.store.transaction() as c:
        c.executemany("INSERT INTO conversations (id, title, system_prompt, pinned_model, cache_enabled, created_at,"
                      " updated_at, archived) VALUES (?, ?, NULL, NULL, 1, ?, ?, 0)", convs)
        c.executemany("INSERT INTO messages (id, conversation_id, parent_id, role, content, model, status, active,"
                      " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'complete', 1, ?, ?7)", msgs)
    return [c[0] for c in convs]


def _highlighted(listed: ConversationList) -> str | None:
    return None if listed.highlighted is None else listed.get_option_at_index(listed.highlighted).id


async def test_the_list_starts_with_a_page_and_the_keys_reach_the_oldest(real_engine: Engine) -> None:
    ids = _fill(real_engine)
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        listed = app.screen.query_one(ConversationList)
        assert app.screen.conversation_id == ids[-1] and _highlighted(listed) == ids[-1]  # the newest, opened
        assert 0 < listed.option_count < MANY  # not every conversation read and measured up front
        # PageDown goes on into the conversations not read yet, never wrapping to the top.
        listed.focus()
        steps = []
        for _ in range(MANY // 10):
            await pilot.press("pagedown")
            steps.append(listed.highlighted)
            if _highlighted(listed) == ids[0]:
                break
        assert _highlighted(listed) == ids[0], (steps[-3:], listed.option_count)
        assert steps == sorted(steps) and len(steps) < MANY // 20
        assert [listed.get_option_at_index(i).id for i in range(listed.option_count)] == ids[::-1]
        await pilot.press("enter")
        await settle(pilot, app)
        assert app.screen.conversation_id == ids[0]
        # r renames it (listed first now, as the most recently changed); Delete deletes one.
        listed.focus()
        await pilot.press("r")
        await settle(pilot, app)
        assert isinstance(app.screen, PromptScreen)
        app.screen.query_one(Input).value = "Zanzibar, renamed"
        await pilot.press("enter")
        await settle(pilot, app)
        assert str(listed.get_option_at_index(0).prompt) == "Zanzibar, renamed" and _highlighted(listed) == ids[0]
        assert listed.option_count < MANY  # listed again from the top, a page
        await pilot.press("end")  # now the oldest is the second one
        assert _highlighted(listed) == ids[1] and listed.option_count == MANY
        await pilot.press("delete")
        await settle(pilot, app)
        assert isinstance(app.screen, ConfirmScreen)
        await answer_question(pilot, "y")
        await settle(pilot, app)
        assert real_engine.store.get_conversation(ids[1]) is None
        listed_now = [listed.get_option_at_index(i).id for i in range(listed.option_count)]
        assert ids[1] not in listed_now and listed_now[0] == ids[0] and _highlighted(listed) == ids[0]
        await pilot.press("end")
        assert _highlighted(listed) == ids[2] and listed.option_count == MANY - 1


async def test_down_and_end_and_the_scroll_read_further(real_engine: Engine) -> None:
    ids = _fill(real_engine)
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        listed = app.screen.query_one(ConversationList)
        first_page = listed.option_count
        listed.focus()
        listed.highlighted = first_page - 2
        await pilot.press("down", "down", "down")  # past the first page, not back to the top
        assert listed.highlighted == first_page + 1 and listed.option_count > first_page
        listed.scroll_end(animate=False)  # the mouse wheel or the scrollbar at the bottom
        await pilot.pause()
        assert listed.option_count > first_page + 1
        await pilot.press("end")
        assert _highlighted(listed) == ids[0] and listed.option_count == MANY


async def test_up_on_the_newest_wraps_to_the_oldest_as_down_on_the_oldest_wraps_to_the_newest(
        real_engine: Engine) -> None:
    """↓ on the oldest wraps to the newest; ↑ on the newest, while older ones were unread, stayed
    there. Now it reads the rest, as End does, and goes to the oldest: the two ends wrap alike."""
    ids = _fill(real_engine)
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        listed = app.screen.query_one(ConversationList)
        assert listed.option_count < MANY and _highlighted(listed) == ids[-1]
        listed.focus()
        await pilot.press("up")
        assert _highlighted(listed) == ids[0] and listed.option_count == MANY
        await pilot.press("down")
        assert _highlighted(listed) == ids[-1]
        await pilot.press("up")
        assert _highlighted(listed) == ids[0]


async def test_search_opens_a_conversation_not_read_yet_and_the_list_marks_it(real_engine: Engine) -> None:
    ids = _fill(real_engine)
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        listed = app.screen.query_one(ConversationList)
        assert ids[1] not in {listed.get_option_at_index(i).id for i in range(listed.option_count)}
        await pilot.press("ctrl+f", *"kilimanjaro", "enter")
        await settle(pilot, app)
        results = app.screen.query_one(SearchResults)
        assert results.has_focus and results.option_count == 2  # its question and its answer
        await pilot.press("enter")
        await settle(pilot, app)
        assert app.screen.conversation_id == ids[1]
        assert listed.display and _highlighted(listed) == ids[1]  # back in the list, read down to it
