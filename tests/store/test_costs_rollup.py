"""The daily spend rollups (schema v3: spend_day_model, spend_day_conversation) that serve
`chatroute costs`: after any mix of writes they must equal a direct aggregation over `turns`,
and reports read from them must equal reports scanned from `turns`."""

from __future__ import annotations

import multiprocessing as mp
import random
import socket
import sqlite3
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

import pytest

from chatroute.store import Store, TurnRecord
from chatroute.store import spend as sp
from chatroute.store.migrations import MIGRATIONS, SCHEMA_VERSION

MODELS = ["openai/gpt-4o", "anthropic/claude-haiku-4-5", "local/llama"]
_MEASURES = ("turns, input_tokens, output_tokens, cached_tokens, cache_write_tokens, cost_usd, cost_known, "
             "saved_usd, saved_known, estimated")
_DIRECT = """COUNT(*), SUM(input_tokens), SUM(output_tokens), SUM(cached_tokens), SUM(cache_write_tokens),
             TOTAL(cost_usd), COUNT(cost_usd), TOTAL(saved_usd), COUNT(saved_usd), SUM(usage_estimated)"""


def _cells(c: sqlite3.Connection, table: str) -> dict[tuple[str, str], tuple[Any, ...]]:
    keys = "day, model" if table == "spend_day_model" else "day, conversation_id"
    return {(r[0], r[1]): r[2:] for r in c.execute(f"SELECT {keys}, {_MEASURES} FROM {table}")}


def _direct(c: sqlite3.Connection, key: str) -> dict[tuple[str, str], tuple[Any, ...]]:
    return {(r[0], r[1]): r[2:] for r in c.execute(
        f"SELECT substr(created_at, 1, 10), {key}, {_DIRECT} FROM turns GROUP BY 1, 2")}


def _same(got: dict[tuple[str, str], tuple[Any, ...]], want: dict[tuple[str, str], tuple[Any, ...]]) -> None:
    assert got.keys() == want.keys()  # no missing cell, and no leftover empty one
    for k, w in want.items():
        g = got[k]
        # Counts and tokens exact; dollar sums equal up to float rounding.
        assert g[:5] == w[:5] and g[6] == w[6] and g[8:] == w[8:], k
        assert g[5] == pytest.approx(w[5], rel=1e-9, abs=1e-12) and g[7] == pytest.approx(w[7], rel=1e-9, abs=1e-12), k


def assert_rollups_exact(store: Store) -> None:
    c = store.conn
    _same(_cells(c, "spend_day_model"), _direct(c, "model"))
    _same(_cells(c, "spend_day_conversation"), _direct(c, "ifnull(conversation_id, '')"))


def _turn(rng: random.Random, conv: str | None, day: int | None = None, **kw: Any) -> TurnRecord:
    model = rng.choice(MODELS)
    values: dict[str, Any] = dict(
        conversation_id=conv, message_id=None, model=model, provider=model.split("/")[0],
        created_at=f"2026-03-{day or rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:07.250Z",
        input_tokens=rng.randint(0, 4000), output_tokens=rng.randint(0, 1500), cached_tokens=rng.randint(0, 900),
        cache_write_tokens=rng.randint(0, 50),
        cost_usd=None if model.startswith("local") else round(rng.random() / 50, 6),
        saved_usd=rng.choice([None, None, 0.0125]), usage_estimated=rng.random() < 0.2,
    )
    values.update(kw)
    return TurnRecord(**values)


def _reports_agree(store: Store) -> None:
    """Every grouping, with whole-day bounds (the daily path) equals the scan of `turns`."""
    c = store.conn
    for since, until in ((None, None), ("2026-03-10", None), ("2026-03-05", "2026-03-20"), ("2030-01-01", None)):
        assert sp._daily_where(since, until, 0) is not None
        for by in ("day", "model", "conversation"):
            fast, scan = sp.spend(c, by, since, until, 0), sp.spend(c, by, since, until, 0, use_rollup=False)
            assert [(r.key, r.label, r.turns, r.input_tokens, r.output_tokens, r.cached_tokens, r.unknown_cost_turns,
                     r.estimated_turns) for r in fast] == [
                (r.key, r.label, r.turns, r.input_tokens, r.output_tokens, r.cached_tokens, r.unknown_cost_turns,
                 r.estimated_turns) for r in scan], (by, since, until)
            for f, s in zip(fast, scan, strict=True):
                assert f.cost_usd == pytest.approx(s.cost_usd) and f.saved_usd == pytest.approx(s.saved_usd)
        a, b = sp.totals(c, since, until, 0), sp.totals(c, since, until, 0, use_rollup=False)
        assert (a.turns, a.input_tokens, a.unknown_cost_turns, a.estimated_turns) == (
            b.turns, b.input_tokens, b.unknown_cost_turns, b.estimated_turns)
        assert a.cost_usd == pytest.approx(b.cost_usd)


def test_rollups_follow_inserts_updates_and_deletes(store: Store) -> None:
    rng = random.Random(11)
    convs = [store.create_conversation(f"c{i}").id for i in range(5)]
    for _ in range(300):
        store.add_turn(_turn(rng, rng.choice(convs)))
    assert_rollups_exact(store)

    # A stopped stream is first recorded estimated with an unknown cost, later priced.
    interrupted = _turn(rng, convs[1], day=12, cost_usd=None, usage_estimated=True, status="interrupted")
    store.add_turn(interrupted)
    assert_rollups_exact(store)
    with store.transaction() as c:
        c.execute("UPDATE turns SET cost_usd = 0.0042, output_tokens = output_tokens + 77, usage_estimated = 0,"
                  " status = 'ok' WHERE id = ?", (interrupted.id,))
    assert_rollups_exact(store)
    with store.transaction() as c:  # the flag alone
        c.execute("UPDATE turns SET usage_estimated = 1 - usage_estimated WHERE rowid % 5 = 0")
    assert_rollups_exact(store)

    # Moves between cells: another day, another model, another conversation.
    with store.transaction() as c:
        c.execute("UPDATE turns SET created_at = '2026-04-01T00:00:00.000Z' WHERE rowid % 13 = 0")
        c.execute("UPDATE turns SET model = 'openai/gpt-4o-mini' WHERE rowid % 17 = 0")
        c.execute("UPDATE turns SET conversation_id = ? WHERE rowid % 19 = 0", (convs[4],))
        c.execute("UPDATE turns SET cost_usd = NULL WHERE rowid % 7 = 0")
    assert_rollups_exact(store)

    # Deleting a conversation keeps its turns (conversation_id NULL), shown as "(deleted)".
    deleted_turns = len(store.turns(convs[0]))
    before = store.spend_totals()
    assert store.delete_conversation(convs[0])
    assert_rollups_exact(store)
    rows = {r.key: r for r in store.spend("conversation")}
    assert rows[None].turns == deleted_turns and rows[None].label == "(deleted)"
    after = store.spend_totals()
    assert (after.turns, after.input_tokens) == (before.turns, before.input_tokens)
    assert after.cost_usd == pytest.approx(before.cost_usd)

    with store.transaction() as c:
        c.execute("DELETE FROM turns WHERE rowid % 11 = 0")
        c.execute("DELETE FROM turns WHERE created_at LIKE '2026-03-0%'")  # whole days: their cells go
    assert_rollups_exact(store)
    assert not store.conn.execute("SELECT 1 FROM spend_day_model WHERE day LIKE '2026-03-0%'").fetchone()
    _reports_agree(store)


def test_recovered_stream_lands_in_the_rollups(db_path: Path) -> None:
    """A reply left 'streaming' by a killed process gets its estimated turn record at the next
    open (crash recovery); the rollups include it."""
    with Store.open(db_path) as s:
        conv = s.create_conversation("crashed")
        user = s.add_message(conv.id, "user", "hello there", None)
        reply = s.add_message(conv.id, "assistant", "", user.id, status="streaming", model="openai/gpt-4o")
        s.update_message_text(reply.id, "a partial answer " * 20)
        # The writer tag of a process that is gone.
        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait()
        s.conn.execute("UPDATE messages SET writer = ? WHERE id = ?", (f"{socket.gethostname()}:{gone.pid}", reply.id))

    def price(stream: Any) -> TurnRecord:
        record = stream.rough_record()
        record.cost_usd = 0.00123
        return record

    with Store.open(db_path, price_recovered=price) as s:
        assert s.turn_for_message(reply.id) is not None
        assert_rollups_exact(s)
        assert s.spend_totals(since="2000-01-01").cost_usd == pytest.approx(0.00123)


def _writer(path: str, n: int, out: mp.Queue[str]) -> None:
    try:
        rng = random.Random(n)
        with Store.open(path) as store:
            convs = [store.create_conversation(f"w{n}-{i}").id for i in range(3)]
            for i in range(60):
                store.add_turn(_turn(rng, rng.choice(convs), day=1 + i % 3))
                if i == 30:
                    store.delete_conversation(convs.pop(0))
                if i % 20 == 0:
                    store.spend("conversation")
        out.put("ok")
    except BaseException:  # report everything, including 'database is locked'
        out.put(traceback.format_exc())


def test_rollups_exact_under_concurrent_writers(db_path: Path) -> None:
    Store.open(db_path).close()
    ctx = mp.get_context("spawn")
    out: mp.Queue[str] = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(str(db_path), n, out)) for n in range(3)]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert results == ["ok"] * 3, "\n".join(r for r in results if r != "ok")
    with Store.open(db_path) as s:
        assert s.spend_totals().turns == 180
        assert_rollups_exact(s)
        _reports_agree(s)


def _v2_database(path: Path) -> None:
    """A database as chatroute wrote it before the daily rollups existed (schema 2)."""
    import sqlite_utils

    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    db = sqlite_utils.Database(conn)
    for migrate in MIGRATIONS[:2]:
        migrate(db)
    conn.execute("PRAGMA user_version = 2")
    conn.close()


def test_migration_backfills_an_existing_v2_database(db_path: Path) -> None:
    assert SCHEMA_VERSION >= 3
    _v2_database(db_path)
    rng = random.Random(5)
    store = Store.__new__(Store)  # write through the v2 schema without migrating
    raw = sqlite3.connect(db_path, isolation_level=None)
    raw.execute("PRAGMA foreign_keys = ON")
    raw.execute("INSERT INTO conversations (id, title, created_at, updated_at) VALUES ('k', 'kept', 'x', 'x'),"
                " ('d', 'gone', 'x', 'x')")
    for i in range(200):
        row = _turn(rng, "k" if i % 3 else "d").to_row()
        row.pop("client")  # a column of a later schema
        row.pop("price_source")  # and another
        raw.execute(f"INSERT INTO turns ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))
    raw.execute("DELETE FROM conversations WHERE id = 'd'")  # its turns keep a NULL conversation
    assert raw.execute("SELECT name FROM sqlite_master WHERE name = 'spend_day_model'").fetchone() is None
    raw.close()
    del store

    with Store.open(db_path) as s:
        assert s.schema_version() == SCHEMA_VERSION
        assert s.conn.execute("SELECT COUNT(*) FROM spend_day_model").fetchone()[0] > 0
        assert_rollups_exact(s)
        _reports_agree(s)
        assert {r.key: r.label for r in s.spend("conversation")}.get(None) == "(deleted)"
        s.add_turn(_turn(rng, "k"))  # and the triggers keep it up to date from then on
        assert_rollups_exact(s)
        assert s.integrity_check() == "ok"


def test_daily_path_only_for_whole_utc_days() -> None:
    assert sp._daily_where("2026-03-10", "2026-03-12", 0) == (
        "WHERE day >= ? AND day < ?", ["2026-03-10", "2026-03-12"]
    )
    assert sp._daily_where("2026-03-10T00:00:00Z", None, 0) is not None
    assert sp._daily_where("2026-03-10T05:00:00Z", None, 0) is None  # hourly rollup instead
    assert sp._daily_where("2026-03-10", None, 120) is None  # local days: hourly rollup instead
    assert sp._daily_where(None, None, 0) == ("", [])


def test_equal_costs_are_ordered_by_turns_then_key_not_float_noise(store: Store) -> None:
    """Sums of the same costs added in another order can differ in the last bit; rows whose
    costs are equal to a nano-dollar must still come out in one fixed order."""
    convs = [store.create_conversation(t).id for t in ("a", "b")]
    # 0.1 + 0.2 + 0.3 != 0.3 + 0.2 + 0.1 in floating point.
    for conv, costs in ((convs[0], (0.1, 0.2, 0.3)), (convs[1], (0.3, 0.2, 0.1))):
        for cost in costs:
            store.add_turn(TurnRecord(conversation_id=conv, message_id=None, model="m/x", provider="m",
                                      created_at="2026-03-01T10:00:00Z", cost_usd=cost))
    for use_rollup in (True, False):
        rows = sp.spend(store.conn, "conversation", None, None, 0, use_rollup=use_rollup)
        assert [r.key for r in rows] == sorted(convs)
