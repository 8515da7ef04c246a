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
from tests.tui.fake_engine import FakeEngine
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


async def test_a_why_panel_opened_while_the_answer_is_awaited_follows_the_reroute(
        real_engine: Engine, fake_server: FakeServer) -> None:
    """w pressed while the router's pick is still being asked: once it fails and another model
    answers, the open panel says so, as a panel opened afterwards does. It kept saying the pick
    was chosen, while the badge under it named the model that answered."""
    import asyncio
    import threading

    prompt = "Give me three tips for writing clear commit messages."
    picked = real_engine.route(prompt)["model"]
    fake_server.script(picked.split("/", 1)[1], Fault(status=503))
    held = threading.Event()
    fake_server.on_request = lambda req: held.wait(10) if req.model == picked.split("/", 1)[1] else None
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        composer = app.screen.query_one("#composer")
        composer.insert(prompt)  # type: ignore[attr-defined]
        composer.action_submit()  # type: ignore[attr-defined]
        for _ in range(1000):  # routed, its request held at the server
            await asyncio.sleep(0.01)
            if fake_server.requests and assistants(app) and assistants(app)[0].route is not None:
                break
        [answer] = assistants(app)
        assert answer.status == "streaming" and answer.route is not None
        answer.focus()
        await pilot.press("w")
        await pilot.pause()
        assert why_text(app).startswith(f"why {short_model(picked)}")
        held.set()
        await settle(pilot, app)
        answered = answer.model
        assert answered is not None and answered != picked and answer.text
        kept_open = why_text(app)
        await pilot.press("w", "w")  # closed and opened again
        await pilot.pause()
        assert kept_open == why_text(app)
    assert kept_open.startswith(f"why {short_model(answered)}"), kept_open
    rows = {line.split()[0]: line for line in kept_open.splitlines() if line.split()}
    assert "◀ answered" in rows[short_model(answered)], kept_open


async def test_the_why_panel_at_40_columns_cuts_no_number_either(engine: FakeEngine) -> None:
    """At 40 columns even the narrowest layout (model, quality, cost) was wider than the panel,
    and Rich cut the numbers to fit: every expected cost read '$0.00…' (as if free) and the
    headings 'qual…', 'exp. …'. Now the model names give way first, and the winner's mark is ◀
    alone."""
    import re

    from tests.tui.fake_engine import Reply

    engine.script.append(Reply(text="ok"))
    app = ChatrouteApp(engine)
    async with app.run_test(size=(40, 12)) as pilot:
        await type_and_send(pilot, "hi")
        [answer] = assistants(app)
        answer.focus()
        await pilot.press("w")
        await pilot.pause()
        panel = answer.query_one(WhyPanel)
        width = panel.content_size.width
        console = Console(width=width, record=True)
        console.print(panel.content)
        shown = console.export_text()
    lines = shown.splitlines()
    assert all(len(line.rstrip()) <= width for line in lines), shown
    header = next(line for line in lines if line.lstrip().startswith("mod"))
    assert "quality" in header and "exp. cost" in header, shown
    rows = [line.split() for line in lines[lines.index(header) + 1:] if "$" in line]
    assert len(rows) == 4 and all("…" not in " ".join(row[1:]) for row in rows), shown  # no number cut
    assert all(re.fullmatch(r"\$[\d.]+", row[2]) for row in rows), shown
    assert [row[-1] for row in rows].count("◀") == 1, shown  # the winner still marked
