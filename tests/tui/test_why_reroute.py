"""The why panel (w) of an answer that came from another model after a reroute names the model
that answered, and says what happened to the one the router picked. Real engine and store,
official SDKs, the fake provider."""

from __future__ import annotations

from rich.console import Console

from chatroute.engine import Engine
from chatroute.format import short_model
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.widgets.badge import WhyPanel
from tests.fakeserver import FakeServer, Fault
from tests.tui.helpers import assistants, badge, settle, type_and_send

SIZE = (120, 40)


def why_text(app: ChatrouteApp) -> str:
    [answer] = assistants(app)
    console = Console(width=160, record=True)
    console.print(answer.query_one(WhyPanel).content)
    return console.export_text()


async def test_why_after_a_reroute_names_the_model_that_answered(real_engine: Engine,
                                                                 fake_server: FakeServer) -> None:
    prompt = "Give me three tips for writing clear commit messages."
    picked = real_engine.route(prompt)["model"]
    fake_server.script(picked.split("/", 1)[1], Fault(status=429, retry_after=30))
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, prompt)
        await settle(pilot, app)
        [answer] = assistants(app)
        answered = answer.model
        assert answered is not None and answered != picked and answer.text
        assert badge(answer).startswith(short_model(answered))
        answer.focus()
        await pilot.press("w")
        await pilot.pause()
        shown = why_text(app)
        # Reopened from the store, the panel says the same.
        conversation_id = app.screen.conversation_id
        await pilot.press("w", "ctrl+n")
        await settle(pilot, app)
        await app.screen.open_conversation(conversation_id)
        await settle(pilot, app)
        assistants(app)[0].focus()
        await pilot.press("w")
        await pilot.pause()
        assert why_text(app) == shown
    head = shown.splitlines()[0]
    assert head.startswith(f"why {short_model(answered)}"), shown
    rows = {line.split()[0]: line for line in shown.splitlines() if line.split()}
    assert "◀ answered" in rows[short_model(answered)], shown
    assert "429" in rows[short_model(picked)] and "◀ chosen" not in rows[short_model(picked)], shown


async def test_the_why_panel_on_a_narrow_screen_cuts_no_number(real_engine: Engine, fake_server: FakeServer) -> None:
    """At 60 columns the panel's numbers were cut ("$0.0…", "+0.8…") and "◀ chosen" wrapped
    letter by letter, while the reason column took the room: now the least telling columns give
    way first (latency, utility, the adjustment), and the notes go under the table."""
    import re

    prompt = "Give me three tips for writing clear commit messages."
    picked = real_engine.route(prompt)["model"]
    fake_server.script(picked.split("/", 1)[1], Fault(status=429, retry_after=30))
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=(60, 30)) as pilot:
        await type_and_send(pilot, prompt)
        await settle(pilot, app)
        [answer] = assistants(app)
        answer.focus()
        await pilot.press("w")
        await pilot.pause()
        panel = answer.query_one(WhyPanel)
        width = panel.content_size.width
        assert 0 < width <= 60
        console = Console(width=width, record=True)
        console.print(panel.content)
        shown = console.export_text()
    lines = shown.splitlines()
    assert all(len(line.rstrip()) <= width for line in lines), shown
    assert not re.search(r"[$+\-.\d]…", shown), shown  # no number cut
    header = next(line for line in lines if line.lstrip().startswith("model"))
    assert "quality" in header and "exp. cost" in header, shown
    # The failed pick's note is under the table, whole.
    assert any(line.startswith(f"{short_model(picked)}: ") and "429" in line for line in lines), shown
