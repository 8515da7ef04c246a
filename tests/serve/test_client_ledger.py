"""The client column and its daily rollup (schema migration 5): exact under inserts, updates and
deletes, equal to a scan of the turns, and backfilled on an older database."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest
import sqlite_utils

from chatroute.store import Store, TurnRecord
from chatroute.store.migrations import MIGRATIONS, SCHEMA_VERSION
from chatroute.store.spend import OWN_CHAT

CLIENTS = [None, "OpenAI/Python", "llm", "my-editor"]


def _turn(rng: random.Random, client: str | None) -> TurnRecord:
    return TurnRecord(conversation_id=None, message_id=None, model=rng.choice(["openai/gpt-4o", "openai/gpt-4o-mini"]),
                      provider="openai", input_tokens=rng.randint(1, 900), output_tokens=rng.randint(1, 900),
                      cost_usd=None if rng.random() < 0.1 else rng.random() / 100, client=client,
                      usage_estimated=rng.random() < 0.2,
                      created_at=f"2026-11-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:30:00.000Z")


def _rollup(store: Store) -> dict[str, tuple[int, int, int]]:
    return {k or OWN_CHAT: (t, i, o) for k, t, i, o in store.conn.execute(
        "SELECT client, SUM(turns), SUM(input_tokens), SUM(output_tokens) FROM spend_day_client GROUP BY client")}


def _direct(store: Store) -> dict[str, tuple[int, int, int]]:
    return {k or OWN_CHAT: (t, i, o) for k, t, i, o in store.conn.execute(
        "SELECT client, COUNT(*), SUM(input_tokens), SUM(output_tokens) FROM turns GROUP BY client")}


def _agree(store: Store) -> None:
    assert _rollup(store) == _direct(store)
    fast = {r.key: r for r in store.spend("client")}  # whole days: the rollup
    slow = {r.key: r for r in store.spend("client", since="2026-11-01T06:30:00Z")}  # not whole days: a scan
    every = {r.key: r for r in store.spend("client", since="2020-01-01T00:00:01Z")}
    assert set(fast) == set(every) and set(slow) <= set(fast)
    for key, row in fast.items():
        assert (row.turns, row.input_tokens, row.unknown_cost_turns, row.estimated_turns) == (
            every[key].turns, every[key].input_tokens, every[key].unknown_cost_turns, every[key].estimated_turns)
        assert (row.cost_usd or 0) == pytest.approx(every[key].cost_usd or 0)
        assert row.label == (key if key is not None else OWN_CHAT)


def test_client_rollup_stays_exact(tmp_path: Path) -> None:
    rng = random.Random(7)
    with Store.open(tmp_path / "c.db") as store:
        turns = [store.add_turn(_turn(rng, rng.choice(CLIENTS))) for _ in range(300)]
        _agree(store)
        store.conn.execute("UPDATE turns SET client = 'renamed', cost_usd = 0.5 WHERE id = ?", (turns[0].id,))
        store.conn.execute("DELETE FROM turns WHERE id IN (?, ?)", (turns[1].id, turns[2].id))
        _agree(store)
        rows = store.spend("client")
        assert rows[0].cost_usd is not None and rows == sorted(rows, key=lambda r: -(r.cost_usd or 0))


def test_migration_backfills_older_turns_as_chatroutes_own(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    db = sqlite_utils.Database(conn)
    for migrate in MIGRATIONS[:3]:
        migrate(db)
    conn.execute("PRAGMA user_version = 3")
    rng = random.Random(3)
    for _ in range(50):
        row = _turn(rng, None).to_row()
        row.pop("client")
        row.pop("price_source")  # a column of schema 9
        conn.execute(f"INSERT INTO turns ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))
    conn.close()
    with Store.open(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert set(_rollup(store)) == {OWN_CHAT} and _rollup(store)[OWN_CHAT][0] == 50
        store.add_turn(_turn(rng, "llm"))
        _agree(store)


def test_by_conversation_says_served_requests_share_the_no_conversation_row(tmp_path: Path) -> None:
    rng = random.Random(11)
    with Store.open(tmp_path / "c.db") as store:
        store.add_turn(_turn(rng, None))
        assert {r.key: r.label for r in store.spend("conversation")}[None] == "(deleted)"
        store.add_turn(_turn(rng, "llm"))
        assert {r.key: r.label for r in store.spend("conversation")}[None] == "(deleted, or served to other tools)"


def test_a_client_with_only_failed_requests_has_no_row(tmp_path: Path) -> None:
    rng = random.Random(5)
    with Store.open(tmp_path / "c.db") as store:
        store.add_turn(_turn(rng, "llm"))
        # Failed before any token: stored so the failure shows where it happened, but not a turn.
        for _ in range(2):
            store.add_turn(TurnRecord(conversation_id=None, message_id=None, model="openai/gpt-4o", provider="openai",
                                      status="error", cost_usd=0.0, client="always-limited",
                                      created_at="2026-11-03T10:30:00.000Z", error="429"))
        for since in (None, "2020-01-01T06:30:00Z"):  # whole days: the daily rollup; else a scan
            rows = store.spend("client", since=since)
            assert [r.key for r in rows] == ["llm"], since
