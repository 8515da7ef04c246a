"""The chat's UI intents are typed messages (one class per intent, handled by its own on_...
method), and the conversation, override and preset are reactive: setting one retitles the
screen with no other call."""

from __future__ import annotations

from textual.message import Message

from chatroute.tui.app import ChatrouteApp
from chatroute.tui.widgets.composer import Composer
from chatroute.tui.widgets.message import AnswerIntent, AssistantMessage, MessageWidget, UserMessage
from chatroute.tui.widgets.sidebar import ConversationList, Sidebar
from tests.tui.fake_engine import FakeEngine, FakeStore, Reply, seed_conversation
from tests.tui.helpers import assistants, settle, subtitle, type_and_send

SIZE = (120, 40)


class _Posted(list[Message]):
    """Messages seen by the app's message hook, each once (a bubbling message is seen by every
    node it passes)."""

    def __call__(self, message: Message) -> None:
        if not any(m is message for m in self):
            self.append(message)


async def test_message_keys_post_one_typed_message_per_intent(engine: FakeEngine) -> None:
    engine.script += [Reply(text="first answer"), Reply(text="second answer")]
    posted = _Posted()
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE, message_hook=posted) as pilot:
        await type_and_send(pilot, "hello")
        [answer] = assistants(app)
        answer.focus()
        await pilot.pause()
        posted.clear()
        await pilot.press("g")  # regenerate: a second reply, now the one shown
        await settle(pilot, app)
        regenerate = [m for m in posted if isinstance(m, AnswerIntent)]
        assert [type(m) for m in regenerate] == [AssistantMessage.Regenerate] and regenerate[0].widget is answer
        [shown] = assistants(app)
        assert shown.text == "second answer"
        shown.focus()
        await pilot.pause()
        posted.clear()
        await pilot.press("left_square_bracket")  # back to the first reply
        await settle(pilot, app)
        [sibling] = [m for m in posted if isinstance(m, AssistantMessage.ShowSibling)]
        assert sibling.delta == -1 and sibling.widget is shown
        assert assistants(app)[0].text == "first answer"
        first = assistants(app)[0]
        first.focus()
        await pilot.pause()
        posted.clear()
        await pilot.press("up", "i")
        await pilot.pause()
        steps = [m for m in posted if isinstance(m, MessageWidget.StepFocus)]
        back = [m for m in posted if isinstance(m, MessageWidget.BackToComposer)]
        assert [s.delta for s in steps] == [-1] and steps[0].widget is first
        assert len(back) == 1 and isinstance(back[0].widget, UserMessage)
        assert isinstance(app.focused, Composer)
        assert not any(type(m).__name__ == "Requested" for m in posted)


async def test_sidebar_posts_typed_open_and_rename(store: FakeStore) -> None:
    trip = seed_conversation(store, "Trip", [("q", "a")])
    seed_conversation(store, "Newer", [("q2", "a2")])
    posted = _Posted()
    app = ChatrouteApp(FakeEngine(store))
    async with app.run_test(size=SIZE, message_hook=posted) as pilot:
        await settle(pilot, app)
        options = app.screen.query_one(ConversationList)
        options.focus()
        options.highlighted = options.get_option_index(trip.id)
        await pilot.press("enter")
        await settle(pilot, app)
        [opened] = [m for m in posted if isinstance(m, Sidebar.OpenConversation)]
        assert opened.conversation_id == trip.id and opened.message_id is None
        assert app.screen.conversation_id == trip.id
        options.focus()
        await pilot.press("r")
        await pilot.pause()
        [rename] = [m for m in posted if isinstance(m, Sidebar.RenameConversation)]
        assert rename.conversation_id == trip.id


async def test_reactive_state_retitles_the_screen(store: FakeStore) -> None:
    lisbon = seed_conversation(store, "Trip to Lisbon", [("q", "a")])
    seed_conversation(store, "SQL window functions", [("q2", "a2")])
    app = ChatrouteApp(FakeEngine(store))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        screen = app.screen
        assert "SQL window functions" in subtitle(app)
        screen.conversation_id = lisbon.id  # no other call: the watcher retitles
        assert subtitle(app).startswith("Trip to Lisbon")
        screen.conversation_id = None
        assert subtitle(app).startswith("new conversation")
        app.action_set_preset("cheap")
        assert screen.preset == "cheap" and subtitle(app).endswith("preset: cheap")
        screen.next_override = "openai/gpt-4o"
        status = str(screen.query_one("#status").render())
        assert "next turn: gpt-4o (override)" in status
        screen.next_override = None
        assert "next turn" not in str(screen.query_one("#status").render())
