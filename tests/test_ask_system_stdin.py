"""`chatroute ask -s -` reads the system prompt from standard input, as PROMPT '-' reads the prompt;
before, '-' itself was sent as the system prompt. Standard input holds one text, so asking it for
both is refused as a usage error. The real command in a shell, as a script runs it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.engine.helpers import configured  # noqa: F401 - fixture
from tests.fakeserver import FakeServer


def _shell(command: str) -> subprocess.CompletedProcess[bytes]:
    """`command` in sh, with `chatroute` the module run by this interpreter."""
    return subprocess.run(["sh", "-c", f'chatroute() {{ "$0" -m chatroute "$@"; }}; {command}', sys.executable],
                          capture_output=True, timeout=60)


@pytest.mark.parametrize("option", ["-s -", "--system -", "--system=-"])
def test_a_dash_system_prompt_is_read_from_standard_input(option: str, configured: FakeServer) -> None:  # noqa: F811
    done = _shell(f"printf 'You answer in one word.\\n' | chatroute ask -m openai/gpt-4o-mini {option} 'Sky colour?'")
    assert done.returncode == 0, done.stderr
    [request] = configured.requests
    assert request.messages[0] == {"role": "system", "content": "You answer in one word.\n"}
    assert request.messages[-1] == {"role": "user", "content": "Sky colour?"}


BOTH = "ask: '-' reads standard input for PROMPT or for -s/--system, not both"


@pytest.mark.parametrize(("command", "error"), [
    ("echo 'both?' | chatroute ask -s - -", BOTH),
    ("echo 'both?' | chatroute ask --system - -", BOTH),
    # no PROMPT with standard input piped reads the prompt from it as well
    ("echo 'both?' | chatroute ask -s -", "ask: -s - reads the system prompt from standard input; give PROMPT as an "
                                          "argument"),
    ("printf '  \\n' | chatroute ask -s - 'Sky colour?'", "the system prompt is empty"),
], ids=["dash-both", "long-both", "no-prompt", "empty"])
def test_standard_input_asked_for_twice_is_a_usage_error(command: str, error: str,
                                                         configured: FakeServer) -> None:  # noqa: F811
    done = _shell(command)
    assert done.returncode == 2
    assert done.stderr.decode() == f"chatroute: error: {error}\n"
    assert done.stdout == b""
    assert configured.requests == []
