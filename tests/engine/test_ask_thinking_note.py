"""`chatroute ask` while a reasoning model thinks: on a terminal a transient `thinking…` on stderr.

Before, nothing showed until the answer's first text: a frozen prompt for as long as the model
thought (a minute, for some). The note is erased before the answer, and never written into a
pipe or with --json. Each test runs the real command in a child process against the fake server.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

import pytest

from tests.engine.helpers import configured, run_subprocess  # noqa: F401 - fixture
from tests.fakeserver import FakeServer, Reply

NOTE = "thinking…"
ERASE = "\r" + " " * len(NOTE) + "\r"


def _on_a_terminal(*args: str) -> tuple[int, str]:
    """`chatroute ask …` with stdout and stderr a pseudo-terminal, as in an interactive shell:
    (exit code, everything the terminal received)."""
    leader, follower = pty.openpty()
    try:
        child = subprocess.Popen([sys.executable, "-m", "chatroute", "ask", *args], stdin=subprocess.DEVNULL,
                                 stdout=follower, stderr=follower)
    finally:
        os.close(follower)
    seen = b""
    try:
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(leader)
    return child.wait(timeout=60), seen.decode().replace("\r\n", "\n")


@pytest.mark.parametrize(("model", "think_tags"), [
    ("openai/gpt-4o-mini", False), ("openai/gpt-4o-mini", True), ("anthropic/claude-haiku-4-5", False)],
    ids=["reasoning_content", "think_tags", "anthropic-thinking"])
def test_a_thinking_model_shows_a_note_on_the_terminal_erased_before_the_answer(
        model: str, think_tags: bool, configured: FakeServer) -> None:  # noqa: F811
    """anthropic-thinking: Anthropic's wire sends the thinking apart, as a thinking block."""
    configured.script(Reply(text="The answer.", reasoning="Let me weigh this up carefully first.",
                            think_tags=think_tags, tokens_per_s=50))
    code, screen = _on_a_terminal("-m", model, "hard question")
    assert code == 0, screen
    assert f"\r{NOTE}{ERASE}The answer.\n" in screen  # shown, then erased before the first text
    assert screen.count(NOTE) == 1
    assert "Let me weigh" not in screen  # the thinking itself is never shown


def test_a_model_that_does_not_think_shows_no_note(configured: FakeServer) -> None:  # noqa: F811
    configured.script(Reply(text="The answer."))
    code, screen = _on_a_terminal("-m", "openai/gpt-4o-mini", "easy question")
    assert code == 0, screen
    assert NOTE not in screen and screen.startswith("The answer.\n")


def test_no_note_into_a_pipe_or_with_json(configured: FakeServer) -> None:  # noqa: F811
    configured.script(Reply(text="The answer.", reasoning="Thinking it over.", tokens_per_s=50))
    piped = run_subprocess("ask", "-m", "openai/gpt-4o-mini", "q1")
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.decode() == "The answer.\n"
    assert NOTE not in piped.stderr.decode()

    configured.script(Reply(text="The answer.", reasoning="Thinking it over.", tokens_per_s=50))
    code, screen = _on_a_terminal("--json", "-m", "openai/gpt-4o-mini", "q2")
    assert code == 0, screen
    assert NOTE not in screen
    assert json.loads(screen[screen.index("{"):])["text"] == "The answer."



async def test_the_note_shows_while_an_r1_distills_untagged_thinking_is_held(configured: FakeServer,  # noqa: F811
                                                                             chatroute_home) -> None:
    """An R1 distill on a local server writes no `<think>` (its template did): the start of its
    answer is held back until the lone `</think>` (441adf2). Before, the engine said Thinking only
    once the `</think>` came, with the answer: `ask` sat silent for as long as the model thought."""
    import time

    from chatroute.engine import Engine
    from chatroute.turn_events import Routed, Thinking
    from tests.engine.helpers import write_config
    from tests.hardening.test_think_tags import LOCAL_MODELS, R1

    write_config(chatroute_home, configured, extra=LOCAL_MODELS)
    configured.script("deepseek-r1-distill-qwen-7b", Reply(
        text="The answer.", reasoning="Let me weigh this up carefully first. " * 43, think_tags=True,
        think_open=False, tokens_per_s=60))  # 300 pieces: five seconds of thinking
    engine = Engine.open()
    seen: dict[type, float] = {}
    turn = engine.run_turn(None, "hard question", override=R1[0], use_cache=False)
    try:
        async for event in turn:
            seen.setdefault(type(event), time.monotonic())
            if isinstance(event, Thinking):
                break  # when it came is the point, not the seconds of thinking still to stream
    finally:
        await turn.aclose()
        await engine.aclose()
    assert Thinking in seen and Routed in seen
    # Timed from the request's arrival, not from Routed: setting up the client and sending took
    # seconds on a loaded machine, and the model's five seconds of thinking start at the server.
    [asked] = configured.requests_for("deepseek-r1-distill-qwen-7b")
    assert seen[Thinking] - asked.received_at < 2.5, "Thinking came once the thinking was over"
