"""Square brackets in text chatroute did not write (a conversation's title, an error message)
are shown as written: never parsed as Textual markup, which could hide words ("raise [budget]"),
crash the screen ("[/]" closes nothing) or plant a clickable action ("[@click=app.quit]")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from textual.widgets import Static

from chatroute.tui.app import ChatrouteApp
from tests.tui.fake_engine import FakeEngine, FakeStore, seed_conversation
from tests.tui.helpers import answer_question, settle
from tests.tui.test_costs_layout import screen_text

SIZE = (120, 40)
TITLE = "What does [/] close in [@click=app.quit]Rich[/] markup?"
TUI = Path(__file__).resolve().parents[2] / "chatroute" / "tui"


def _notes(app: ChatrouteApp) -> list[str]:
    return [n.message for n in app._notifications]


async def test_a_title_with_markup_is_quoted_as_written_when_deleting(store: FakeStore) -> None:
    seed_conversation(store, TITLE, [("x", "y")])
    app = ChatrouteApp(FakeEngine(store))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        app.screen.query_one("#conversations").focus()
        await pilot.press("delete")
        await pilot.pause()
        question = app.screen.query_one(Static)
        assert TITLE in str(question.render())  # brackets and all, and the dialog drew
        await answer_question(pilot, "n")
        await settle(pilot, app)
        assert app.is_running and len(store.list_conversations()) == 1


async def test_an_error_with_markup_is_notified_as_written(store: FakeStore) -> None:
    app = ChatrouteApp(FakeEngine(store))
    async with app.run_test(size=SIZE, notifications=True) as pilot:  # toasts drawn, as in the app
        await settle(pilot, app)

        def failing_search(query: str) -> list[object]:
            raise ValueError(f'fts5: syntax error near "[/]" in {query!r}')

        app.screen.backend.search = failing_search  # type: ignore[method-assign]
        await pilot.press("ctrl+f")
        await pilot.pause()
        await pilot.press("[", "/", "]")
        await settle(pilot, app)
        assert app.is_running
        assert any('near "[/]"' in n for n in _notes(app))
        await pilot.pause()
        toasts = [str(t.render()) for t in app.screen.query("Toast")]
        assert any('near "[/]"' in t for t in toasts), toasts  # on screen as written


def test_every_notification_in_the_tui_is_plain_text() -> None:
    """Notifications carry outside text (errors, titles, model ids); Textual parses them as markup
    unless told not to. Every call passes markup=False, so a new one cannot forget."""
    missing = []
    for path in sorted(TUI.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "notify"
                    and not any(k.arg == "markup" and isinstance(k.value, ast.Constant) and k.value.value is False
                                for k in node.keywords)):
                missing.append(f"{path.relative_to(TUI)}:{node.lineno}")
    assert not missing, missing


async def test_a_model_id_with_brackets_is_listed_as_written_in_compare(
        engine: FakeEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    """A local server names its own models; one named with markup must not break the picker."""
    from chatroute.catalog.models import ModelInfo
    from tests.tui import fake_engine

    odd = ModelInfo(id="ollama/odd[/]name", provider="ollama", name="odd[/]name", input_cost_per_mtok=0.0,
                    output_cost_per_mtok=0.0, context_window=8192, ability=0.5)
    monkeypatch.setattr(fake_engine, "MODELS", [*fake_engine.MODELS, odd])
    app = ChatrouteApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        await pilot.pause()
        assert app.is_running
        assert "ollama/odd[/]name" in screen_text(app)


async def test_the_costs_screen_lists_a_title_with_markup_as_written(real_engine: object, fake_server: object) -> None:
    """A first prompt becomes the conversation's title; the costs screen's tables show it."""
    from tests.fakeserver import FakeServer, Reply
    from tests.tui.helpers import type_and_send

    assert isinstance(fake_server, FakeServer)
    fake_server.script("gpt-4o", Reply(text="ok", input_tokens=10, output_tokens=5))
    app = ChatrouteApp(real_engine)  # type: ignore[arg-type]
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "@gpt-4o In Rich, what does [/] close?")
        await pilot.press("f5")
        await settle(pilot, app)
        assert app.is_running
        assert "what does [/] close" in screen_text(app)


async def test_the_why_panel_shows_a_model_id_with_brackets(
        chatroute_home: Path, fake_server: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from chatroute.engine import Engine
    from tests.engine.helpers import OPENAI_KEY, write_config
    from tests.fakeserver import FakeServer
    from tests.tui.helpers import assistants, type_and_send

    assert isinstance(fake_server, FakeServer)
    odd = "openai/odd[/]name"
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    write_config(chatroute_home, fake_server, pool=["openai/gpt-4o-mini", odd],
                 extra=f'[models."{odd}"]\ninput_cost_per_mtok = 0.0\noutput_cost_per_mtok = 0.0\n'
                       'context_window = 32768\nmax_output_tokens = 4096\nability = 0.5\n')
    app = ChatrouteApp(Engine.open())
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "hello there, what is 2+2?")
        [answer] = assistants(app)
        answer.focus()
        await pilot.press("w")
        await settle(pilot, app)
        assert app.is_running
        assert "odd[/]name" in screen_text(app)
