"""NO_COLOR with one of Textual's ANSI themes (ansi-dark, ansi-light: the terminal's own colours).
Textual picks its no-colour filter when the app is created: for an ANSI theme it drops colours,
leaving the terminal's own, and otherwise turns each colour to a grey. chatroute sets its theme
(ui.theme) after that, so an ANSI theme got the grey filter, which takes the terminal's default
colour for black: every text the theme leaves in the terminal's colours, the answers' and the
composer's included, was drawn black on black."""

from __future__ import annotations

import pytest
from rich.segment import Segment
from textual.geometry import Region
from textual.widget import Widget
from textual.widgets import Markdown

from chatroute.tui.app import ChatrouteApp
from chatroute.tui.widgets.composer import Composer
from tests.tui.fake_engine import FakeEngine, Reply
from tests.tui.helpers import assistants, type_and_send

SIZE = (80, 24)


def _segments(widget: Widget, word: str) -> list[Segment]:
    """The drawn segments holding `word`, in `widget` and the widgets it holds."""
    found = []
    for part in [widget, *widget.query("*")]:
        width, height = part.outer_size
        found += [seg for strip in part.render_lines(Region(0, 0, width, height)) for seg in strip if word in seg.text]
    return found


@pytest.mark.parametrize("theme", ["ansi-dark", "ansi-light"])
async def test_with_no_color_an_ansi_theme_draws_text_in_the_terminals_own_colours(
        engine: FakeEngine, theme: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    engine.script += [Reply(text="Lisbon is the capital.")]
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        app.theme = theme
        await type_and_send(pilot, "Capital of Portugal?")
        assert app.no_color and app.native_ansi_color
        answer = assistants(app)[-1].query(Markdown).first()
        composer = app.screen.query_one(Composer)
        composer.insert("draft")
        await pilot.pause()
        for widget, word in ((answer, "Lisbon"), (composer, "draft")):
            segments = _segments(widget, word)
            assert segments, word
            for seg in segments:  # before: #000000 on #000000
                assert seg.style is not None
                assert seg.style.color is None or seg.style.color.is_default, (word, str(seg.style))
                assert seg.style.bgcolor is None or seg.style.bgcolor.is_default, (word, str(seg.style))


async def test_with_no_color_a_theme_of_its_own_colours_is_still_drawn_in_greys(
        engine: FakeEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unchanged: chatroute's own themes are turned to greys, as Textual does."""
    monkeypatch.setenv("NO_COLOR", "1")
    engine.script += [Reply(text="Lisbon is the capital.")]
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "Capital of Portugal?")
        answer = assistants(app)[-1].query(Markdown).first()
        (seg,) = _segments(answer, "Lisbon")
        assert seg.style is not None and seg.style.color is not None and seg.style.bgcolor is not None
        fg, bg = seg.style.color.get_truecolor(), seg.style.bgcolor.get_truecolor()
        assert fg.red == fg.green == fg.blue and bg.red == bg.green == bg.blue and fg != bg
