"""`prices update --from URL` against a feed server that accepts the connection and then stalls:
the wait is said, bounded by silence (not by the whole download) and stopped by Ctrl+C, and the
installed prices stay as they were."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatroute.catalog import prices
from chatroute.catalog.prices import backup_path, update_prices
from tests.engine.helpers import run_cli

from .helpers import make_feed, make_paths, write_json


class _Feed:
    """A one-request-at-a-time HTTP server on 127.0.0.1 that sends `head`, then `pieces` of the
    body `gap` s apart, then holds the connection open until the test ends."""

    def __init__(self) -> None:
        self.head = b""
        self.pieces: list[bytes] = []
        self.gap = 0.0
        self._done = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/prices.json"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._done.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)  # the request: one small GET
                if self.head:
                    conn.sendall(self.head)
                for piece in self.pieces:
                    if self._done.wait(self.gap):
                        break
                    conn.sendall(piece)
                self._done.wait()

    def close(self) -> None:
        self._done.set()
        self._thread.join(timeout=5)
        self._sock.close()


@pytest.fixture
def feed() -> Iterator[_Feed]:
    server = _Feed()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def installed(chatroute_home: Path, tmp_path: Path):
    """A home with a refreshed table already installed: what a stalled update must leave alone."""
    paths = make_paths(chatroute_home)
    update_prices(str(write_json(tmp_path / "good.json", make_feed())), paths)
    return paths


def _tables(paths) -> dict[str, bytes | None]:
    files = [paths.prices_file, backup_path(paths.prices_file)]
    return {str(p): p.read_bytes() if p.exists() else None for p in files}


def _headers(length: int) -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n".encode()


@pytest.mark.parametrize("stall", ["nothing sent", "mid-body"])
def test_a_stalled_feed_is_said_and_given_up_after_the_idle_timeout_naming_the_host(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, installed, feed: _Feed,
        stall: str) -> None:
    monkeypatch.setattr(prices, "FEED_NOTICE_AFTER_S", 0.3)
    monkeypatch.setattr(prices, "FEED_IDLE_TIMEOUT_S", 1.5)
    if stall == "mid-body":
        feed.head = _headers(100_000) + b'{"gpt-4o": {"input_cost_per_token": '
    before = _tables(installed)
    host = feed.url.split("/")[2]
    started = time.monotonic()
    code, out, err = run_cli(capsys, "prices", "update", "--from", feed.url)
    took = time.monotonic() - started
    assert code == 1, err
    assert err.splitlines() == [
        f"fetching prices from {feed.url} …",
        f"chatroute: waiting for {host} to send the prices (gives up after 1.5 s of silence); Ctrl+C stops",
        f"chatroute: error: could not fetch {feed.url}: {host} sent nothing for 1.5 s; "
        f"the prices are unchanged (refreshed, as of {prices.load_current(installed.prices_file).as_of})",
    ]
    assert out == ""
    assert 1.5 <= took < 5, took  # the idle timeout, not httpx's 30 s
    assert _tables(installed) == before


def test_a_slow_feed_that_keeps_sending_is_not_cut_off(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, installed, feed: _Feed) -> None:
    """The timeout is on silence: a download longer than it, never silent that long, installs."""
    monkeypatch.setattr(prices, "FEED_NOTICE_AFTER_S", 0.5)
    monkeypatch.setattr(prices, "FEED_IDLE_TIMEOUT_S", 0.5)
    body = json.dumps(make_feed()).encode()
    feed.head = _headers(len(body))
    step = len(body) // 8 + 1
    feed.pieces = [body[i:i + step] for i in range(0, len(body), step)]
    feed.gap = 0.2  # 8 pieces: about 1.6 s in all, three times the idle timeout
    started = time.monotonic()
    code, out, err = run_cli(capsys, "prices", "update", "--from", feed.url)
    assert code == 0, err
    assert time.monotonic() - started >= 1.4
    assert out.startswith("prices updated:") and "waiting for" not in err
    assert json.loads(installed.prices_file.read_bytes())["meta"]["source"] == feed.url


def test_ctrl_c_stops_a_stalled_fetch_at_once_and_changes_nothing(installed, feed: _Feed) -> None:
    """The real command: the notice comes on its own (FEED_NOTICE_AFTER_S), Ctrl+C then ends it
    in one line, exit 130."""
    feed.head = _headers(100_000) + b"{"
    before = _tables(installed)
    child = subprocess.Popen([sys.executable, "-m", "chatroute", "prices", "update", "--from", feed.url],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=dict(os.environ))
    assert child.stderr is not None and child.stdout is not None
    try:
        lines = []
        deadline = time.monotonic() + 15  # a cold interpreter start, then the notice's delay
        while len(lines) < 2 and select.select([child.stderr], [], [], max(0, deadline - time.monotonic()))[0]:
            lines.append(child.stderr.readline().decode())
        asked = time.monotonic()
        child.send_signal(signal.SIGINT)
        code = child.wait(timeout=10)
        stopped_in = time.monotonic() - asked
    finally:
        child.kill()
        child.wait(timeout=10)
    rest = child.stderr.read().decode()
    assert len(lines) == 2 and lines[0].startswith("fetching prices from"), lines
    assert lines[1].startswith("chatroute: waiting for 127.0.0.1:") and lines[1].endswith("Ctrl+C stops\n"), lines
    assert code == -signal.SIGINT and rest == "chatroute: interrupted\n", rest  # a shell reads 130
    assert child.stdout.read() == b""
    assert stopped_in < 2, stopped_in
    assert _tables(installed) == before
