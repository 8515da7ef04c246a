from __future__ import annotations

from datetime import date

import pytest

from chatroute.store import Store, TurnRecord

# (conversation index, model, created_at, input, output, cached, cache_write, cost, saved, route_kind, cache_status)
ROWS = [
    (0, "openai/gpt-4o", "2025-01-01T10:00:00.000Z", 1000, 200, 0, 0, 0.0045, None, "routed", "miss"),
    (0, "openai/gpt-4o", "2025-01-01T23:59:59.999Z", 2000, 100, 1500, 0, 0.0040, None, "routed", "miss"),
    (0, "local/llama", "2025-01-02T00:00:00.000Z", 500, 500, 0, 0, None, None, "pinned", "bypass"),
    (1, "anthropic/claude", "2025-01-02T08:00:00.000Z", 3000, 300, 1000, 500, 0.0210, None, "routed", "miss"),
    (1, "openai/gpt-4o", "2025-01-03T12:00:00.000Z", 0, 0, 0, 0, 0.0, 0.0045, "cache", "hit"),
    (2, "local/llama", "2025-01-03T13:00:00.000Z", 10, 20, 0, 0, None, None, "default", "bypass"),
]


@pytest.fixture
def spent(store: Store) -> tuple[Store, list[str]]:
    convs = [store.create_conversation(f"c{i}").id for i in range(3)]
    for ci, model, ts, i, o, cached, cw, cost, saved, kind, cs in ROWS:
        store.add_turn(
            TurnRecord(
                conversation_id=convs[ci], message_id=None, model=model, provider=model.split("/")[0],
                created_at=ts, input_tokens=i, output_tokens=o, cached_tokens=cached, cache_write_tokens=cw,
                cost_usd=cost, saved_usd=saved, route_kind=kind, cache_status=cs,
            )
        )
    return store, convs


def _expected(rows: list[tuple]) -> tuple:  # type: ignore[type-arg]
    known = [r[7] for r in rows if r[7] is not None]
    saved = [r[8] for r in rows if r[8] is not None]
    return (
        len(rows), sum(r[3] for r in rows), sum(r[4] for r in rows), sum(r[5] for r in rows),
        sum(known) if known else None, sum(saved) if saved else None, sum(r[7] is None for r in rows),
    )


def _got(r) -> tuple:  # type: ignore[no-untyped-def,type-arg]
    return (r.turns, r.input_tokens, r.output_tokens, r.cached_tokens, r.cost_usd, r.saved_usd, r.unknown_cost_turns)


def _approx(t: tuple) -> tuple:  # type: ignore[type-arg]
    return tuple(pytest.approx(x) if isinstance(x, float) else x for x in t)


def test_totals_equal_hand_sums(spent) -> None:  # type: ignore[no-untyped-def]
    store, _ = spent
    assert _got(store.spend_totals()) == _approx(_expected(ROWS))
    # By hand: 0.0045 + 0.0040 + 0.0210 + 0.0 = 0.0295, two unknown-price turns.
    t = store.spend_totals()
    assert t.cost_usd == pytest.approx(0.0295) and t.unknown_cost_turns == 2 and t.cached_tokens == 2500


def test_by_day(spent) -> None:  # type: ignore[no-untyped-def]
    store, _ = spent
    rows = store.spend("day")
    assert [r.key for r in rows] == ["2025-01-01", "2025-01-02", "2025-01-03"]
    for r in rows:
        assert _got(r) == _approx(_expected([x for x in ROWS if x[2].startswith(r.key)]))


def test_by_day_local_offset(spent) -> None:  # type: ignore[no-untyped-def]
    store, _ = spent
    # UTC+2: 23:59 on Jan 1 UTC is Jan 2 local.
    rows = {r.key: r.turns for r in store.spend("day", utc_offset_minutes=120)}
    assert rows == {"2025-01-01": 1, "2025-01-02": 3, "2025-01-03": 2}


def test_by_model_with_null_costs(spent) -> None:  # type: ignore[no-untyped-def]
    store, _ = spent
    rows = {r.key: r for r in store.spend("model")}
    llama = rows["local/llama"]
    assert llama.cost_usd is None and llama.unknown_cost_turns == 2  # "n/a", not $0
    assert _got(rows["openai/gpt-4o"]) == _approx(_expected([x for x in ROWS if x[1] == "openai/gpt-4o"]))
    assert [r.key for r in store.spend("model")][0] == "anthropic/claude"  # most expensive first
    assert [r.key for r in store.spend("model")][-1] == "local/llama"  # unknown cost last


def test_by_conversation_with_titles(spent) -> None:  # type: ignore[no-untyped-def]
    store, convs = spent
    rows = {r.key: r for r in store.spend("conversation")}
    assert rows[convs[0]].label == "c0"
    for ci, cid in enumerate(convs):
        assert _got(rows[cid]) == _approx(_expected([x for x in ROWS if x[0] == ci]))


def test_since_and_until(spent) -> None:  # type: ignore[no-untyped-def]
    store, _ = spent
    assert store.spend_totals(since=date(2025, 1, 2)).turns == 4
    assert store.spend_totals(since="2025-01-02").turns == 4
    assert store.spend_totals(since="2025-01-02", until="2025-01-03").turns == 2
    assert store.spend_totals(since="2025-01-01T12:00:00Z").turns == 5
    assert store.spend("day", since="2030-01-01") == []
    empty = store.spend_totals(since="2030-01-01")
    assert empty.turns == 0 and empty.cost_usd is None and empty.unknown_cost_turns == 0


def test_turn_usage_rows(spent) -> None:  # type: ignore[no-untyped-def]
    store, _ = spent
    rows = list(store.turn_usage(since="2025-01-02"))
    assert [r.created_at for r in rows] == sorted(x[2] for x in ROWS if x[2] >= "2025-01-02")
    claude = next(r for r in rows if r.model == "anthropic/claude")
    figures = (claude.input_tokens, claude.cached_tokens, claude.cache_write_tokens, claude.cost_usd)
    assert figures == (3000, 1000, 500, 0.021)
    assert rows[-2].route_kind == "cache" and rows[-2].cache_status == "hit"


def test_known_cost_usage_covers_the_turns_with_a_known_cost(spent) -> None:  # type: ignore[no-untyped-def]
    from chatroute.store import spend as sp

    store, convs = spent
    # A day that mixes known and unknown costs for one model (its price configured that day).
    store.add_turn(TurnRecord(conversation_id=convs[2], message_id=None, model="local/llama", provider="local",
                              created_at="2025-01-02T09:00:00.000Z", input_tokens=70, output_tokens=30,
                              cost_usd=0.0001, route_kind="pinned", cache_status="bypass"))
    rows = [*ROWS, (2, "local/llama", "2025-01-02T09:00:00.000Z", 70, 30, 0, 0, 0.0001, None, "pinned", "bypass")]

    def by_hand(since: str, chosen: bool | None) -> dict[str, tuple[int, int, int, int, int, float]]:
        sums: dict[str, tuple[int, int, int, int, int, float]] = {}
        for r in rows:
            if r[7] is None or r[2] < since or (chosen is not None and (r[9] in ("pinned", "override")) != chosen):
                continue
            t = sums.get(r[1], (0, 0, 0, 0, 0, 0.0))
            sums[r[1]] = (t[0] + 1, t[1] + r[3], t[2] + r[4], t[3] + r[5], t[4] + r[6], t[5] + r[7])
        return sums

    for since in (None, "2025-01-02"):
        for use_rollup in (True, False):
            for chosen in (None, False, True):  # every turn; the router's; the user's picks
                got = store._read(lambda c, s=since, u=use_rollup, k=chosen: sp.known_cost_usage(
                    c, s, None, 0, use_rollup=u, chosen=k))
                figures = {r.key: (r.turns, r.input_tokens, r.output_tokens, r.cached_tokens, r.cache_write_tokens,
                                   pytest.approx(r.cost_usd)) for r in got}
                assert figures == by_hand(since or "", chosen), (since, use_rollup, chosen)
    assert {r.key for r in store.known_cost_usage()} == {"openai/gpt-4o", "anthropic/claude", "local/llama"}


def test_spend_rejects_bad_grouping(store: Store) -> None:
    with pytest.raises(ValueError):
        store.spend("week")  # type: ignore[arg-type]


def test_spend_uses_the_covering_index(store: Store) -> None:
    plan = " ".join(
        str(r[-1]) for r in store.conn.execute(
            "EXPLAIN QUERY PLAN SELECT model, SUM(cost_usd) FROM turns INDEXED BY idx_turns_created"
            " WHERE created_at >= '2025' GROUP BY model"
        )
    )
    assert "COVERING INDEX idx_turns_created" in plan


def test_rollup_matches_raw_scan_on_random_data(store: Store) -> None:
    import random

    from chatroute.store import spend as sp

    rng = random.Random(7)
    convs = [store.create_conversation(f"c{i}").id for i in range(6)]
    models = ["a/x", "b/y", "c/z"]
    for _ in range(400):
        cost = None if rng.random() < 0.2 else round(rng.random() / 10, 6)
        store.add_turn(TurnRecord(
            conversation_id=rng.choice(convs), message_id=None, model=rng.choice(models), provider="p",
            created_at=f"2025-02-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z",
            input_tokens=rng.randint(0, 999), output_tokens=rng.randint(0, 999), cached_tokens=rng.randint(0, 99),
            cost_usd=cost, saved_usd=rng.choice([None, 0.01]), usage_estimated=rng.random() < 0.2,
        ))
    store.delete_conversation(convs[0])  # turns detach (UPDATE via ON DELETE SET NULL)
    with store.transaction() as c:  # and a direct edit + delete keep the rollup exact too
        c.execute("UPDATE turns SET cost_usd = NULL WHERE rowid % 7 = 0")
        c.execute("UPDATE turns SET usage_estimated = 1 - usage_estimated WHERE rowid % 5 = 0")
        c.execute("DELETE FROM turns WHERE rowid % 11 = 0")

    def norm(rows):  # type: ignore[no-untyped-def]
        return sorted((r.key or "", r.turns, r.input_tokens, r.output_tokens, r.cached_tokens,
                       round(r.cost_usd, 9) if r.cost_usd is not None else None,
                       round(r.saved_usd, 9) if r.saved_usd is not None else None, r.unknown_cost_turns, r.label,
                       r.estimated_turns)
                      for r in rows)

    c = store.conn
    for by in ("day", "model", "conversation"):
        windows = ((None, None, 0), ("2025-02-10", "2025-02-20", 0), ("2025-02-05", None, -300), (None, None, 60))
        for since, until, off in windows:
            rolled = sp.spend(c, by, since, until, off)
            raw = sp.spend(c, by, since, until, off, use_rollup=False)
            assert norm(rolled) == norm(raw), (by, since, until, off)
    for since in (None, "2025-02-14", "2025-02-14T05:00:00Z"):
        a, b = sp.totals(c, since, None, 0), sp.totals(c, since, None, 0, use_rollup=False)
        assert norm([a]) == norm([b])
    assert sp._rollup_where("2025-02-14T05:30:00Z", None, 0) is None  # sub-hour bound: raw path
    assert sp._rollup_where("2025-02-14", None, 330) is None  # UTC+5:30: raw path
    assert sp._rollup_where("2025-02-14", None, 120) is not None


def test_cache_hits(spent) -> None:  # type: ignore[no-untyped-def]
    store, _ = spent
    assert store.cache_hits() == 1
    assert store.cache_hits(since="2025-01-03") == 1
    assert store.cache_hits(since="2025-01-04") == 0
    plan = str(store.conn.execute(
        "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM turns WHERE created_at >= '2025' AND cache_status = 'hit'").fetchall())
    assert "idx_turns_cache_hits" in plan


def test_a_cost_report_is_read_from_one_snapshot(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Turns written by another process while the report is read: every figure of it counts the
    same turns (it gave today 314, all time 311 under load)."""
    import chatroute.accounting as accounting
    from chatroute.catalog import Catalog
    from chatroute.config import BudgetConfig, Config

    path = tmp_path / "chatroute.db"
    store, other = Store.open(path), Store.open(path)  # the other: another process's connection
    conv = store.create_conversation("c").id

    def turn() -> TurnRecord:
        return TurnRecord(conversation_id=conv, message_id=None, model="openai/gpt-4o-mini", provider="openai",
                          input_tokens=10, output_tokens=5, cost_usd=0.001)

    for _ in range(3):
        store.add_turn(turn())
    real = accounting.summarize

    def summarize_while_others_write(*args, **kwargs):  # type: ignore[no-untyped-def]
        out = real(*args, **kwargs)
        other.add_turn(turn())
        return out

    monkeypatch.setattr(accounting, "summarize", summarize_while_others_write)
    report = accounting.cost_report(store, Catalog.build(Config()), baseline="openai/gpt-4o", budget=BudgetConfig())
    counts = {name: p["turns"] for name, p in report["periods"].items()}
    assert set(counts.values()) == {3}, counts
    assert sum(r["turns"] for r in report["rows"]) == 3
    assert store.spend_totals().turns == 3 + len(counts)  # the others' turns are there once it is read again
    store.close()
    other.close()


def test_the_split_rollup_follows_updates_and_deletes(spent) -> None:  # type: ignore[no-untyped-def]
    """spend_day_model_chosen holds only turns with a known cost: a price found later, a turn
    repriced, moved to another kind or deleted keeps it equal to the turns themselves."""
    from chatroute.store import spend as sp

    store, _ = spent

    def both(chosen: bool | None) -> tuple[object, object]:
        def figures(use_rollup: bool) -> dict[str, tuple[int, int, int, int, float, int]]:
            rows = store._read(lambda c: sp.known_cost_usage(c, None, None, 0, use_rollup=use_rollup, chosen=chosen))
            return {r.key: (r.turns, r.input_tokens, r.output_tokens, r.cached_tokens, round(r.cost_usd or 0, 9),
                            r.estimated_turns) for r in rows}
        return figures(True), figures(False)

    c = store.conn
    steps = [
        # Usage found estimated (the flag alone), on a day that mixes known and unknown prices too.
        "UPDATE turns SET usage_estimated = 1 WHERE cost_usd = 0.0045 OR model = 'local/llama'",
        "UPDATE turns SET cost_usd = 0.0007 WHERE model = 'local/llama' AND route_kind = 'pinned'",  # priced later
        "UPDATE turns SET cost_usd = 0.0050 WHERE model = 'openai/gpt-4o' AND cost_usd = 0.0045",  # repriced
        "UPDATE turns SET route_kind = 'override' WHERE model = 'anthropic/claude'",  # now the user's pick
        "UPDATE turns SET cost_usd = NULL WHERE model = 'openai/gpt-4o' AND cost_usd = 0.0040",  # unknown again
        "DELETE FROM turns WHERE model = 'local/llama'",
    ]
    for sql in steps:
        c.execute(sql)
        for chosen in (False, True, None):
            rollup, direct = both(chosen)
            assert rollup == direct, (sql, chosen)
