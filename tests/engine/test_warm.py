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
engine = Engine.open()
engine.warm()
print(json.dumps({sdk: sdk in sys.modules for sdk in ("openai", "anthropic")}))
"""


def _warmed(home: Path) -> dict[str, bool]:
    env = dict(os.environ, CHATROUTE_HOME=str(home), TEST_OPENAI_KEY=OPENAI_KEY, TEST_ANTHROPIC_KEY=ANTHROPIC_KEY)
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_warm_skips_sdks_no_model_uses(chatroute_home: Path, fake_server: FakeServer) -> None:
    # Both providers configured, the pool on OpenAI only.
    write_config(chatroute_home, fake_server, pool=["openai/gpt-4o-mini", "openai/gpt-4o"])
    assert _warmed(chatroute_home) == {"openai": True, "anthropic": False}

    # A conversation pinned to an Anthropic model will call that SDK: warm it too.
    with Store.open(chatroute_home / "chatroute.db") as store:
        store.create_conversation("pinned", pinned_model="anthropic/claude-haiku-4-5")
    assert _warmed(chatroute_home) == {"openai": True, "anthropic": True}
