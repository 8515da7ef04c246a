"""A real `chatroute serve` process on 127.0.0.1 in front of the fake provider, driven through
the official openai SDK. One server per test module (start-up loads the router and the SDKs);
tests use their own prompts so the answer cache does not mix them up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import openai
import pytest

from chatroute.store import Store
from chatroute.store.records import TurnRecord
from tests.engine.helpers import ANTHROPIC_KEY, OPENAI_KEY, write_config
from tests.fakeserver import FakeServer

ROOT = Path(__file__).resolve().parents[2]


def serve_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL")}
    env.update(CHATROUTE_HOME=str(home), CHATROUTE_NO_DISCOVERY="1", TEST_OPENAI_KEY=OPENAI_KEY,
               TEST_ANTHROPIC_KEY=ANTHROPIC_KEY, PYTHONPATH=str(ROOT))
    return env


@dataclass
class Served:
    home: Path
    fake: FakeServer
    proc: subprocess.Popen[str]
    url: str
    token: str
    stderr: list[str] = field(default_factory=list)
    drain: threading.Thread | None = None  # keeps reading stderr into `stderr`

    def exited_stderr(self) -> str:
        """All the server wrote on stderr, once it has exited: read to the end of the pipe,
        not as far as the drain had got, which on a loaded machine lags behind the exit."""
        assert self.proc.poll() is not None, "the server is still running"
        if self.drain is not None:
            self.drain.join(30)
        return "".join(self.stderr)

    def client(self, token: str | None = None, **kw: object) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url, api_key=token or self.token, max_retries=0, timeout=30, **kw)

    def async_client(self, token: str | None = None) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=self.url, api_key=token or self.token, max_retries=0, timeout=60)

    def turns(self) -> list[TurnRecord]:
        with Store.open(self.home / "chatroute.db") as store:
            return [t for t in store.recent_turns(10_000) if t.client is not None]

    def turn(self, turn_id: str) -> TurnRecord:
        with Store.open(self.home / "chatroute.db") as store:
            found = store.get_turn(turn_id)
        assert found is not None, turn_id
        return found

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def start_served(home: Path, fake: FakeServer, *extra: str, env: dict[str, str] | None = None,
                 module: str = "chatroute") -> Served:
    """`env`: the server's environment instead of serve_env(home); `module`: run instead of
    chatroute's own (one that alters chatroute, then calls its main with the arguments)."""
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "config.toml").exists():
        write_config(home, fake)
    proc = subprocess.Popen([sys.executable, "-m", module, "serve", "--port", "0", *extra], cwd=ROOT,
                            env=env if env is not None else serve_env(home), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    lines: list[str] = []
    url = ""
    while True:
        line = proc.stderr.readline()
        if not line:
            raise AssertionError(f"chatroute serve did not start: {''.join(lines)}")
        lines.append(line)
        if line.startswith("listening on "):
            url = line.split()[-1]
            break
    # The token is printed on stdout on the first start only.
    token = ""
    if any("shown once" in x for x in lines):
        token = proc.stdout.readline().strip()
    served = Served(home, fake, proc, url, token, lines)
    # Keep draining stderr so a chatty server never blocks on a full pipe.
    served.drain = threading.Thread(target=lambda: served.stderr.extend(iter(proc.stderr.readline, "")), daemon=True)
    served.drain.start()
    return served


def start_capped(tmp_path: Path, fake: FakeServer, daily_usd: float = 0.01) -> Served:
    """A serve process of its own whose config caps the day's spend at `daily_usd`."""
    home = tmp_path / "budget-home"
    home.mkdir()
    write_config(home, fake, extra=f"[budget]\ndaily_usd = {daily_usd}\n")
    return start_served(home, fake)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    fake = FakeServer().start()
    server = start_served(tmp_path_factory.mktemp("serve") / "home", fake)
    try:
        yield server
    finally:
        server.stop()
        fake.stop()


@pytest.fixture
def fresh(served: Served) -> Served:
    """The module's server with the fake provider's script and log cleared."""
    served.fake.reset()
    return served
