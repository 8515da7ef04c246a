"""Shared set-up for the stream/start-up/overhead benchmarks: a fake provider server in its
own process (so its HTTP thread never competes with the measured event loop for the GIL),
an isolated CHATROUTE_HOME with a config pointing every provider at it, and small stats."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OPENAI_KEY = "sk-bench-openai"
ANTHROPIC_KEY = "sk-ant-bench"
from tests.engine.helpers import POOL, write_config  # noqa: E402 - the tests' config, one definition


class ServerProcess:
    """`python -m tests.fakeserver` in a child process; stopped on exit (it stops itself if we die:
    it is our child and we terminate it in __exit__/atexit)."""

    def __init__(self, n_tokens: int | None = None, ttft: float = 0.0, *, log_requests: bool = False,
                 tokens_per_s: float | None = None, port: int = 0) -> None:
        args = [sys.executable, "-m", "tests.fakeserver", "--port", str(port)]
        if tokens_per_s:
            args += ["--tokens-per-s", str(tokens_per_s)]
        if log_requests:
            args.append("--log-requests")
        if n_tokens is not None:
            args += ["--n-tokens", str(n_tokens)]
        if ttft:
            args += ["--ttft", str(ttft)]
        self.proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://127.0.0.1:"):
            self.stop()
            raise RuntimeError(f"fake server did not start: {self.url!r}")

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def make_home(server: ServerProcess | None, pool: list[str] | None = None) -> Path:
    """A fresh CHATROUTE_HOME with the test-style config (see tests/engine/helpers.py)."""
    home = Path(tempfile.mkdtemp(prefix="chatroute-bench-"))
    pool = pool or POOL
    if server is not None:
        write_config(home, server, pool=pool)
    return home


def bench_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL",
                        "OPENROUTER_API_KEY")}
    env.update(CHATROUTE_HOME=str(home), CHATROUTE_NO_DISCOVERY="1", TEST_OPENAI_KEY=OPENAI_KEY,
               TEST_ANTHROPIC_KEY=ANTHROPIC_KEY)
    # A child (`python -m chatroute`, `python -c`) imports this checkout's code: the working folder
    # is not searched under PYTHONSAFEPATH, and a copy on PYTHONPATH or installed would be timed.
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


def use_home(home: Path) -> None:
    """Point this process at `home` (Engine.open and the TUI read the environment)."""
    os.environ.clear()
    os.environ.update(bench_env(home))


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]
