"""An answer's HTML-looking text is shown as written: a terminal has no HTML to render, and
Markdown's raw-HTML rules dropped it. `Option<T>` read `Option`, a `<details>` block vanished."""

from __future__ import annotations

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.markdown.answer import AnswerMarkdown
from chatroute.turn_events import TurnStarted
from tests.fakeserver import FakeServer, Reply
from tests.tui.helpers import assistants, settle, type_and_send

ANSWER = ("Return an Option<T> or a Vec<String>; in HTML, a line break is <br> and a comment <!-- like this -->.\n\n"
          "<details>\n<summary>Why</summary>\nThe hidden reason.\n</details>\n\n"
          "<div align=\"center\">Centred words</div>\n\n"
          "Done, see <https://example.com/docs>.")
SHOWN = ("Option<T>", "Vec<String>", "is <br> and", "<!-- like this -->", "<summary>Why</summary>",
         "The hidden reason.", "</details>", "<div align=\"center\">Centred words</div>", "https://example.com/docs")


def screen_text(app: ChatrouteApp) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def missing(app: ChatrouteApp) -> list[str]:
    text = screen_text(app)
    return [part for part in SHOWN if part not in text]


async def test_html_in_an_answer_is_shown_as_written(real_engine: Engine, fake_server: FakeServer) -> None:
    fake_server.script("gpt-4o", Reply(text=ANSWER))
    async with ChatrouteApp(real_engine).run_test(size=(150, 40)) as pilot:
        await type_and_send(pilot, "@gpt-4o How do I return an optional value?")
        [msg] = assistants(pilot.app)
        assert msg.text == ANSWER
        assert missing(pilot.app) == []  # streamed
    async with ChatrouteApp(real_engine).run_test(size=(150, 40)) as pilot:
        await settle(pilot, pilot.app)
        assert missing(pilot.app) == []  # reopened: built from the store


async def test_html_in_a_long_stored_answer_is_shown_as_written(real_engine: Engine, fake_server: FakeServer) -> None:
    """Past AnswerMarkdown.LARGE_MIN_CHARS a stored answer is drawn whole by another renderer."""
    filler = "\n\n".join(f"Paragraph {i} of the long part." for i in range(1000))
    text = ANSWER + "\n\n" + filler
    assert len(text) > AnswerMarkdown.LARGE_MIN_CHARS
    fake_server.script("gpt-4o", Reply(text=text, chunk_words=False))
    # Stored by the engine's turn, as the chat screen's send stores it; drawing it while it
    # streamed (a block per paragraph) is test_html_in_an_answer_is_shown_as_written's part.
    events = [e async for e in real_engine.run_turn(None, "@gpt-4o How do I return an optional value?")]
    assert isinstance(events[0], TurnStarted)
    assert real_engine.store.history(events[0].conversation_id)[-1].content == text
    async with ChatrouteApp(real_engine).run_test(size=(150, 40)) as pilot:
        await settle(pilot, pilot.app)
        [msg] = assistants(pilot.app)
        msg.query_one(AnswerMarkdown).scroll_visible(top=True, animate=False)
        await pilot.pause()
        assert missing(pilot.app) == []
