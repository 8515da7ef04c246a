"""engine.warm() imports the SDKs that turns will use (the pool's, the default's, pinned
conversations'), not every configured provider's: each costs start-up time and memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from chatroute.store import Store
from tests.engine.helpers import ANTHROPIC_KEY, OPENAI_KEY, write_config
from tests.fakeserver import FakeServer

REPO = Path(__file__).resolve().parents[2]
PROBE = """
import json, sys
from chatroute.engine import Engine
for _ in sys.stdin:  # each line: open an engine on the home as it is now, warm it, say what is loaded
    Engine.open().warm()
    print(json.dumps({sdk: sdk in sys.modules for sdk in ("openai", "anthropic")}), flush=True)
"""


class _Warmer:
    """One child process for both checks (each a fresh engine on the home as the test left it).
    An SDK once imported stays imported: a later check can see one newly warmed, and one a check
    before it left out is still out unless this check's warm imported it."""

    def __init__(self, home: Path) -> None:
        env = dict(os.environ, CHATROUTE_HOME=str(home), TEST_OPENAI_KEY=OPENAI_KEY,
                   TEST_ANTHROPIC_KEY=ANTHROPIC_KEY)
        self.child = subprocess.Popen([sys.executable, "-c", PROBE], env=env, cwd=REPO, stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def warmed(self) -> dict[str, bool]:
        assert self.child.stdin is not None and self.child.stdout is not None
        self.child.stdin.write("\n")
        self.child.stdin.flush()
        line = self.child.stdout.readline()
        assert line, self.child.communicate(timeout=60)[1]
        return json.loads(line)  # type: ignore[no-any-return]

    def close(self) -> None:
        _, err = self.child.communicate(timeout=60)
        assert self.child.returncode == 0, err


def test_warm_skips_sdks_no_model_uses(chatroute_home: Path, fake_server: FakeServer) -> None:
    # Both providers configured, the pool on OpenAI only.
    write_config(chatroute_home, fake_server, pool=["openai/gpt-4o-mini", "openai/gpt-4o"])
    warmer = _Warmer(chatroute_home)
    try:
        assert warmer.warmed() == {"openai": True, "anthropic": False}

        # A conversation pinned to an Anthropic model will call that SDK: warm it too.
        with Store.open(chatroute_home / "chatroute.db") as store:
            store.create_conversation("pinned", pinned_model="anthropic/claude-haiku-4-5")
        assert warmer.warmed() == {"openai": True, "anthropic": True}
    finally:
        warmer.close()  # its input ends: the child's loop, and the child, end
