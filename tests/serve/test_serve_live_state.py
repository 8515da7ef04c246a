"""serve-state.json, what the TUI shows of a running `chatroute serve`: a stream whose client hung
up is counted as ended, interrupted and billed like the ledger says; the last requests reach the
file though writes are held to one a second; and nothing writes it once the server has stopped."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatroute.serve.state import STATE_FILE, WRITE_EVERY_S, LiveState
from chatroute.store.records import TurnRecord
from tests.fakeserver import Reply
from tests.serve.conftest import Served


def _state(s: Served) -> dict[str, Any]:
    return json.loads((s.home / STATE_FILE).read_text(encoding="utf-8"))


def _settled(s: Served, want: dict[str, Any], before: dict[str, Any], timeout: float = 6.0) -> dict[str, Any]:
    """The state once every key of `want` has moved by that much from `before` and no request
    runs (or the last read). The response ends a moment after its record is written."""
    deadline = time.monotonic() + timeout
    while True:
        now = _state(s)
        if now["active"] == 0 and all(now.get(k, 0) - before.get(k, 0) == pytest.approx(v)
                                      for k, v in want.items()):
            return now
        if time.monotonic() > deadline:
            return now
        time.sleep(0.1)


def test_a_stream_the_client_hung_up_on_is_counted_ended_and_billed(fresh: Served) -> None:
    fresh.fake.script("gpt-4o", Reply(endless=True, tokens_per_s=40))
    time.sleep(WRITE_EVERY_S + 0.1)  # past the hold on writes: what follows is the stream's doing
    before = _state(fresh)
    body = {"model": "openai/gpt-4o", "stream": True, "messages": [{"role": "user", "content": "hang up on me"}]}
    with httpx.stream("POST", f"{fresh.url}/chat/completions", json=body, timeout=30,
                      headers={"authorization": f"Bearer {fresh.token}"}) as response:
        texts = 0
        for line in response.iter_lines():
            texts += '"content": "w' in line
            if texts == 5:
                break  # and the connection closes: the client is gone mid-stream
    deadline = time.monotonic() + 10
    while not (gone := [t for t in fresh.turns() if t.status == "interrupted" and t.model == "openai/gpt-4o"]):
        assert time.monotonic() < deadline, "the hung-up stream was not recorded"
        time.sleep(0.1)
    turn = gone[0]
    assert turn.output_tokens >= 5 and turn.cost_usd and turn.cost_usd > 0
    now = _settled(fresh, {"requests": 1, "interrupted": 1, "cost_usd": turn.cost_usd}, before)
    assert now["requests"] - before["requests"] == 1
    assert now["interrupted"] - before["interrupted"] == 1
    assert now["cost_usd"] - before["cost_usd"] == pytest.approx(turn.cost_usd)
    assert now["active"] == 0  # ended, not still running
    assert now["last_request_at"] == turn.created_at


def test_the_last_requests_of_a_burst_reach_the_file(fresh: Served) -> None:
    time.sleep(WRITE_EVERY_S + 0.1)
    before = _state(fresh)
    client = fresh.client()
    costs = []
    for i in range(3):  # inside one second: only the first may be written at once
        done = client.chat.completions.create(model="openai/gpt-4o-mini",
                                              messages=[{"role": "user", "content": f"burst request {i}"}])
        costs.append(done.model_extra["chatroute"]["cost_usd"])
    now = _settled(fresh, {"requests": 3, "cost_usd": sum(costs)}, before)
    assert now["requests"] - before["requests"] == 3
    assert now["cost_usd"] - before["cost_usd"] == pytest.approx(sum(costs))
    assert now["active"] == 0


def _record(cost: float) -> TurnRecord:
    return TurnRecord(conversation_id=None, message_id=None, model="openai/gpt-4o-mini", provider="openai",
                      cost_usd=cost, client="t")


def test_no_write_brings_the_file_back_after_stop(tmp_path: Path) -> None:
    async def main() -> None:
        state = LiveState(tmp_path, "http://127.0.0.1:1/v1")
        state.start()
        state.served(_record(0.5), True)
        state.served(_record(0.25), True)  # held: a write is due in up to a second
        state.stop()
        await asyncio.sleep(WRITE_EVERY_S + 0.3)
        state.served(_record(0.25), True)  # a stream cancelled by the shutdown, recorded late

    asyncio.run(main())
    assert not (tmp_path / STATE_FILE).exists()


def test_stopping_leaves_another_servers_file_alone(tmp_path: Path) -> None:
    old = LiveState(tmp_path, "http://127.0.0.1:1/v1")
    old.start()
    newer = LiveState(tmp_path, "http://127.0.0.1:2/v1")
    newer.state["pid"] = os.getppid()  # another live process took the folder over
    newer.start()
    old.stop()
    assert json.loads((tmp_path / STATE_FILE).read_text())["url"] == "http://127.0.0.1:2/v1"


def test_a_request_starting_never_waits_for_the_file(tmp_path: Path) -> None:
    def active() -> int:
        return int(json.loads((tmp_path / STATE_FILE).read_text())["active"])

    async def main() -> None:
        state = LiveState(tmp_path, "http://127.0.0.1:1/v1")
        state.start()
        await asyncio.sleep(WRITE_EVERY_S + 0.1)
        state.began()
        assert active() == 0  # not written on the request's way in...
        await asyncio.sleep(0.05)
        assert active() == 1  # ...but as soon as the loop is free
        state.ended()
        await asyncio.sleep(WRITE_EVERY_S + 0.1)
        assert active() == 0
        state.stop()

    asyncio.run(main())
