"""Every wait on a provider is bounded, through `chatroute ask`, the real SDKs
and the fake server: a stream trickled byte by byte meets the whole-request `timeout_s`; a
stream that stops after its first token meets `stall_timeout_s`; a routed turn whose candidates
all hang stops at `[router] failover_timeout_s`, not after each one's first-token timeout."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import anthropic  # noqa: F401 - imported ahead: see test_routed_turn_stops_failing_over_at_its_deadline
import openai  # noqa: F401
import pytest

from tests.engine.helpers import run_cli, write_config
from tests.fakeserver import FakeServer, Raw, Reply, sse_body

TARGET = {"openai": "openai/gpt-4o-mini", "anthropic": "anthropic/claude-haiku-4-5"}


def _limits(home: Path, server: FakeServer, provider_limits: str, router_extra: str = "",
            pool: list[str] | None = None) -> None:
    path = write_config(home, server, pool=pool, extra=router_extra)
    text = path.read_text()
    for env in ("TEST_OPENAI_KEY", "TEST_ANTHROPIC_KEY"):
        text = text.replace(f'api_key_env = "{env}"\n', f'api_key_env = "{env}"\n{provider_limits}')
    path.write_text(text)


def _assistant(home: Path) -> tuple[str, str]:
    with sqlite3.connect(home / "chatroute.db") as db:
        [(status, content)] = db.execute("SELECT status, content FROM messages WHERE role = 'assistant'")
    return status, content


def _error_line(err: str) -> str:
    assert "Traceback" not in err, err
    [line] = [x for x in err.splitlines() if x.startswith("chatroute: error:")]
    return line


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
def test_trickled_stream_meets_the_whole_request_deadline(capsys: pytest.CaptureFixture[str],
                                                          configured: FakeServer, chatroute_home: Path,
                                                          wire: str) -> None:
    _limits(chatroute_home, configured, "timeout_s = 4\nfirst_token_timeout_s = 3\n")
    model = TARGET[wire]
    words = " ".join(f"word{i}" for i in range(200))
    # ~30 KB at 300 bytes/s: an event completes every fraction of a second (no stall, no read
    # timeout), and the whole body would take well over a minute.
    body = sse_body(wire, words)
    # The opening and first words at once (the first token is not what is under test), then a trickle.
    configured.script(model.split("/")[1], Raw(body=body, content_type="text/event-stream", bytes_per_s=300,
                                               burst=body.index(b"word3")))
    code, out, err = run_cli(capsys, "ask", "-m", model, "trickle")
    elapsed = time.monotonic() - configured.requests[0].received_at  # from sending, not process start-up
    line = _error_line(err)
    assert code == 1 and elapsed < 9, (elapsed, err)
    assert "took longer than 4 s (timeout_s)" in line and "partial reply kept" in line, line
    status, content = _assistant(chatroute_home)
    assert status == "interrupted" and content.startswith("word0") and content.strip() == out.strip()


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
def test_stream_that_stops_after_the_first_token_meets_the_stall_timeout(capsys: pytest.CaptureFixture[str],
                                                                         configured: FakeServer,
                                                                         chatroute_home: Path, wire: str) -> None:
    _limits(chatroute_home, configured, "stall_timeout_s = 1.5\n")
    model = TARGET[wire]
    configured.script(model.split("/")[1], Reply(text="first then silence", tokens_per_s=0.02))  # 50 s a token
    code, out, err = run_cli(capsys, "ask", "-m", model, "stall")
    elapsed = time.monotonic() - configured.requests[0].received_at
    line = _error_line(err)
    assert code == 1 and elapsed < 7, (elapsed, err)
    assert "stalled: nothing new for 1.5 s (stall_timeout_s)" in line, line
    assert out.strip() == "first"
    assert _assistant(chatroute_home) == ("interrupted", "first ")


def test_routed_turn_stops_failing_over_at_its_deadline(capsys: pytest.CaptureFixture[str], configured: FakeServer,
                                                        chatroute_home: Path) -> None:
    _limits(chatroute_home, configured, "first_token_timeout_s = 4\n", router_extra="failover_timeout_s = 5\n")
    for name in ("gpt-4o-mini", "gpt-4o", "claude-haiku-4-5"):
        configured.script(name, Reply(text="too late", ttft=60))
    code, out, err = run_cli(capsys, "ask", "every candidate hangs")
    elapsed = time.monotonic() - configured.requests[0].received_at
    line = _error_line(err)
    # 4 s on the first candidate, the 1 s left on the second, the third never asked; each
    # candidate's own 4 s would have made it 12 s. The SDKs are imported at the top of this file:
    # the deadline counts from the turn's start, and a cold import of anthropic (about 1.5 s) on
    # the way to the second candidate used up its second when this test ran first in its process.
    assert code == 1 and 4.5 < elapsed < 8.5, (elapsed, err)
    assert "failover deadline" in line and "failover_timeout_s" in line, line
    assert len(configured.requests) == 2, (elapsed, err)
    # One reroute shown, with the cost of the request it hung up on (the server had taken it).
    assert err.count(" timeout (billed ≈$") == 1 and err.count(" → ") == 1, err


def test_limits_are_config_fields(capsys: pytest.CaptureFixture[str], configured: FakeServer,
                                  chatroute_home: Path) -> None:
    _limits(chatroute_home, configured, "stall_timeout_s = 0\n")
    code, _, err = run_cli(capsys, "ask", "hi")
    assert code == 2 and "stall_timeout_s: Input should be greater than 0" in err and err.count("\n") == 1
