"""Keyboard and 80x24 layout friction: ↑ out of the composer, ctrl+c and Esc mid-stream, the
sibling indicator and focus, one-line badges and status, the sidebar at narrow widths."""

from __future__ import annotations

import asyncio

import pytest
from textual.widgets import Static

from chatroute.tui.app import ChatrouteApp
from chatroute.tui.widgets.badge import Badge, WhyPanel
from chatroute.tui.widgets.composer import Composer
from chatroute.tui.widgets.message import AssistantMessage
from chatroute.tui.widgets.sidebar import ConversationList, Sidebar
from tests.tui.fake_engine import Fail, FakeEngine, Reply
from tests.tui.helpers import assistants, badge, settle, type_and_send
from tests.tui.test_costs_layout import screen_text
from tests.tui.test_typing_bursts import burst

SIZE = (120, 40)


def error_line(msg: AssistantMessage) -> str:
    return str(msg.query_one(".error-line", Static).render())


async def test_up_in_the_composer_goes_to_the_last_message(engine: FakeEngine) -> None:
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "one")
        await type_and_send(pilot, "two")
        await pilot.press("up")
        assert app.focused is assistants(app)[-1]
        await pilot.press("up")
        assert app.focused is app.screen.query("UserMessage").last()
        # with text on two lines, ↑ first moves the cursor inside the composer
        composer = app.screen.query_one(Composer)
        composer.focus()
        composer.insert("a\nb")
        await pilot.press("up")
        assert app.focused is composer and composer.cursor_location[0] == 0


async def _start_slow_answer(pilot, app: ChatrouteApp, engine: FakeEngine) -> AssistantMessage:  # type: ignore[no-untyped-def]
    engine.script.append(Reply(text="word " * 200, chunks=200, delay=0.05))
    composer = app.screen.query_one(Composer)
    composer.insert("tell me a long story")
    composer.action_submit()
    for _ in range(100):
        await asyncio.sleep(0.02)
        msgs = assistants(app)
        if msgs and msgs[-1].status == "streaming" and msgs[-1].text:
            return msgs[-1]
    raise AssertionError("the answer never started streaming")


async def test_ctrl_c_mid_stream_stops_the_answer(engine: FakeEngine) -> None:
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        msg = await _start_slow_answer(pilot, app, engine)
        await pilot.press("ctrl+c")
        await settle(pilot, app)
        assert msg.status == "interrupted" and len(msg.text) < len("word " * 200)
        notes = [str(n.message) for n in app._notifications]
        assert not any("quit" in n.lower() for n in notes), notes
        # the stop is the reader's, not a failure
        line = error_line(msg)
        assert "stopped by you" in line and "⚠" not in line


async def test_esc_mid_stream_reads_as_stopped_not_failed(engine: FakeEngine) -> None:
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        msg = await _start_slow_answer(pilot, app, engine)
        await pilot.press("escape")
        await settle(pilot, app)
        assert "stopped by you" in error_line(msg)


async def test_esc_on_the_streaming_answer_stops_it(engine: FakeEngine) -> None:
    """g focuses the new answer while it streams; Esc there stops it, as from the composer."""
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        msg = await _start_slow_answer(pilot, app, engine)
        msg.focus()
        await pilot.pause()
        await pilot.press("escape")
        await settle(pilot, app)
        assert msg.status == "interrupted" and len(msg.text) < len("word " * 200)
        assert "stopped by you" in error_line(msg)


async def test_regenerated_answer_shows_its_position_at_once_and_errors_too(engine: FakeEngine) -> None:
    engine.script += [Reply(text="first answer"), Reply(text="second answer"), Fail(error="503 overloaded")]
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "q")
        assistants(app)[0].focus()
        await pilot.press("g")
        await settle(pilot, app)
        [second] = assistants(app)
        assert "‹2/2›" in badge(second)
        second.focus()
        await pilot.press("g")
        await settle(pilot, app)
        [failed] = assistants(app)
        assert failed.status == "error" and "‹3/3›" in badge(failed)


async def test_sibling_switch_keeps_focus_off_the_sidebar_and_keeps_keys(engine: FakeEngine) -> None:
    engine.script += [Reply(text="first answer"), Reply(text="second answer"), Reply(text="third answer")]
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "q")
        for _ in range(2):
            assistants(app)[0].focus()
            await pilot.press("g")
            await settle(pilot, app)
        focused: list[object] = []
        app.screen.watch(app.screen, "focused", lambda widget: focused.append(widget), init=False)
        assistants(app)[0].focus()
        await pilot.pause()
        # two steps back at once: the second arrives while the first answer is being re-mounted
        await burst(pilot, "", "left_square_bracket", "left_square_bracket")
        await settle(pilot, app)
        [shown] = assistants(app)
        assert shown.text == "first answer" and "‹1/3›" in badge(shown)
        assert app.focused is shown
        assert not any(isinstance(w, (ConversationList, Sidebar)) for w in focused), focused


async def test_at_80_columns_the_sidebar_folds_and_badges_and_status_keep_one_line(engine: FakeEngine) -> None:
    engine.script.append(Reply(text="ok", model="openai/gpt-4o", cost_usd=0.0034, ttft_ms=320, total_ms=2100,
                               tokens_per_s=85, input_tokens=12345, output_tokens=678))
    app = ChatrouteApp(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        assert not app.screen.query_one(Sidebar).display
        app.screen.next_override = "openai/gpt-4o"
        await type_and_send(pilot, "hello")
        [msg] = assistants(app)
        bar = msg.query_one(Badge)
        assert bar.size.height == 1
        shown = str(bar.render())
        assert shown.startswith("gpt-4o (override) · $0.0034") and "‹" not in shown
        assert len(shown) <= bar.size.width
        app.screen.next_override = "anthropic/claude-3-5-haiku-20241022"  # the reactive retitles
        await pilot.resize_terminal(50, 24)
        await pilot.pause()
        [line] = [ln for ln in screen_text(app).splitlines() if "next turn" in ln]
        assert line.rstrip().endswith("…") and "prices" not in line, line
    app = ChatrouteApp(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        assert app.screen.query_one(Sidebar).display


async def test_why_panel_opens_in_view_at_80x24(engine: FakeEngine) -> None:
    engine.script.append(Reply(text="\n\n".join(f"paragraph {i}" for i in range(30))))
    app = ChatrouteApp(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        for prompt in ("a long one", "two"):
            await type_and_send(pilot, prompt)
        last = assistants(app)[0]
        last.focus()
        app.screen.query_one("#chat").scroll_to_widget(last, top=True, animate=False)
        await pilot.pause()
        await pilot.press("w")
        await settle(pilot, app)
        panel = last.query_one(WhyPanel)
        chat = app.screen.query_one("#chat")
        assert chat.region.contains_region(panel.region), (panel.region, chat.region)


async def test_notifications_leave_the_newest_badge_visible(engine: FakeEngine) -> None:
    from textual.widgets._toast import Toast

    app = ChatrouteApp(engine)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await type_and_send(pilot, "hello")
        app.notify("Exported to somewhere/long/enough/to/wrap/over/two/lines.md and another.json", timeout=30)
        await pilot.pause(0.3)
        bar = assistants(app)[-1].query_one(Badge)
        toasts = [w for w in app.screen.walk_children(with_self=False) if isinstance(w, Toast)]
        assert toasts
        assert not any(t.region.overlaps(bar.region) for t in toasts), ([t.region for t in toasts], bar.region)


@pytest.mark.parametrize("key", ["ctrl+o", "f2"])
@pytest.mark.parametrize("width", [4, 8])
async def test_a_dialog_survives_a_very_narrow_terminal(engine: FakeEngine, key: str, width: int) -> None:
    """The model picker's list had no width left at 8 columns and less, and Rich's wrapping
    ended the app (range() step 0)."""
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "q")
        await pilot.press(key)
        await settle(pilot, app)
        await pilot.resize_terminal(width, 24)
        await pilot.pause()
        await pilot.pause()
        assert app.is_running
        await pilot.press("escape")
        await pilot.resize_terminal(*SIZE)
        await settle(pilot, app)
        assert app.is_running


@pytest.mark.parametrize(("size", "after"), [((60, 20), False), ((120, 30), True)], ids=["narrow", "wide"])
async def test_closing_the_search_folds_the_sidebar_it_opened(engine: FakeEngine, size: tuple[int, int],
                                                              after: bool) -> None:
    app = ChatrouteApp(engine)
    async with app.run_test(size=size) as pilot:
        sidebar = app.screen.query_one(Sidebar)
        assert sidebar.display is after  # the width decides, the user has not chosen
        await pilot.press("ctrl+f")
        await pilot.pause()
        assert sidebar.display and sidebar.has_class("-searching")
        await pilot.press("escape")
        await pilot.pause()
        assert sidebar.display is after and not sidebar.has_class("-searching")
        await pilot.press("ctrl+b")  # the user's own choice stays through a search
        await pilot.press("ctrl+f")
        await pilot.press("escape")
        await pilot.pause()
        assert sidebar.display is not after


@pytest.mark.parametrize("size", [(120, 30), (80, 30)])
async def test_hiding_the_sidebar_while_searching_gives_the_keys_back_to_the_composer(
        engine: FakeEngine, size: tuple[int, int]) -> None:
    """Ctrl+B during a search hid the sidebar with the focus still in it: typed keys went nowhere."""
    from chatroute.tui.widgets.composer import Composer

    app = ChatrouteApp(engine)
    async with app.run_test(size=size) as pilot:
        await pilot.press("ctrl+f", *"hel")
        await pilot.pause()
        sidebar = app.screen.query_one(Sidebar)
        assert sidebar.has_class("-searching")
        await pilot.press("ctrl+b", *"abc")
        await pilot.pause()
        assert not sidebar.display and not sidebar.has_class("-searching")
        assert isinstance(app.focused, Composer) and app.focused.text == "abc"


async def test_a_long_title_is_one_line_in_the_sidebar_ending_in_an_ellipsis(engine: FakeEngine) -> None:
    long = "How do I configure an nginx reverse proxy with websockets behind a load balancer"
    engine.store.create_conversation(long)
    app = ChatrouteApp(engine)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        listed = app.screen.query_one(ConversationList)
        index = next(i for i in range(listed.option_count) if str(listed.get_option_at_index(i).prompt) == long)
        lines = [listed.render_line(y).text.rstrip() for y in range(listed.option_count + 1)]
        shown = lines[index]
        assert shown.endswith("…") and long.startswith(shown[:-1].strip())
        assert len([line for line in lines if line]) == listed.option_count  # one row per conversation


async def test_a_terminal_narrowed_mid_search_keeps_the_search_and_its_keys(
        real_engine: object, fake_server: object) -> None:
    """The terminal narrowed below the sidebar's width (a tmux split, a window dragged) while a
    search was open, an answer streaming: the sidebar folded with the focus still in it, so the
    rest of the query went nowhere and the search could not be seen. A search open is the user's
    choice, as Ctrl+F on a narrow terminal is: it stays, with its keys, until closed; closing it
    folds the sidebar as the width says. Focus in the folded list goes back to the composer."""
    from chatroute.engine import Engine
    from tests.fakeserver import FakeServer
    from tests.fakeserver import Reply as Streamed

    assert isinstance(real_engine, Engine) and isinstance(fake_server, FakeServer)
    fake_server.script("gpt-4o", Streamed(text="Lighthouses guide ships.", input_tokens=20, output_tokens=4))
    # Slow: each key waits for the app to take in what it was given, and a fast stream keeps it busy.
    fake_server.script("gpt-4o", Streamed(endless=True, tokens_per_s=10))
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "@gpt-4o What do lighthouses do?")
        composer = app.screen.query_one(Composer)
        composer.insert("@gpt-4o Tell me everything about ships.")
        composer.action_submit()  # pilot.press("enter") would wait for an endless stream
        for _ in range(1000):
            await asyncio.sleep(0.01)
            if len(assistants(app)) == 2 and assistants(app)[1].text:
                break
        sidebar = app.screen.query_one(Sidebar)
        await pilot.press("ctrl+f", *"ligh")
        await pilot.pause()
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        await pilot.press(*"thouse")
        await pilot.pause()
        assert sidebar.display and sidebar.has_class("-searching")
        assert app.screen.query_one("#search").value == "lighthouse"  # type: ignore[attr-defined]
        [_, streaming] = assistants(app)
        assert streaming.status == "streaming"
        await pilot.press("ctrl+c")
        await settle(pilot, app)
        assert streaming.status == "interrupted"
        await pilot.press("escape")  # closes the search
        await pilot.pause()
        assert not sidebar.display and not sidebar.has_class("-searching")

        await pilot.resize_terminal(*SIZE)
        await pilot.pause()
        app.screen.query_one(ConversationList).focus()
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        await pilot.press(*"abc")
        await pilot.pause()
        assert not sidebar.display
        assert isinstance(app.focused, Composer) and app.focused.text == "abc"
