"""The TUI's costs screen shows what `chatroute serve` answered, by client, and the running
server's live state."""

from __future__ import annotations

import json
import os
from pathlib import Path

from textual.widgets import DataTable, Static

from chatroute.engine import Engine
from chatroute.serve.state import STATE_FILE, LiveState
from chatroute.store.records import TurnRecord
from chatroute.tui.app import ChatrouteApp
from chatroute.tui.screens.costs import CostsScreen
from tests.tui.conftest import real_engine  # noqa: F401 - the fixture

SIZE = (120, 50)


def _served(engine: Engine, client: str, cost: float) -> None:
    engine.store.add_turn(TurnRecord(conversation_id=None, message_id=None, model="openai/gpt-4o-mini",
                                     provider="openai", input_tokens=10, output_tokens=20, cost_usd=cost,
                                     client=client))


async def test_costs_screen_lists_served_clients_and_the_live_server(real_engine: Engine,  # noqa: F811
                                                                     chatroute_home: Path) -> None:
    _served(real_engine, "my-editor", 0.25)
    _served(real_engine, "my-editor", 0.25)
    _served(real_engine, "llm", 0.125)
    state = LiveState(chatroute_home, "http://127.0.0.1:8765/v1")
    state.state["requests"] = 3
    state.state["active"] = 2
    state.start()
    assert json.loads((chatroute_home / STATE_FILE).read_text())["pid"] == os.getpid()
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f5")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CostsScreen)
        table = screen.query_one("#by-client", DataTable)
        rows = {str(table.get_row_at(i)[0]): table.get_row_at(i) for i in range(table.row_count)}
        assert rows["my-editor"][1] == "2" and "0.50" in str(rows["my-editor"][2])
        assert rows["llm"][1] == "1"
        line = str(screen.query_one("#serve-state", Static).content)
        assert "running at http://127.0.0.1:8765/v1" in line and "3 requests" in line and "2 running" in line
    state.stop()
    assert not (chatroute_home / STATE_FILE).exists()


async def test_costs_screen_has_no_serve_section_without_served_requests(real_engine: Engine) -> None:  # noqa: F811
    app = ChatrouteApp(real_engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f5")
        await pilot.pause()
        assert isinstance(app.screen, CostsScreen)
        assert not app.screen.query("#by-client") and not app.screen.query("#serve-state")


def test_a_state_file_left_by_a_dead_server_is_ignored(tmp_path: Path) -> None:
    from chatroute.serve.state import read_live_state

    (tmp_path / STATE_FILE).write_text(json.dumps({"pid": 2**22 + 12345, "url": "http://x"}))
    assert read_live_state(tmp_path) is None
