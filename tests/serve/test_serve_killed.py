"""`chatroute serve` killed (SIGKILL: a crash, the OOM killer, lost power) while it streams an
answer: the provider has billed the request, and the next open of the database (here `chatroute
costs`) records it, interrupted, its cost estimated from what had streamed by the last partial
save; once only, and a request the server had finished recording is not counted again. Before,
such a request was in no record at all."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from chatroute.store import Store
from tests.fakeserver import FakeServer, Reply
from tests.serve.conftest import ROOT, Served, serve_env, start_served


def _costs(served: Served) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", "chatroute", "costs", "--format", "json"], cwd=ROOT,
                          env=serve_env(served.home), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    everything: dict[str, Any] = json.loads(proc.stdout)["periods"]["all"]
    return everything


def _kill(served: Served) -> None:
    served.proc.kill()
    served.proc.wait(15)


def test_a_request_streaming_when_serve_is_killed_is_recorded_at_the_next_open(tmp_path: Path,
                                                                               fake_server: FakeServer) -> None:
    served = start_served(tmp_path / "home", fake_server)
    fake_server.script("gpt-4o-mini", Reply(n_tokens=3000, tokens_per_s=150))  # 20 s of answer
    got = 0
    try:
        with served.client().chat.completions.with_streaming_response.create(
                model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "a long story, please"}],
                stream=True) as response:
            started = time.monotonic()
            for line in response.iter_lines():
                got += line.startswith("data: ") and '"content"' in line
                if time.monotonic() - started > 2.0:  # a few partial saves made
                    _kill(served)
                    break
    finally:
        _kill(served)
    first = _costs(served)
    assert first["turns"] == 1 and first["estimated_turns"] == 1, first
    assert first["cost_usd"] > 0
    with Store.open(served.home / "chatroute.db", recover_stale=False) as store:
        [turn] = store.recent_turns(10)
    assert turn.client == "OpenAI/Python" and turn.model == "openai/gpt-4o-mini"
    assert turn.status == "interrupted" and turn.usage_estimated and turn.route_kind == "pinned"
    assert "chatroute serve stopped while the answer streamed" in (turn.error or "")
    # What had streamed by the last save (at most 0.5 s before the kill), a token about 3 characters.
    assert got / 4 <= turn.output_tokens <= got + 10, (got, turn.output_tokens)
    assert turn.input_tokens > 0
    assert _costs(served)["turns"] == 1  # recovered once


def test_a_request_serve_finished_recording_is_not_counted_again(tmp_path: Path, fake_server: FakeServer) -> None:
    served = start_served(tmp_path / "home", fake_server)
    fake_server.script("gpt-4o-mini", Reply(n_tokens=300, tokens_per_s=200))  # 1.5 s: partial saves made
    try:
        text = "".join(c.choices[0].delta.content or "" for c in served.client().chat.completions.create(
            model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "a short story"}], stream=True)
            if c.choices)
        assert text.startswith("w0 w1")
    finally:
        _kill(served)
    everything = _costs(served)
    assert everything["turns"] == 1 and everything["estimated_turns"] == 0, everything
