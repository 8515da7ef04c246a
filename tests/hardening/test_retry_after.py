"""Retry-After as a server sends it: seconds, an HTTP date, or a value no server means (10^9
seconds, a date decades ahead: a broken proxy or a hostile server). The cooldown honours it up
to an hour, so one bad header cannot bench a model for years; what the user reads is in
minutes or hours, not a count of seconds."""

from __future__ import annotations

import time
from email.utils import formatdate
from pathlib import Path

import pytest

from chatroute.routing.health import HealthBoard
from tests.engine.helpers import run_cli, write_config
from tests.fakeserver import FakeServer, Fault

PROMPT = "Summarise the plot of Hamlet in two lines."
TARGET = "openai/gpt-4o-mini"


def _configure(home: Path, server: FakeServer) -> None:
    write_config(home, server, pool=[TARGET, "anthropic/claude-haiku-4-5"], extra=f"""cost_weight = 0.0
[models."{TARGET}"]
ability = 0.99
""")


# An HTTP date is written when the test runs, not when it is collected: under a loaded run the two
# were minutes apart, and a date 600 s ahead was 476 s ahead by then.
@pytest.mark.parametrize(("retry_after", "cooldown"), [
    (90, (85, 95)),
    ("date+600", (590, 605)),
    (10**9, (3500, 3601)),
    ("date+946080000", (3500, 3601)),  # 30 years
])
def test_a_routed_turn_cools_the_model_for_retry_after_within_an_hour(
        retry_after: float | str, cooldown: tuple[float, float], configured: FakeServer, chatroute_home: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    header = (formatdate(time.time() + float(retry_after.removeprefix("date+")), usegmt=True)
              if isinstance(retry_after, str) else retry_after)
    _configure(chatroute_home, configured)
    configured.script("gpt-4o-mini", Fault(status=429, retry_after=header))
    code, _, err = run_cli(capsys, "ask", PROMPT)
    assert code == 0 and "gpt-4o-mini 429 → claude-haiku-4-5" in err, err
    left = HealthBoard.load(chatroute_home / "health.json").cooldown_remaining(TARGET)
    assert cooldown[0] <= left <= cooldown[1]
    code, out, _ = run_cli(capsys, "models")
    [row] = [line for line in out.splitlines() if line.startswith(TARGET)]
    assert "cooling" in row and "999" not in row, row


def test_the_pinned_error_and_the_models_table_say_minutes(configured: FakeServer, chatroute_home: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    _configure(chatroute_home, configured)
    configured.script("gpt-4o-mini", Fault(status=429, retry_after=10**9))
    code, _, err = run_cli(capsys, "ask", "-m", TARGET, PROMPT)
    assert code == 1 and "(429, retry after 60 min)" in err, err
    code, out, _ = run_cli(capsys, "models")
    [row] = [line for line in out.splitlines() if line.startswith(TARGET)]
    assert "cooling 60 min" in row or "cooling 59 min" in row, row
