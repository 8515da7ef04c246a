"""`chatroute compare` when every model fails: one line naming each model once, with its error."""

from __future__ import annotations

import pytest

from tests.engine.helpers import run_cli
from tests.fakeserver import FakeServer, Fault


def test_every_model_failing_names_each_once(configured: FakeServer, capsys: pytest.CaptureFixture[str]) -> None:
    configured.script("gpt-4o-mini", Fault(status=503))
    configured.script("claude-haiku-4-5", Fault(status=429, retry_after=20))
    code, _, err = run_cli(capsys, "compare", "-m", "openai/gpt-4o-mini", "-m", "anthropic/claude-haiku-4-5", "hi")
    [line] = [line for line in err.splitlines() if line.startswith("chatroute: error:")]
    assert code == 1 and line.startswith("chatroute: error: no model answered ("), line
    for model in ("openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"):
        assert line.count(model) == 1, line
    assert "server error (503)" in line and "rate limited (429, retry after 20 s)" in line, line
