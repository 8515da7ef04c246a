"""A model id whose own name has a slash (OpenRouter's `openai/gpt-4o`, a Hugging Face
`Qwen/Qwen2.5-72B-Instruct` on vLLM) is shown whole in the chat: its tail alone reads as
chatroute's id of another provider's model. The real engine against the fake server."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatroute.engine import Engine
from chatroute.tui.app import ChatrouteApp
from tests.engine.helpers import OPENAI_KEY, write_config
from tests.fakeserver import FakeServer
from tests.tui.helpers import assistants, badge, type_and_send


async def test_the_badge_tells_openrouter_gpt_4o_from_openai_gpt_4o(
        chatroute_home: Path, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", "sk-ant-test")
    monkeypatch.setenv("TEST_OPENROUTER_KEY", "sk-or-v1-test")
    write_config(chatroute_home, fake_server, pool=["openai/gpt-4o", "openrouter/openai/gpt-4o"], extra=f"""
[providers.openrouter]
base_url = "{fake_server.openai_base_url}"
api_key_env = "TEST_OPENROUTER_KEY"
""")
    app = ChatrouteApp(Engine.open())
    async with app.run_test(size=(120, 40)) as pilot:
        await type_and_send(pilot, "@openrouter/openai/gpt-4o hello")
        await type_and_send(pilot, "@openai/gpt-4o hello again")
        via_openrouter, direct = assistants(app)
        assert badge(via_openrouter).startswith("openrouter/openai/gpt-4o (override) · "), badge(via_openrouter)
        assert badge(direct).startswith("gpt-4o (override) · "), badge(direct)
