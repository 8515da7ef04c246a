"""Ctrl+C twice while `chatroute serve` shuts down: it stops at once, quietly (no traceback),
with the interrupt exit code, and the stream still running is in the ledger as interrupted with
the cost of what streamed."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from chatroute.serve.state import STATE_FILE
from tests.fakeserver import FakeServer, Reply
from tests.serve.conftest import Served, start_served


@contextmanager
def _streaming(tmp_path: Path, *extra: str) -> Iterator[tuple[Served, threading.Thread]]:
    """`chatroute serve` (with the options `extra`) with one endless stream running (a client
    reading it in a thread); the server and the fake provider are stopped on the way out."""
    fake = FakeServer().start()
    fake.default_reply = Reply(endless=True, tokens_per_s=40)
    served = start_served(tmp_path / "home", fake, *extra)
    streaming = threading.Event()

    def client() -> None:
        body = {"model": "openai/gpt-4o", "stream": True,
                "messages": [{"role": "user", "content": "a long answer, please"}]}
        frames = 0
        try:
            with httpx.stream("POST", f"{served.url}/chat/completions", json=body, timeout=30,
                              headers={"authorization": f"Bearer {served.token}"}) as response:
                for _line in response.iter_lines():
                    frames += 1
                    if frames > 5:
                        streaming.set()
        except httpx.HTTPError:
            pass  # the server went away mid-stream: expected here

    reader = threading.Thread(target=client, daemon=True)
    try:
        reader.start()
        assert streaming.wait(20), "the stream never started"
        yield served, reader
    finally:
        served.stop()
        fake.stop()


def test_a_second_ctrl_c_while_shutting_down_ends_quietly_and_records_the_stream(tmp_path: Path) -> None:
    with _streaming(tmp_path) as (served, reader):
        served.proc.send_signal(signal.SIGINT)  # a graceful stop: it waits for the stream
        time.sleep(0.5)
        assert served.proc.poll() is None
        served.proc.send_signal(signal.SIGINT)  # the user will not wait
        code = served.proc.wait(timeout=20)
        reader.join(5)
    err = served.exited_stderr()
    assert code == -signal.SIGINT, err  # ended by SIGINT itself: a shell reads 130
    assert "Traceback" not in err and "ERROR" not in err and "Exception" not in err, err
    assert "stopped at once" in err
    turns = served.turns()
    assert [t.status for t in turns] == ["interrupted"], turns
    assert turns[0].output_tokens > 0 and turns[0].cost_usd and turns[0].cost_usd > 0
    assert not (served.home / STATE_FILE).exists()


def test_one_ctrl_c_waits_out_the_grace_then_says_what_it_cut_off(tmp_path: Path) -> None:
    """uvicorn's own "ERROR: Cancel 1 running task(s), timeout graceful shutdown exceeded"
    used to be printed as it stood; chatroute says it in its own words."""
    with _streaming(tmp_path) as (served, reader):
        served.proc.send_signal(signal.SIGINT)
        code = served.proc.wait(timeout=30)
        reader.join(5)
    err = served.exited_stderr()
    assert code == 0, err
    assert "ERROR" not in err and "Traceback" not in err and "graceful shutdown exceeded" not in err, err
    assert ("chatroute serve: stopped; 1 request(s) still streaming after the 5 s grace were cut off and "
            "recorded as interrupted") in err
    assert [t.status for t in served.turns()] == ["interrupted"]


def test_serve_says_the_configs_warnings_as_every_command_does(tmp_path: Path) -> None:
    """A pool entry the price table does not know (a typo) was routed to by serve without a word."""
    fake = FakeServer().start()
    home = tmp_path / "serve-home"
    home.mkdir()
    (home / "config.toml").write_text(
        '[providers.openai]\nkind = "openai"\napi_key_env = "TEST_OPENAI_KEY"\n\n'
        '[router]\npool = ["openai/gpt-4o-mini", "openai/gpt-4o-mni"]\n')
    served = start_served(home, fake)
    try:
        said = "".join(served.stderr)
    finally:
        served.stop()
        fake.stop()
    assert ("chatroute: warning: router.pool: 'openai/gpt-4o-mni' is not in the price table for 'openai'; "
            "did you mean openai/gpt-4o-mini") in said


def test_a_closed_terminal_stops_serve_as_sigterm_does(tmp_path: Path) -> None:
    """SIGHUP (the terminal serve runs in closed, an ssh session dropped) ended the process at
    once: the stream running was in no ledger though the provider billed it, and serve-state.json
    stayed behind. It is a stop like SIGTERM's: the grace, then the stream recorded as interrupted.
    The grace is --shutdown-grace's (the default's is test_one_ctrl_c_waits_out_the_grace_…)."""
    with _streaming(tmp_path, "--shutdown-grace", "1") as (served, reader):
        served.proc.send_signal(signal.SIGHUP)
        hung_up = time.monotonic()
        code = served.proc.wait(timeout=30)
        stopping = time.monotonic() - hung_up
        reader.join(5)
    err = served.exited_stderr()
    assert code == 0, err
    assert stopping < 5, stopping  # the 1 s grace, not the default 5 s
    assert "Traceback" not in err and "ERROR" not in err, err
    assert "chatroute serve: stopped; 1 request(s) still streaming after the 1 s grace were cut off" in err
    turns = served.turns()
    assert [t.status for t in turns] == ["interrupted"], turns
    assert turns[0].output_tokens > 0 and turns[0].cost_usd and turns[0].cost_usd > 0
    assert not (served.home / STATE_FILE).exists()
