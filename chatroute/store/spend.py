"""Spend aggregation for costs and budgets, all in SQL.

Three paths giving identical results (tests check they agree; cost sums up to float rounding):
- the daily rollups `spend_day_model` and `spend_day_conversation` (schema v3, maintained by
  triggers on `turns`), used when the bounds are whole UTC days and the offset is 0 - what
  `chatroute costs` always asks (dates, today, this week/month). A row per (day, model) or
  (day, conversation): a few thousand rows at 200k turns, so every figure takes a millisecond;
- the hourly rollup table `turn_rollup` (also maintained by triggers), used whenever
  the bounds fall on whole hours and the day offset is whole hours (local time zones). It has
  at most one row per (hour, model, conversation): ~70k rows at 200k turns;
- a scan of the covering index idx_turns_created (never the wide rows with route JSON) for
  arbitrary bounds.
A cost that is unknown (NULL) is never summed as 0: sums cover known costs only, are None when
no turn had a known cost, and unknown_cost_turns counts the rest. Requests that failed before
anything was billed cost $0 and are not turns: groups holding only those are left out.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any, Literal

from chatroute.store.connection import StoreBase
from chatroute.store.ids import ts_bound
from chatroute.store.migrations import CHOSEN_KINDS
from chatroute.store.records import SpendRow, UsageRow

Bound = str | date | datetime | None

# A request that failed before anything was billed is not a turn (see migrations.COUNTED).
_COUNTED = "(status != 'error' OR input_tokens + output_tokens > 0)"
_AGG = f"""
    COALESCE(SUM({_COUNTED}), 0) AS turns,
    COALESCE(SUM(input_tokens), 0) AS input_tokens,
    COALESCE(SUM(output_tokens), 0) AS output_tokens,
    COALESCE(SUM(cached_tokens), 0) AS cached_tokens,
    SUM(cost_usd) AS cost_usd,
    SUM(saved_usd) AS saved_usd,
    COALESCE(SUM({_COUNTED} AND cost_usd IS NULL), 0) AS unknown_cost_turns,
    COALESCE(SUM({_COUNTED} AND usage_estimated), 0) AS estimated_turns
"""


def _where(since: Bound, until: Bound, offset: int) -> tuple[str, list[Any]]:
    clauses, params = [], []
    lo, hi = ts_bound(since, utc_offset_minutes=offset), ts_bound(until, utc_offset_minutes=offset)
    if lo is not None:
        clauses.append("created_at >= ?")
        params.append(lo)
    if hi is not None:
        clauses.append("created_at < ?")
        params.append(hi)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


def _row(r: tuple[Any, ...], label: str | None = None) -> SpendRow:
    return SpendRow(
        key=r[0],
        turns=r[1],
        input_tokens=r[2],
        output_tokens=r[3],
        cached_tokens=r[4],
        cost_usd=r[5],
        saved_usd=r[6],
        unknown_cost_turns=r[7],
        estimated_turns=r[8],
        label=label,
    )


_ROLLUP_AGG = """
    SUM(turns) AS turns,
    COALESCE(SUM(input_tokens), 0) AS input_tokens,
    COALESCE(SUM(output_tokens), 0) AS output_tokens,
    COALESCE(SUM(cached_tokens), 0) AS cached_tokens,
    CASE WHEN SUM(cost_known) > 0 THEN SUM(cost_usd) END AS cost_usd,
    CASE WHEN SUM(saved_known) > 0 THEN SUM(saved_usd) END AS saved_usd,
    COALESCE(SUM(turns) - SUM(cost_known), 0) AS unknown_cost_turns,
    COALESCE(SUM(estimated), 0) AS estimated_turns
"""
_HOUR_SUFFIX = ":00:00.000Z"


def _rollup_where(since: Bound, until: Bound, offset: int) -> tuple[str, list[Any]] | None:
    """WHERE clause over turn_rollup.hour, or None when the bounds are not whole hours."""
    if offset % 60:
        return None
    clauses, params = [], []
    for bound, op in ((since, ">="), (until, "<")):
        ts = ts_bound(bound, utc_offset_minutes=offset)
        if ts is None:
            continue
        if len(ts) != 24 or not ts.endswith(_HOUR_SUFFIX):
            return None
        clauses.append(f"hour {op} ?")
        params.append(ts[:13])
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


_DAY_SUFFIX = "T00:00:00.000Z"


def _daily_where(since: Bound, until: Bound, offset: int) -> tuple[str, list[Any]] | None:
    """WHERE clause over the daily rollups' `day`, or None when the bounds are not whole UTC days."""
    if offset:
        return None
    clauses, params = [], []
    for bound, op in ((since, ">="), (until, "<")):
        ts = ts_bound(bound)
        if ts is None:
            continue
        if len(ts) != 24 or not ts.endswith(_DAY_SUFFIX):
            return None
        clauses.append(f"day {op} ?")
        params.append(ts[:10])
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


# Most expensive first. Costs are float sums whose last bits depend on the order they were added
# in (which differs between the paths above), so they are compared at a nano-dollar: equal
# costs then fall back to turns and key instead of to rounding noise.
_BY_COST = "cost_usd IS NULL, round(cost_usd, 9) DESC, turns DESC, key"


def _ordered(grouped_sql: str, order: str) -> str:
    # Wrapped so that ORDER BY expressions see the aggregated columns: inside round(), a bare
    # `cost_usd` would otherwise name the table's column, not the sum.
    return f"SELECT * FROM ({grouped_sql}) ORDER BY {order}"


def spend(
    c: sqlite3.Connection, by: str, since: Bound, until: Bound, offset: int, *, use_rollup: bool = True
) -> list[SpendRow]:
    if by == "client":
        return _by_client(c, since, until, offset, use_rollup=use_rollup)
    daily = _daily_where(since, until, offset) if use_rollup else None
    if daily is not None:
        where, params = daily
        if by == "day":
            table, key, order = "spend_day_model", "day", "key"
        elif by == "model":
            table, key, order = "spend_day_model", "model", _BY_COST
        elif by == "conversation":
            table, key, order = "spend_day_conversation", "nullif(conversation_id, '')", _BY_COST
        else:
            raise ValueError(f"spend(by=...) must be day, model, conversation or client, not {by!r}")
        sql = f"SELECT {key} AS key, {_ROLLUP_AGG} FROM {table} {where} GROUP BY key HAVING SUM(turns) > 0"
        return _finish(c, by, c.execute(_ordered(sql, order), params).fetchall())
    rollup = _rollup_where(since, until, offset) if use_rollup else None
    if rollup is not None:
        where, params = rollup
        if by == "day":
            key = "substr(hour, 1, 10)" if not offset else f"date(hour || ':00:00', '{int(offset):+d} minutes')"
        elif by == "model":
            # The unary + keeps SQLite off idx_turn_rollup_model: walking that index visits every
            # row of the table (~50 ms at 200k turns) even for "today", where the primary key's
            # hour range holds a handful.
            key = "+model"
        elif by == "conversation":
            key = "nullif(conversation_id, '')"
        else:
            raise ValueError(f"spend(by=...) must be day, model, conversation or client, not {by!r}")
        order = "key" if by == "day" else _BY_COST
        sql = f"SELECT {key} AS key, {_ROLLUP_AGG} FROM turn_rollup {where} GROUP BY key HAVING SUM(turns) > 0"
        return _finish(c, by, c.execute(_ordered(sql, order), params).fetchall())
    where, params = _where(since, until, offset)
    if by == "day":
        key = "substr(created_at, 1, 10)" if not offset else f"date(created_at, '{int(offset):+d} minutes')"
        order = "key"
    elif by == "model":
        key, order = "model", _BY_COST
    elif by == "conversation":
        key, order = "conversation_id", _BY_COST
    else:
        raise ValueError(f"spend(by=...) must be day, model or conversation, not {by!r}")
    sql = (f"SELECT {key} AS key, {_AGG} FROM turns INDEXED BY idx_turns_created {where} GROUP BY key"
           f" HAVING SUM({_COUNTED}) > 0")
    return _finish(c, by, c.execute(_ordered(sql, order), params).fetchall())


# Label of the turns no client sent through `chatroute serve`: the TUI's and the CLI's.
OWN_CHAT = "chatroute (chat)"


def _by_client(c: sqlite3.Connection, since: Bound, until: Bound, offset: int, *, use_rollup: bool) -> list[SpendRow]:
    """Spend per client of `chatroute serve`; key None is chatroute's own chat. Whole UTC days
    come from the daily rollup, other bounds from the turns themselves."""
    daily = _daily_where(since, until, offset) if use_rollup else None
    if daily is not None:
        where, params = daily
        sql = (f"SELECT nullif(client, '') AS key, {_ROLLUP_AGG} FROM spend_day_client {where} GROUP BY key"
               " HAVING SUM(turns) > 0")
    else:
        where, params = _where(since, until, offset)
        sql = f"SELECT client AS key, {_AGG} FROM turns {where} GROUP BY key HAVING SUM({_COUNTED}) > 0"
    rows = c.execute(_ordered(sql, _BY_COST), params).fetchall()
    return [_row(r, r[0] if r[0] is not None else OWN_CHAT) for r in rows]


def _finish(c: sqlite3.Connection, by: str, rows: list[tuple[Any, ...]]) -> list[SpendRow]:
    if by != "conversation":
        return [_row(r) for r in rows]
    ids = [r[0] for r in rows if r[0] is not None]
    titles: dict[str, str | None] = {}
    for i in range(0, len(ids), 500):  # stay under SQLite's bound-parameter limit
        chunk = ids[i : i + 500]
        marks = ",".join("?" * len(chunk))
        titles.update(c.execute(f"SELECT id, title FROM conversations WHERE id IN ({marks})", chunk).fetchall())
    # key None = turns of deleted conversations (their spend is kept), and requests answered by
    # `chatroute serve`, which belong to no conversation (`--by client` tells them apart).
    orphans = "(deleted)"
    if any(r[0] is None for r in rows) and c.execute(
            "SELECT 1 FROM turns WHERE client IS NOT NULL LIMIT 1").fetchone() is not None:
        orphans = "(deleted, or served to other tools)"
    return [_row(r, titles.get(r[0]) if r[0] is not None else orphans) for r in rows]


def totals(c: sqlite3.Connection, since: Bound, until: Bound, offset: int, *, use_rollup: bool = True) -> SpendRow:
    daily = _daily_where(since, until, offset) if use_rollup else None
    rollup = daily if daily is not None else (_rollup_where(since, until, offset) if use_rollup else None)
    if rollup is not None:
        where, params = rollup
        table = "spend_day_model" if daily is not None else "turn_rollup"
        r = c.execute(f"SELECT NULL AS key, {_ROLLUP_AGG} FROM {table} {where}", params).fetchone()
        return _row((None, r[1] or 0, *r[2:]))
    where, params = _where(since, until, offset)
    r = c.execute(f"SELECT NULL AS key, {_AGG} FROM turns INDEXED BY idx_turns_created {where}", params).fetchone()
    return _row(r)


def known_cost_usage(c: sqlite3.Connection, since: Bound, until: Bound, offset: int, *,
                     use_rollup: bool = True, chosen: bool | None = None) -> list[SpendRow]:
    """Per model, the tokens and summed cost of the turns whose cost is known: what a baseline
    is priced on, so that it covers the very turns the actual cost sums. `chosen`: only the
    turns whose model the user chose (a pin, an override, a compare answer), or only the
    others; None: all. From the daily rollup where a (day, model) holds only known costs (or
    none); a day that mixes them (a price configured that day, a provider that reported a cost
    for some requests) reads its turns by model."""
    kinds = ", ".join(f"'{k}'" for k in CHOSEN_KINDS)
    kind_sql = "" if chosen is None else f" AND (route_kind IN ({kinds})) = {int(chosen)}"
    daily = _daily_where(since, until, offset) if use_rollup else None
    if daily is None:
        where, params = _where(since, until, offset)
        where = (where + " AND" if where else "WHERE") + " cost_usd IS NOT NULL" + kind_sql
        sql = (f"SELECT model AS key, {_AGG}, COALESCE(SUM(cache_write_tokens), 0)"
               f" FROM turns INDEXED BY idx_turns_created {where} GROUP BY key")
        return [replace(_row(r), cache_write_tokens=r[9]) for r in c.execute(sql, params).fetchall()]
    where, params = daily
    where = (where + " AND" if where else "WHERE") + " cost_known > 0"
    if chosen is not None:
        # That rollup holds only turns with a known cost: no day needs reading turn by turn.
        sql = (f"SELECT model, SUM(turns), SUM(input_tokens), SUM(output_tokens), SUM(cached_tokens),"
               f" SUM(cache_write_tokens), TOTAL(cost_usd), SUM(estimated) FROM spend_day_model_chosen {where}"
               f" AND chosen = {int(chosen)} GROUP BY model")
        return [SpendRow(key=model, turns=turns, input_tokens=n_in, output_tokens=n_out, cached_tokens=n_cached,
                         cost_usd=cost, saved_usd=None, unknown_cost_turns=0, cache_write_tokens=n_writes,
                         estimated_turns=n_estimated)
                for model, turns, n_in, n_out, n_cached, n_writes, cost, n_estimated in c.execute(sql, params)]
    sums: dict[str, list[float]] = {}
    for day, model, turns, n_in, n_out, n_cached, n_writes, cost, known, n_estimated in c.execute(
            "SELECT day, model, turns, input_tokens, output_tokens, cached_tokens, cache_write_tokens, cost_usd,"
            f" cost_known, estimated FROM spend_day_model {where}", params):
        if known < turns:
            start = date.fromisoformat(day)
            n_in, n_out, n_cached, n_writes, cost, n_estimated = c.execute(
                "SELECT COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0),"
                " COALESCE(SUM(cached_tokens), 0), COALESCE(SUM(cache_write_tokens), 0), TOTAL(cost_usd),"
                f" COALESCE(SUM({_COUNTED} AND usage_estimated), 0) FROM turns INDEXED BY idx_turns_model"
                " WHERE model = ? AND created_at >= ? AND created_at < ? AND cost_usd IS NOT NULL",
                (model, ts_bound(start), ts_bound(start + timedelta(days=1)))).fetchone()
        total = sums.setdefault(model, [0, 0, 0, 0, 0, 0.0, 0])
        for i, n in enumerate((known, n_in, n_out, n_cached, n_writes, cost, n_estimated)):
            total[i] += n
    return [SpendRow(key=model, turns=int(t[0]), input_tokens=int(t[1]), output_tokens=int(t[2]),
                     cached_tokens=int(t[3]), cost_usd=t[5], saved_usd=None, unknown_cost_turns=0,
                     cache_write_tokens=int(t[4]), estimated_turns=int(t[6]))
            for model, t in sums.items()]


def usage_rows(c: sqlite3.Connection, since: Bound, until: Bound, offset: int) -> list[tuple[Any, ...]]:
    where, params = _where(since, until, offset)
    return c.execute(
        "SELECT model, input_tokens, output_tokens, cached_tokens, cache_write_tokens, cost_usd,"
        f" route_kind, cache_status, created_at FROM turns INDEXED BY idx_turns_created {where}"
        " ORDER BY created_at",
        params,
    ).fetchall()


def estimated(c: sqlite3.Connection, since: Bound, until: Bound, offset: int) -> tuple[int, float | None]:
    """(turns, summed known cost) of the turns whose usage was estimated, from a partial index."""
    where, params = _where(since, until, offset)
    where = (where + " AND" if where else "WHERE") + " usage_estimated = 1"
    n, cost = c.execute(
        f"SELECT COUNT(*), SUM(cost_usd) FROM turns INDEXED BY idx_turns_estimated {where}", params
    ).fetchone()
    return int(n), cost


class SpendQueries(StoreBase):
    """The spend figures above, read through a Store's connection (a part of Store)."""

    def spend(
        self,
        by: Literal["day", "model", "conversation", "client"] = "day",
        since: Bound = None,
        until: Bound = None,
        *,
        utc_offset_minutes: int = 0,
    ) -> list[SpendRow]:
        """Spend grouped by UTC day (or local day with utc_offset_minutes), model,
        conversation or client (of `chatroute serve`; key None: chatroute's own chat). Days
        ascend; models and conversations are most expensive first.
        Unknown costs are counted in `unknown_cost_turns`, never summed as 0."""
        return self._read(lambda c: spend(c, by, since, until, utc_offset_minutes))

    def spend_totals(
        self,
        since: Bound = None,
        until: Bound = None,
        *,
        utc_offset_minutes: int = 0,
    ) -> SpendRow:
        return self._read(lambda c: totals(c, since, until, utc_offset_minutes))

    def known_cost_usage(
        self,
        since: Bound = None,
        until: Bound = None,
        *,
        utc_offset_minutes: int = 0,
        chosen: bool | None = None,
    ) -> list[SpendRow]:
        """Token and known-cost sums per model over the turns whose cost is known (key: the
        model): what `chatroute costs` prices on its baseline model. `chosen`: only the turns
        whose model the user chose (True) or the router did (False); None: all."""
        return self._read(lambda c: known_cost_usage(c, since, until, utc_offset_minutes, chosen=chosen))

    def estimated_spend(
        self,
        since: Bound = None,
        until: Bound = None,
        *,
        utc_offset_minutes: int = 0,
    ) -> tuple[int, float | None]:
        """(turns, cost) of the turns whose usage was estimated rather than reported: stopped
        or killed streams, servers that send no counts. They are in spend() and spend_totals()
        too; this says how much of those totals is an estimate."""
        return self._read(lambda c: estimated(c, since, until, utc_offset_minutes))

    def cache_hits(
        self,
        since: Bound = None,
        until: Bound = None,
        *,
        utc_offset_minutes: int = 0,
    ) -> int:
        """How many turns were answered from the cache (partial index: fast at any size)."""
        return self._count_turns("cache_status = 'hit'", since, until, utc_offset_minutes)

    def cache_unpriced_hits(
        self,
        since: Bound = None,
        until: Bound = None,
        *,
        utc_offset_minutes: int = 0,
    ) -> int:
        """Of the cache hits, those whose saving is unknown (saved_usd NULL: no known price for
        the model that would have answered): they are not in the summed saving, nor a saving of $0."""
        return self._count_turns("cache_status = 'hit' AND saved_usd IS NULL", since, until, utc_offset_minutes)

    def _count_turns(self, condition: str, since: Bound, until: Bound, utc_offset_minutes: int) -> int:
        """How many turns between `since` and `until` meet `condition` (a fixed SQL condition)."""
        where, params = _where(since, until, utc_offset_minutes)
        where = (where + " AND" if where else "WHERE") + f" {condition}"
        return int(self._read(lambda c: c.execute(f"SELECT COUNT(*) FROM turns {where}", params).fetchone()[0]))

    def turn_usage(
        self,
        since: Bound = None,
        until: Bound = None,
        *,
        utc_offset_minutes: int = 0,
    ) -> Iterator[UsageRow]:
        """Per-turn usage, oldest first, for baseline pricing ("what if all of it ran on X")."""
        rows = self._read(lambda c: usage_rows(c, since, until, utc_offset_minutes))
        return map(UsageRow._make, rows)
