"""Shared set-up for engine and CLI tests: a config pointing every provider at the fake server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Protocol

import pytest

from chatroute.cli import main
from tests.fakeserver import FakeServer

OPENAI_KEY = "sk-test-openai-PLANTED-7f3a9c"
ANTHROPIC_KEY = "sk-ant-test-PLANTED-b41e20"

POOL = ["openai/gpt-4o-mini", "openai/gpt-4o", "anthropic/claude-haiku-4-5"]


class BaseUrls(Protocol):
    """What write_config reads of a server: the in-process FakeServer or a benchmark's child process."""

    @property
    def openai_base_url(self) -> str: ...

    @property
    def anthropic_base_url(self) -> str: ...


def write_config(home: Path, server: BaseUrls, *, pool: list[str] | None = None, extra: str = "") -> Path:
    pool = pool or POOL
    text = f"""
[providers.openai]
kind = "openai"
base_url = "{server.openai_base_url}"
api_key_env = "TEST_OPENAI_KEY"

[providers.anthropic]
kind = "anthropic"
base_url = "{server.anthropic_base_url}"
api_key_env = "TEST_ANTHROPIC_KEY"

[router]
pool = {json.dumps(pool)}
default = "{pool[0]}"
{extra}
"""
    path = home / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def rank_by_ability(config: Path, first: str, second: str) -> None:
    """Make `first` the router's first choice and `second` its next, by their abilities alone
    (cost not weighed), in the config at `config`."""
    config.write_text(config.read_text().replace("[router]", "[router]\ncost_weight = 0.0")
                      + f'\n[models."{first}"]\nability = 0.99\n\n[models."{second}"]\nability = 0.3\n')


@pytest.fixture
def configured(chatroute_home: Path, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", ANTHROPIC_KEY)
    write_config(chatroute_home, fake_server)
    return fake_server


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The CLI through its entry point, in-process."""
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def ask_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code, out, err = run_cli(capsys, "ask", "--json", *args)
    assert out.strip(), err
    return code, json.loads(out)


def list_cost(model: str, tokens_in: int, tokens_out: int) -> float:
    """What the catalogue prices `model`'s tokens at (the configured home's catalogue)."""
    from chatroute.catalog import Catalog
    from chatroute.config import load_config
    from chatroute.paths import resolve_paths

    paths = resolve_paths()
    info = Catalog.build(load_config(paths), paths).get(model)
    assert info.input_cost_per_mtok is not None and info.output_cost_per_mtok is not None, model
    return (tokens_in * info.input_cost_per_mtok + tokens_out * info.output_cost_per_mtok) / 1e6


def all_time_costs(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """`chatroute costs --format json`'s all-time period."""
    code, out, err = run_cli(capsys, "costs", "--format", "json")
    assert code == 0, err
    periods: dict[str, dict[str, Any]] = json.loads(out)["periods"]
    return periods["all"]


def pick_compare_answer(answers: list[dict[str, Any]], model: str) -> None:
    """Keep `model`'s answer of a `compare --json` run, as 1–4 in the TUI's compare screen does."""
    from chatroute.engine import Engine

    engine = Engine.open()
    try:
        picked = next(a["message_id"] for a in answers if a["model"] == model)
        engine.pick_compare(answers[0]["conversation_id"], picked)
    finally:
        engine.store.close()


def run_subprocess(*args: str, env: dict[str, str] | None = None, timeout: float = 60,
                   stdin: str | bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """The real `chatroute` command in a child process (same interpreter)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    data = stdin.encode() if isinstance(stdin, str) else stdin
    return subprocess.run([sys.executable, "-m", "chatroute", *args], env=full_env, capture_output=True,
                          timeout=timeout, input=data)
