"""A conversation pinned (Ctrl+O p in the TUI) to a model the config no longer has: its provider
taken out of config.toml, a local model renamed.

Before: every turn there failed with `unknown model 'local/qwen2.5:7b': provider 'local' is not
configured`, naming no pin, after storing the question above an empty failed answer; and `ask -c ID
-m gpt-4o-mini` failed the same way, though the turn named its own model: the conversation could
not be continued from the command line at all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatroute.store import Store
from tests.engine.helpers import run_cli, write_config
from tests.fakeserver import FakeServer, Reply

LOCAL = """
[providers.local]
kind = "openai"
base_url = "{url}"
api_key_env = "TEST_OPENAI_KEY"

[models."local/qwen2.5:7b"]
input_cost_per_mtok = 0.0
output_cost_per_mtok = 0.0
context_window = 32768
"""


def _pinned_conversation(capsys: pytest.CaptureFixture[str], home: Path, server: FakeServer) -> str:
    write_config(home, server, extra=LOCAL.format(url=server.openai_base_url))
    code, out, err = run_cli(capsys, "ask", "--json", "-m", "local/qwen2.5:7b", "hello local model")
    assert code == 0, err
    cid = json.loads(out)["conversation_id"]
    with Store.open() as store:
        store.set_pin(cid, "local/qwen2.5:7b")  # what Ctrl+O p writes
    write_config(home, server)  # the local provider taken out of the config
    return str(cid)


def test_a_turn_naming_its_model_continues_a_conversation_pinned_to_a_model_gone_from_the_config(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path) -> None:
    cid = _pinned_conversation(capsys, chatroute_home, configured)
    configured.script("gpt-4o-mini", Reply(text="Still here."))
    code, out, err = run_cli(capsys, "ask", "-c", cid, "-m", "gpt-4o-mini", "and now?")
    assert code == 0, err
    assert out.strip() == "Still here."
    with Store.open() as store:
        assert [m.content for m in store.history(cid)][-2:] == ["and now?", "Still here."]
        conv = store.get_conversation(cid)
        assert conv is not None and conv.pinned_model == "local/qwen2.5:7b"  # the pin is the user's to take off


def test_a_routed_turn_in_it_says_the_pin_is_the_matter_and_stores_nothing(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path) -> None:
    cid = _pinned_conversation(capsys, chatroute_home, configured)
    sent = len(configured.requests)
    code, out, err = run_cli(capsys, "ask", "-c", cid, "and now?")
    assert code == 2 and out == ""
    assert err.startswith("chatroute: error: this conversation is pinned to local/qwen2.5:7b, which is not "
                          "configured now (unknown model 'local/qwen2.5:7b': provider 'local' is not configured"), err
    assert "-m MODEL" in err and "Ctrl+O" in err, err
    assert len(configured.requests) == sent  # nothing sent
    with Store.open() as store:
        assert [m.content for m in store.history(cid)] == ["hello local model",
                                                           "Echo from qwen2.5:7b: hello local model"]
