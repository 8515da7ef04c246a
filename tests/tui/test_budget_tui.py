"""Budgets in the TUI, through the real Engine, Store and router against the fake
provider server: the 80% and 100% warnings, and past the cap a confirmation before spending
("Send anyway on <cheapest model>?"), where no keeps the prompt and yes sends that one turn.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from textual.pilot import Pilot

from chatroute.catalog.cost import estimate_cost
from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.screens.chat import ChatScreen
from chatroute.tui.screens.dialogs import OverBudgetScreen
from tests.engine.helpers import OPENAI_KEY, write_config
from tests.fakeserver import FakeServer, Reply
from tests.tui.helpers import answer_question, assistants, badge, settle, type_and_send

SIZE = (120, 40)
MINI = "openai/gpt-4o-mini"
PROMPT = "Name three rivers in Europe."


def _engine(home: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch, budget: str) -> Engine:
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", "sk-ant-test")
    write_config(home, server, extra=f"[budget]\n{budget}\n")
    return Engine.open()


def _mini_cost(home: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch, n_in: int, n_out: int) -> float:
    engine = _engine(home, server, monkeypatch, "")
    cost = estimate_cost(engine.catalog.get(MINI), n_in, n_out)
    assert cost
    return cost


def _status(app: ChatrouteApp) -> str:
    return str(app.screen.query_one("#status").render())


def _notes(app: ChatrouteApp) -> list[str]:
    return [n.message for n in app._notifications]


async def _spend(pilot: Pilot, server: FakeServer, n_in: int, n_out: int, prompt: str) -> None:
    """A turn the user chose the model for (`@model` is never blocked by a cap)."""
    server.script("gpt-4o-mini", Reply(text="spent", input_tokens=n_in, output_tokens=n_out))
    await type_and_send(pilot, f"@gpt-4o-mini {prompt}")


@asynccontextmanager
async def _past_the_cap(home: Path, server: FakeServer,
                        monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[ChatrouteApp, Pilot]]:
    """The TUI open on a daily cap of $0.0001 that one turn the user chose has gone past."""
    app = ChatrouteApp(_engine(home, server, monkeypatch, "daily_usd = 0.0001"), close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        await _spend(pilot, server, 1000, 1000, "a pricey turn")
        await settle(pilot, app)
        yield app, pilot


async def test_80_and_100_percent_warnings_show_once_each(chatroute_home: Path, fake_server: FakeServer,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    cost = _mini_cost(chatroute_home, fake_server, monkeypatch, 1000, 100)
    engine = _engine(chatroute_home, fake_server, monkeypatch, f"daily_usd = {cost / 0.9:.10f}")
    app = ChatrouteApp(engine, close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        assert "budget" not in _status(app) and not any("budget" in n for n in _notes(app))
        await _spend(pilot, fake_server, 1000, 100, "first")
        await settle(pilot, app)
        assert "⚠ budget 90% used" in _status(app)
        assert [n for n in _notes(app) if "budget" in n] == [
            n for n in _notes(app) if n.startswith("budget at 80% — the router is stepping down")]
        assert len([n for n in _notes(app) if "budget" in n]) == 1

        await _spend(pilot, fake_server, 100, 10, "second")  # ~99%: still "warn", no second toast
        await settle(pilot, app)
        assert len([n for n in _notes(app) if "budget" in n]) == 1

        await _spend(pilot, fake_server, 1000, 100, "third")  # past 100%
        await settle(pilot, app)
        assert "⛔ budget reached" in _status(app)
        over = [n for n in _notes(app) if n.startswith("budget reached")]
        assert len(over) == 1 and "today" in over[0]


async def test_past_the_cap_sending_asks_first_no_keeps_the_prompt_yes_sends(
        chatroute_home: Path, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    async with _past_the_cap(chatroute_home, fake_server, monkeypatch) as (app, pilot):
        chat = app.screen
        assert isinstance(chat, ChatScreen)
        conv = chat.conversation_id
        stored = len(app.engine.store.history(conv))
        requests = len(fake_server.requests)

        await type_and_send(pilot, PROMPT)
        modal = app.screen
        assert isinstance(modal, OverBudgetScreen)
        question = str(modal.query_one("#over-budget-question").render())
        assert question.startswith("Daily budget $0.0001 reached (spent $0.0")
        assert "Send anyway on gpt-4o-mini" in question

        await pilot.press("enter")  # Enter is the composer's key: it must not say yes here
        await pilot.pause()
        assert app.screen is modal

        await answer_question(pilot, "n")
        await settle(pilot, app)
        assert app.screen is chat
        assert chat.composer.text == PROMPT  # nothing lost
        assert len(fake_server.requests) == requests  # nothing sent
        assert len(app.engine.store.history(conv)) == stored  # nothing stored
        assert len(assistants(app)) == 1

        fake_server.script("gpt-4o-mini", Reply(text="Danube, Rhine, Loire.", input_tokens=20, output_tokens=6))
        chat.composer.focus()
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, OverBudgetScreen)
        await answer_question(pilot, "y")
        await settle(pilot, app)
        assert app.screen is chat and chat.composer.text == ""
        assert len(fake_server.requests) == requests + 1
        assert fake_server.requests[-1].model == "gpt-4o-mini"
        answer = assistants(app)[-1]
        assert answer.text == "Danube, Rhine, Loire." and badge(answer).startswith(
            "gpt-4o-mini · why: over the daily budget, sent as you asked · $")
        assert "you chose to send anyway" in answer.record.route["reason"]

        # The yes was for that turn only: the next one asks again.
        await type_and_send(pilot, "And three in Asia?")
        assert isinstance(app.screen, OverBudgetScreen)
        await pilot.press("escape")
        await settle(pilot, app)
        assert chat.composer.text == "And three in Asia?"
        assert len(fake_server.requests) == requests + 1


async def test_past_the_cap_regenerate_asks_too(chatroute_home: Path, fake_server: FakeServer,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # A cap the routed turn is expected to fit in (a turn expected to cost more than is left is
    # refused before it is sent); its reported usage then takes the spend past it.
    engine = _engine(chatroute_home, fake_server, monkeypatch, "daily_usd = 0.001")
    app = ChatrouteApp(engine, close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        # A routed turn under the cap that takes the spend past it.
        fake_server.script(Reply(text="Danube, Rhine, Loire.", input_tokens=10_000, output_tokens=10_000))
        await type_and_send(pilot, PROMPT)
        assert "⛔ budget reached" in _status(app)
        requests = len(fake_server.requests)
        assistants(app)[-1].focus()
        await pilot.press("g")
        await settle(pilot, app)
        assert isinstance(app.screen, OverBudgetScreen)
        await answer_question(pilot, "n")
        await settle(pilot, app)
        assert len(fake_server.requests) == requests and len(assistants(app)) == 1
        # No prompt of the user's is in the composer: the notice says what happened, and the
        # focus stays on the answer (it said "your prompt is still in the composer").
        notes = [str(n.message) for n in app._notifications]
        assert "Not regenerated: the budget is unchanged" in notes and not any("composer" in n for n in notes)
        assert app.focused is assistants(app)[-1]

        fake_server.script("gpt-4o-mini", Reply(text="Seine, Elbe, Po.", input_tokens=20, output_tokens=6))
        assistants(app)[-1].focus()
        await pilot.press("g")
        await settle(pilot, app)
        await answer_question(pilot, "y")
        await settle(pilot, app)
        assert fake_server.requests[-1].model == "gpt-4o-mini" and len(fake_server.requests) == requests + 1
        [again] = assistants(app)
        assert again.text == "Seine, Elbe, Po." and again.record.route_kind == "routed"


async def test_under_the_cap_a_turn_dearer_than_what_is_left_asks_first(
        chatroute_home: Path, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # A cap smaller than this prompt's cost on any model: before, it went to the default unasked.
    engine = _engine(chatroute_home, fake_server, monkeypatch, "")
    cheapest = min(c["expected_cost_usd"] for c in engine.route(PROMPT)["candidates"])
    await engine.aclose()
    engine = _engine(chatroute_home, fake_server, monkeypatch, f"daily_usd = {cheapest / 2:.12f}")
    app = ChatrouteApp(engine, close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, PROMPT)
        modal = app.screen
        assert isinstance(modal, OverBudgetScreen)
        question = str(modal.query_one("#over-budget-question").render())
        assert "left, less than this turn would cost" in question and "Send anyway on gpt-4o-mini" in question
        await answer_question(pilot, "n")
        await settle(pilot, app)
        assert fake_server.requests == []


async def test_keys_typed_on_after_enter_are_no_answer_to_the_budget_question(
        chatroute_home: Path, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The question pops up under the fingers of someone still typing: the y of "why" said yes
    and spent past the cap on a turn nobody agreed to, and the keys around it were dropped.
    Keys that come in the flow of typing go to the composer, after the prompt; the answer is a
    key pressed after a pause, once the question can have been read."""
    async with _past_the_cap(chatroute_home, fake_server, monkeypatch) as (app, pilot):
        chat = app.screen
        assert isinstance(chat, ChatScreen)
        requests = len(fake_server.requests)
        chat.composer.insert(PROMPT)
        await pilot.press("enter", *"why not")
        await settle(pilot, app)
        assert isinstance(app.screen, OverBudgetScreen)  # still asking
        assert len(fake_server.requests) == requests  # nothing sent
        assert chat.composer.text == PROMPT + "why not"  # nothing lost

        await answer_question(pilot, "n")
        await settle(pilot, app)
        assert app.screen is chat and chat.composer.text == PROMPT + "why not"
        assert len(fake_server.requests) == requests


async def test_a_key_held_while_the_question_mounted_or_no_answer_at_all_is_never_dropped(
        chatroute_home: Path, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a loaded machine keys typed on after Enter are held while the question mounts (the key
    gate) and came to it more than the typing gap after they were pressed: taken for answers, the
    w of "why not" was dropped (a full CI run: the composer read '…Europe.hy not'), and a y
    there would have said yes and spent past the cap. A key keeps the time it was typed at, and
    one that is no answer (not y or n) goes to the composer however late it comes."""
    from textual import events

    async with _past_the_cap(chatroute_home, fake_server, monkeypatch) as (app, pilot):
        chat = app.screen
        assert isinstance(chat, ChatScreen)
        requests = len(fake_server.requests)
        chat.composer.insert(PROMPT)
        await pilot.press("enter")
        await settle(pilot, app)
        modal = app.screen
        assert isinstance(modal, OverBudgetScreen)
        await pilot.pause(OverBudgetScreen.TYPING_GAP_S + 0.1)
        # The y of "why", pressed before the question opened and handed on only now.
        held = events.Key("y", "y")
        held.time = modal._last_key_at - 0.05
        held.set_sender(app)
        app.post_message(held)
        await settle(pilot, app)
        assert app.screen is modal and len(fake_server.requests) == requests  # no yes
        await pilot.pause(OverBudgetScreen.TYPING_GAP_S + 0.1)
        await pilot.press("w")  # after a pause, but no answer: typing all the same
        await settle(pilot, app)
        assert app.screen is modal
        await answer_question(pilot, "n")
        await settle(pilot, app)
        assert app.screen is chat and chat.composer.text == PROMPT + "yw"
        assert len(fake_server.requests) == requests


async def test_just_under_the_cap_no_figure_reads_100_percent(chatroute_home: Path, fake_server: FakeServer,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # At 99.7% of the cap nothing is reached yet (the router still routes to paid models), but
    # the status bar said "⚠ budget 100% used" and the costs screen "(100%)" with no over mark.
    cost = _mini_cost(chatroute_home, fake_server, monkeypatch, 1000, 100)
    engine = _engine(chatroute_home, fake_server, monkeypatch, f"daily_usd = {cost / 0.997:.12f}")
    app = ChatrouteApp(engine, close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        await _spend(pilot, fake_server, 1000, 100, "first")
        await settle(pilot, app)
        assert "⚠ budget 99% used" in _status(app)
        await pilot.press("f5")
        await settle(pilot, app)
        budget = str(app.screen.query_one("#budget").render())
        assert "(99%) ⚠" in budget


async def test_compare_past_the_cap_says_it_spends_anyway_before_it_starts(
        chatroute_home: Path, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # Past the cap the status bar says new turns ask first; a compare does not ask (its models
    # are the user's choice) but starts on the picker's ticked paid models with Enter, and its
    # picker said nothing of the budget.
    async with _past_the_cap(chatroute_home, fake_server, monkeypatch) as (app, pilot):
        assert "⛔ budget reached" in _status(app)
        await pilot.press("f4")
        await settle(pilot, app)
        note = str(app.screen.query_one("#setup-budget").render())
        assert note.startswith("⛔ Daily budget $0.0001 reached (spent $0.0")
        assert "every model ticked is paid for" in note


async def test_past_the_cap_the_status_bar_never_promises_a_question_for_a_chosen_model(
        chatroute_home: Path, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # A pin or an override is never blocked by a cap, but with one set the status bar still read
    # "next turn: gpt-4o (override) · ⛔ budget reached: new turns ask first": Enter then spent
    # on gpt-4o with no question.
    async with _past_the_cap(chatroute_home, fake_server, monkeypatch) as (app, pilot):
        chat = app.screen
        assert isinstance(chat, ChatScreen)
        assert "⛔ budget reached: new turns ask first" in _status(app)
        chat.next_override = "openai/gpt-4o"  # as the model picker (m) sets it
        status = _status(app)
        assert "⛔ budget reached: gpt-4o, your choice, is paid without asking" in status
        assert "ask first" not in status
        chat.next_override = None
        app.engine.store.set_pin(chat.conversation_id, "openai/gpt-4o")  # as the picker's "pin" does
        chat.refresh_titles()
        assert "⛔ budget reached: gpt-4o, your choice, is paid without asking" in _status(app)
