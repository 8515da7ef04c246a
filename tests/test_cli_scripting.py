"""chatroute in shell scripts: closed standard streams, JSON on failure, stops under `timeout`.

Each test runs the real `chatroute` command in a child process, against the fake server where
a model is called.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.engine.helpers import configured  # noqa: F401 - fixture
from tests.fakeserver import FakeServer


def _shell(command: str, *, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    """`command` in sh, with `chatroute` the module run by this interpreter."""
    return subprocess.run(["sh", "-c", f'chatroute() {{ "$0" -m chatroute "$@"; }}; {command}', sys.executable],
                          capture_output=True, timeout=timeout)


@pytest.mark.parametrize("command", ["models", "ask hello", "--version", "costs --help"])
def test_a_closed_standard_output_is_one_line_and_asks_no_model(command: str,
                                                                configured: FakeServer) -> None:  # noqa: F811
    done = _shell(f"chatroute {command} >&-")
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert err == "chatroute: error: cannot write the output: standard output is closed\n"
    assert configured.requests == []  # nothing paid for an answer no one could read


def test_a_closed_standard_error_leaves_standard_output_to_the_answer(configured: FakeServer) -> None:  # noqa: F811
    done = _shell("chatroute ask hello 2>&-")
    assert done.returncode == 0
    assert done.stdout.decode() == "Echo from gpt-4o-mini: hello\n"  # the badge line went nowhere
