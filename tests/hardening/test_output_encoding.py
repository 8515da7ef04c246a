"""A terminal or pipe whose encoding is not UTF-8 (a Latin-1 or ASCII locale, PYTHONIOENCODING):
what it cannot show becomes '?', never an internal error halfway through the output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.engine.helpers import ANTHROPIC_KEY, OPENAI_KEY, write_config
from tests.fakeserver import FakeServer

REPO = Path(__file__).resolve().parents[2]


def _run(home: Path, encoding: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "CHATROUTE_HOME": str(home), "PYTHONIOENCODING": encoding,
           "TEST_OPENAI_KEY": OPENAI_KEY, "TEST_ANTHROPIC_KEY": ANTHROPIC_KEY}
    env.pop("CHATROUTE_DEBUG", None)  # the user's view: an internal error is one line, exit 70
    return subprocess.run([sys.executable, "-m", "chatroute", *args], cwd=REPO, env=env, capture_output=True,
                          timeout=120)


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_commands_print_on_a_terminal_that_is_not_utf8(chatroute_home: Path, fake_server: FakeServer,
                                                       encoding: str) -> None:
    write_config(chatroute_home, fake_server)
    asked = _run(chatroute_home, encoding, "ask", "東京の人口は？ 🎉")
    assert asked.returncode == 0, asked.stderr
    assert b"Echo from" in asked.stdout and b"?" in asked.stdout
    shown: dict[str, str] = {}
    for args in (["costs", "--by", "conversation"], ["models"], ["route", "東京の人口は？"]):
        done = _run(chatroute_home, encoding, *args)
        assert done.returncode == 0, (args, done.stderr)
        assert b"internal error" not in done.stderr
        shown[args[0]] = done.stdout.decode(encoding)  # all of it in the stream's encoding
    assert "turns" in shown["costs"] and "$" in shown["costs"]
