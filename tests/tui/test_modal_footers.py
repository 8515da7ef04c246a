"""A dialog's footer names the dialog's own keys. Before, every dialog (help, the model picker,
rename, delete, the budget question) left the chat's footer showing under it: `^n New chat ^o
Model ^f Search …`, keys a dialog does not take, and none of its own. Real engine and store,
official SDKs, the fake provider."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.screen import ModalScreen

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.screens.dialogs import ConfirmScreen, OverBudgetScreen, PromptScreen
from chatroute.tui.screens.help import HelpScreen
from chatroute.tui.screens.models import ModelPicker
from tests.engine.helpers import OPENAI_KEY, write_config
from tests.fakeserver import FakeServer, Reply
from tests.tui.helpers import answer_question, run_palette_command, settle, type_and_send, until

SIZE = (120, 40)
CHAT_KEYS = ("New chat", "Search", "Export")


def bottom_line(pilot: Pilot) -> str:
    """The terminal's last row, as drawn."""
    return pilot.app.screen._compositor.render_strips()[-1].text


async def shows_its_own_keys(pilot: Pilot, kind: type[ModalScreen], *keys: str) -> None:
    await until(pilot, lambda: isinstance(pilot.app.screen, kind), f"the {kind.__name__}")
    await until(pilot, lambda: all(k in bottom_line(pilot) for k in keys), f"{keys} in the footer")
    line = bottom_line(pilot)
    assert not any(k in line for k in CHAT_KEYS), line


async def test_each_dialog_shows_its_own_keys_in_the_footer(real_engine: Engine, fake_server: FakeServer) -> None:
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await until(pilot, lambda: "New chat" in bottom_line(pilot), "the chat's footer")
        await type_and_send(pilot, "Name a river.")  # a conversation to rename and delete

        await pilot.press("f1")
        await shows_its_own_keys(pilot, HelpScreen, "esc Close")
        await pilot.press("escape")

        await pilot.press("ctrl+o")
        await shows_its_own_keys(pilot, ModelPicker, "Use for next turn", "p Pin for conversation", "u Unpin",
                                 "esc Close")
        await pilot.press("escape")

        await pilot.press("f2")
        await shows_its_own_keys(pilot, PromptScreen, "esc Cancel")
        await pilot.press("escape")

        await run_palette_command(pilot, "delete conversation")
        await shows_its_own_keys(pilot, ConfirmScreen, "y Yes", "n No")
        await answer_question(pilot, "n")
        await until(pilot, lambda: "New chat" in bottom_line(pilot), "the chat's own footer again")


async def test_the_budget_question_shows_its_keys_in_the_footer(chatroute_home: Path, fake_server: FakeServer,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", "sk-ant-test")
    write_config(chatroute_home, fake_server, extra="[budget]\ndaily_usd = 0.0001\n")
    app = ChatrouteApp(Engine.open(), close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        fake_server.script("gpt-4o-mini", Reply(text="spent", input_tokens=1000, output_tokens=1000))
        await type_and_send(pilot, "@gpt-4o-mini a pricey turn")  # past the cap
        await type_and_send(pilot, "Name three rivers.")
        await shows_its_own_keys(pilot, OverBudgetScreen, "y Send anyway", "n Don't send")


async def test_the_footer_says_esc_closes_an_open_why_panel(real_engine: Engine, fake_server: FakeServer) -> None:
    """w on an answer opens its why panel, which Esc closes: the footer never said so (the key was
    hidden), only the answer's own keys and the chat's."""
    from chatroute.tui.widgets.badge import WhyPanel
    from chatroute.tui.widgets.composer import Composer
    from tests.tui.helpers import assistants

    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "Name a river.")
        await pilot.press("up")  # to the answer
        answer = assistants(app)[-1]
        await until(pilot, lambda: app.focused is answer, "the answer to take the focus")
        assert "Close panel" not in bottom_line(pilot)
        await pilot.press("w")
        await until(pilot, lambda: bool(answer.query(WhyPanel)), "the why panel")
        await until(pilot, lambda: "esc Close panel" in bottom_line(pilot), "esc Close panel in the footer")
        await pilot.press("escape")
        await until(pilot, lambda: not answer.query(WhyPanel), "Esc to close the panel")
        await until(pilot, lambda: "Close panel" not in bottom_line(pilot), "the footer to drop esc Close panel")
        assert app.focused is answer  # closing the panel leaves the focus where it was
        await pilot.press("escape")  # no panel: Esc is the chat's, back to the composer
        await until(pilot, lambda: isinstance(app.focused, Composer), "Esc to go back to the composer")


async def test_the_footer_leaves_out_the_key_of_the_screen_it_is_on(real_engine: Engine,
                                                                    fake_server: FakeServer) -> None:
    """'f4 Compare' showed in compare's footer and 'f5 Costs' in the costs', keys that do nothing
    there; the other screen's key does something and stays."""
    from chatroute.tui.screens.compare import CompareScreen
    from chatroute.tui.screens.costs import CostsScreen

    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await until(pilot, lambda: "f4 Compare" in bottom_line(pilot) and "f5 Costs" in bottom_line(pilot),
                    "f4 Compare and f5 Costs in the chat's footer")
        await pilot.press("f4")
        await until(pilot, lambda: isinstance(app.screen, CompareScreen), "compare")
        await until(pilot, lambda: "f5 Costs" in bottom_line(pilot), "f5 Costs in compare's footer")
        assert "f4 Compare" not in bottom_line(pilot)
        await pilot.press("f4")  # does nothing here, as the footer now says
        await pilot.pause()
        assert isinstance(app.screen, CompareScreen) and len(app.screen_stack) == 2
        await pilot.press("f5")
        await until(pilot, lambda: isinstance(app.screen, CostsScreen), "the costs")
        await until(pilot, lambda: "f4 Compare" in bottom_line(pilot), "f4 Compare in the costs' footer")
        assert "f5 Costs" not in bottom_line(pilot)


async def test_the_re_run_picker_footer_names_only_its_own_keys(real_engine: Engine, fake_server: FakeServer) -> None:
    """e opens the model picker to re-run an answer, where Enter re-runs and p and u do nothing:
    its footer read '⏎ Use for next turn  p Pin for conversation  u Unpin'."""
    from tests.tui.helpers import assistants

    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "Name a river.")
        await pilot.press("up")
        answer = assistants(app)[-1]
        await until(pilot, lambda: app.focused is answer, "the answer to take the focus")
        await pilot.press("e")
        await shows_its_own_keys(pilot, ModelPicker, "⏎ Re-run on this model", "esc Close")
        line = bottom_line(pilot)
        assert not any(k in line for k in ("Pin", "Unpin", "next turn")), line
        await pilot.press("p", "u")  # nothing, as the footer says
        await pilot.pause()
        assert isinstance(app.screen, ModelPicker)
        await pilot.press("down", "enter")  # re-runs on the second model of the pool
        await settle(pilot, app)
        assert not isinstance(app.screen, ModelPicker)
        assert len(fake_server.requests) == 2
        assert fake_server.requests[-1].model == "gpt-4o"
