"""The model picker lines up each model's figures by the cells its name takes: a name with CJK
or an emoji (a local server's model, a file name) put its prices further right than the rest."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.cells import cell_len

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.screens.models import ModelPicker
from tests.engine.helpers import OPENAI_KEY, write_config
from tests.fakeserver import FakeServer

WIDE = "openai/通义千问-🚀-7b"


async def test_prices_line_up_after_a_name_of_wide_characters(chatroute_home: Path, fake_server: FakeServer,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", "sk-ant-test")
    config = write_config(chatroute_home, fake_server, pool=["openai/gpt-4o-mini", "openai/gpt-4o"],
                          extra=f'\n[models."{WIDE}"]\ninput_cost_per_mtok = 1.0\noutput_cost_per_mtok = 2.0\n'
                                "context_window = 32000\n")
    # json.dumps would write the name as \\u escapes, which TOML refuses for an emoji
    config.write_text(config.read_text(encoding="utf-8").replace('"openai/gpt-4o"]', f'"{WIDE}"]'), encoding="utf-8")
    app = ChatrouteApp(Engine.open())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert isinstance(app.screen, ModelPicker)
        lines = [strip.text for strip in app.screen._compositor.render_strips()]
        rows = [line for line in lines if "in $" in line]
        assert any(WIDE in row for row in rows) and len(rows) == 2, lines
        starts = {cell_len(row[:row.index("in $")]) for row in rows}
        assert len(starts) == 1, rows  # the same screen column (in cells: a row's text counts characters)
