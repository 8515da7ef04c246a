"""Numbered schema migrations, tracked in PRAGMA user_version.

MIGRATIONS[i] upgrades a database from version i to i+1. Never edit a migration that has
shipped; append a new one. Each runs inside the caller's BEGIN IMMEDIATE transaction
(SQLite DDL is transactional), so two processes opening a fresh file cannot both apply it.
Other modules (cache, routing health) keep their own tables and create them idempotently;
they must not touch user_version.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported lazily by Store.db, only when a migration has to run
    import sqlite_utils

Migration = Callable[["sqlite_utils.Database"], None]


def _m1_initial(db: sqlite_utils.Database) -> None:
    for sql in _M1_STATEMENTS:
        db.execute(sql)


def _sum_trigger(name: str, table: str, keys: dict[str, str], event: str, *,
                 add: str | None = None, sub: str | None = None, counted: str = "1", when: str | None = None,
                 estimated: bool = False) -> str:
    """A trigger keeping `table` (one row per `keys`, each an expression over a turn row written
    with `{r}`) equal to sums over turns: it subtracts the old row and adds the new one.
    Integer sums are exact; cost sums are floats, equal to a direct SUM up to rounding.
    `counted` (over `{r}`): 1 when the row is a turn that counts (in `turns` and `cost_known`).
    `estimated`: the table has the column of that name (schema 8), the counted turns whose usage
    was estimated; off, the trigger is the one the migrations before it created."""
    def upsert(row: str, sign: str) -> str:
        key_vals = ", ".join(expr.format(r=row) for expr in keys.values())
        turn = counted.format(r=row)
        known = f"({row}.cost_usd IS NOT NULL)" if counted == "1" else f"({turn} AND {row}.cost_usd IS NOT NULL)"
        vals = (
            f"{key_vals}, {sign}{turn}, {sign}{row}.input_tokens, {sign}{row}.output_tokens, {sign}{row}.cached_tokens,"
            f" {sign}{row}.cache_write_tokens, {sign}ifnull({row}.cost_usd, 0), {sign}{known},"
            f" {sign}ifnull({row}.saved_usd, 0), {sign}({row}.saved_usd IS NOT NULL)"
        )
        columns, sets = "", ""
        if estimated:
            vals += f", {sign}({turn} AND {row}.usage_estimated)"
            columns = ", estimated"
            sets = ",\n            estimated = estimated + excluded.estimated"
        return f"""
        INSERT INTO {table} ({", ".join(keys)}, turns, input_tokens, output_tokens, cached_tokens,
                             cache_write_tokens, cost_usd, cost_known, saved_usd, saved_known{columns})
        VALUES ({vals})
        ON CONFLICT ({", ".join(keys)}) DO UPDATE SET
            turns = turns + excluded.turns,
            input_tokens = input_tokens + excluded.input_tokens,
            output_tokens = output_tokens + excluded.output_tokens,
            cached_tokens = cached_tokens + excluded.cached_tokens,
            cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
            cost_usd = cost_usd + excluded.cost_usd,
            cost_known = cost_known + excluded.cost_known,
            saved_usd = saved_usd + excluded.saved_usd,
            saved_known = saved_known + excluded.saved_known{sets};"""

    body = ""
    if sub:
        body += upsert(sub, "-")
        match = " AND ".join(f"{col} = {expr.format(r=sub)}" for col, expr in keys.items())
        body += f"\n        DELETE FROM {table} WHERE {match} AND turns = 0;"
    if add:
        body += upsert(add, "")
    return f"CREATE TRIGGER {name} {event} ON turns{f' WHEN {when}' if when else ''} BEGIN{body}\nEND"


# Migration 1's hourly rollup: one row per (UTC hour, model, conversation; '' once deleted).
_HOURLY_KEYS = {"hour": "substr({r}.created_at, 1, 13)", "model": "{r}.model",
                "conversation_id": "ifnull({r}.conversation_id, '')"}


def _rollup_trigger(name: str, event: str, *, add: str | None = None, sub: str | None = None) -> str:
    return _sum_trigger(name, "turn_rollup", _HOURLY_KEYS, event, add=add, sub=sub)


# executescript() would COMMIT the surrounding transaction, so statements run one by one.
_M1_STATEMENTS = [
    """
    CREATE TABLE conversations (
        id TEXT PRIMARY KEY,
        title TEXT,
        system_prompt TEXT,
        pinned_model TEXT,
        cache_enabled INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        archived INTEGER NOT NULL DEFAULT 0
    )
    """,
    "CREATE INDEX idx_conversations_updated ON conversations(archived, updated_at)",
    # seq is an explicit INTEGER PRIMARY KEY so the FTS index's rowids survive VACUUM.
    """
    CREATE TABLE messages (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        parent_id TEXT REFERENCES messages(id) ON DELETE CASCADE,
        role TEXT NOT NULL,
        content TEXT NOT NULL DEFAULT '',
        model TEXT,
        status TEXT NOT NULL DEFAULT 'complete'
            CHECK (status IN ('complete', 'streaming', 'interrupted', 'error')),
        active INTEGER NOT NULL DEFAULT 1,
        writer TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )
    """,
    "CREATE INDEX idx_messages_conversation ON messages(conversation_id, parent_id, active)",
    "CREATE INDEX idx_messages_parent ON messages(parent_id, active)",
    # At most one shown sibling per parent (roots share the '' parent); writers deactivate
    # the old one before activating the new.
    "CREATE UNIQUE INDEX idx_messages_one_active ON messages(conversation_id, ifnull(parent_id, '')) WHERE active = 1",
    "CREATE INDEX idx_messages_streaming ON messages(status) WHERE status = 'streaming'",
    # Turns outlive their conversation (SET NULL) so spend totals stay honest after a delete;
    # they hold no message text.
    """
    CREATE TABLE turns (
        id TEXT PRIMARY KEY,
        conversation_id TEXT REFERENCES conversations(id) ON DELETE SET NULL,
        message_id TEXT REFERENCES messages(id) ON DELETE SET NULL,
        model TEXT NOT NULL,
        provider TEXT NOT NULL,
        route_kind TEXT NOT NULL,
        route TEXT NOT NULL DEFAULT '{}',
        cache_status TEXT NOT NULL,
        cache_similarity REAL,
        cache_source_turn TEXT,
        input_tokens INTEGER NOT NULL DEFAULT 0,
        output_tokens INTEGER NOT NULL DEFAULT 0,
        cached_tokens INTEGER NOT NULL DEFAULT 0,
        cache_write_tokens INTEGER NOT NULL DEFAULT 0,
        usage_estimated INTEGER NOT NULL DEFAULT 0,
        cost_usd REAL,
        saved_usd REAL,
        price_as_of TEXT,
        route_ms REAL,
        ttft_ms REAL,
        total_ms REAL,
        tokens_per_s REAL,
        status TEXT NOT NULL,
        finish_reason TEXT,
        error TEXT,
        created_at TEXT NOT NULL
    )
    """,
    # Covering index for spend()/turn_usage(): aggregation reads only the index, never the
    # wide rows (route JSON), which keeps `chatroute costs` fast at 200k turns.
    """
    CREATE INDEX idx_turns_created ON turns(
        created_at, model, conversation_id, route_kind, cache_status,
        input_tokens, output_tokens, cached_tokens, cache_write_tokens, cost_usd, saved_usd
    )
    """,
    "CREATE INDEX idx_turns_cache_hits ON turns(created_at) WHERE cache_status = 'hit'",
    "CREATE INDEX idx_turns_model ON turns(model, created_at)",
    "CREATE INDEX idx_turns_conversation ON turns(conversation_id, created_at)",
    "CREATE INDEX idx_turns_message ON turns(message_id)",
    """
    CREATE TABLE preferences (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL
            CHECK (kind IN ('override', 'regenerate', 'compare_pick', 'cache_false_hit')),
        chosen_model TEXT,
        rejected_models TEXT NOT NULL DEFAULT '[]',
        prompt TEXT,
        conversation_id TEXT REFERENCES conversations(id) ON DELETE CASCADE,
        message_id TEXT REFERENCES messages(id) ON DELETE SET NULL,
        embedding BLOB,
        created_at TEXT NOT NULL
    )
    """,
    "CREATE INDEX idx_preferences_created ON preferences(created_at)",
    "CREATE INDEX idx_preferences_conversation ON preferences(conversation_id)",
    # External-content FTS5 over message text, kept in sync by triggers. Partial replies are
    # indexed too (re-indexing one row every ~0.5 s while streaming is cheap), which keeps
    # FTS5's own integrity-check against the content table meaningful.
    """
    CREATE VIRTUAL TABLE messages_fts USING fts5(
        content, content='messages', content_rowid='seq',
        tokenize='porter unicode61 remove_diacritics 2'
    )
    """,
    """
    CREATE TRIGGER messages_fts_ai AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts(rowid, content) VALUES (new.seq, new.content);
    END
    """,
    """
    CREATE TRIGGER messages_fts_ad AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.seq, old.content);
    END
    """,
    # One UPDATE trigger doing delete-then-insert (two triggers would fire in an unspecified
    # order); only content changes touch the index, so switching siblings costs nothing.
    """
    CREATE TRIGGER messages_fts_au AFTER UPDATE OF content ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.seq, old.content);
        INSERT INTO messages_fts(rowid, content) VALUES (new.seq, new.content);
    END
    """,
    # Hourly spend rollup, kept exact by triggers on turns, so the costs screen and
    # `chatroute costs` aggregate a few thousand rows instead of every turn. Hours (not days)
    # so local-time days and hour-aligned `since` bounds can still be served from it.
    # conversation_id '' stands for "deleted conversation" (NULL cannot be part of the key).
    """
    CREATE TABLE turn_rollup (
        hour TEXT NOT NULL,
        model TEXT NOT NULL,
        conversation_id TEXT NOT NULL,
        turns INTEGER NOT NULL DEFAULT 0,
        input_tokens INTEGER NOT NULL DEFAULT 0,
        output_tokens INTEGER NOT NULL DEFAULT 0,
        cached_tokens INTEGER NOT NULL DEFAULT 0,
        cache_write_tokens INTEGER NOT NULL DEFAULT 0,
        cost_usd REAL NOT NULL DEFAULT 0,
        cost_known INTEGER NOT NULL DEFAULT 0,
        saved_usd REAL NOT NULL DEFAULT 0,
        saved_known INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (hour, model, conversation_id)
    ) WITHOUT ROWID
    """,
    "CREATE INDEX idx_turn_rollup_model ON turn_rollup(model)",
    "CREATE INDEX idx_turn_rollup_conversation ON turn_rollup(conversation_id)",
    _rollup_trigger("turns_rollup_ai", "AFTER INSERT", add="new"),
    _rollup_trigger("turns_rollup_ad", "AFTER DELETE", sub="old"),
    _rollup_trigger(
        "turns_rollup_au",
        "AFTER UPDATE OF created_at, model, conversation_id, input_tokens, output_tokens, cached_tokens,"
        " cache_write_tokens, cost_usd, saved_usd",
        sub="old",
        add="new",
    ),
]


def _m2_estimated_turns(db: sqlite_utils.Database) -> None:
    # Turns whose usage was estimated (stopped or killed streams, servers that send no counts):
    # `chatroute costs` says how much of a total they make up, from this small partial index.
    db.execute("CREATE INDEX idx_turns_estimated ON turns(created_at, cost_usd) WHERE usage_estimated = 1")


_MEASURES = """
        turns INTEGER NOT NULL DEFAULT 0,
        input_tokens INTEGER NOT NULL DEFAULT 0,
        output_tokens INTEGER NOT NULL DEFAULT 0,
        cached_tokens INTEGER NOT NULL DEFAULT 0,
        cache_write_tokens INTEGER NOT NULL DEFAULT 0,
        cost_usd REAL NOT NULL DEFAULT 0,
        cost_known INTEGER NOT NULL DEFAULT 0,
        saved_usd REAL NOT NULL DEFAULT 0,
        saved_known INTEGER NOT NULL DEFAULT 0"""
_SUMS = """COUNT(*), SUM(input_tokens), SUM(output_tokens), SUM(cached_tokens), SUM(cache_write_tokens),
           TOTAL(cost_usd), COUNT(cost_usd), TOTAL(saved_usd), COUNT(saved_usd)"""
_DAY_MODEL = {"day": "substr({r}.created_at, 1, 10)", "model": "{r}.model"}
_DAY_CONVERSATION = {"day": "substr({r}.created_at, 1, 10)", "conversation_id": "ifnull({r}.conversation_id, '')"}
_SPEND_COLUMNS = "created_at, input_tokens, output_tokens, cached_tokens, cache_write_tokens, cost_usd, saved_usd"


def _m3_daily_rollups(db: sqlite_utils.Database) -> None:
    # Daily spend per model and per conversation, kept by triggers like turn_rollup. The hourly
    # rollup has a row per (hour, model, conversation): ~70k rows at 200k turns, so every
    # all-time figure of `chatroute costs` scanned all of them. Whole-UTC-day bounds (dates,
    # today, this week/month) are served from these instead: a few thousand rows each.
    # conversation_id '' stands for "deleted conversation", as in turn_rollup.
    statements = [
        f"CREATE TABLE spend_day_model (day TEXT NOT NULL, model TEXT NOT NULL,{_MEASURES},"
        " PRIMARY KEY (day, model)) WITHOUT ROWID",
        f"CREATE TABLE spend_day_conversation (day TEXT NOT NULL, conversation_id TEXT NOT NULL,{_MEASURES},"
        " PRIMARY KEY (day, conversation_id)) WITHOUT ROWID",
        # Backfill, in the same transaction as the triggers: no turn can slip in between.
        f"INSERT INTO spend_day_model SELECT substr(created_at, 1, 10), model, {_SUMS}"
        " FROM turns GROUP BY 1, 2",
        f"INSERT INTO spend_day_conversation SELECT substr(created_at, 1, 10), ifnull(conversation_id, ''), {_SUMS}"
        " FROM turns GROUP BY 1, 2",
        _sum_trigger("spend_day_model_ai", "spend_day_model", _DAY_MODEL, "AFTER INSERT", add="new"),
        _sum_trigger("spend_day_model_ad", "spend_day_model", _DAY_MODEL, "AFTER DELETE", sub="old"),
        # conversation_id is not among the columns: deleting a conversation leaves this table alone.
        _sum_trigger("spend_day_model_au", "spend_day_model", _DAY_MODEL,
                     f"AFTER UPDATE OF model, {_SPEND_COLUMNS}", sub="old", add="new"),
        _sum_trigger("spend_day_conversation_ai", "spend_day_conversation", _DAY_CONVERSATION,
                     "AFTER INSERT", add="new"),
        _sum_trigger("spend_day_conversation_ad", "spend_day_conversation", _DAY_CONVERSATION,
                     "AFTER DELETE", sub="old"),
        _sum_trigger("spend_day_conversation_au", "spend_day_conversation", _DAY_CONVERSATION,
                     f"AFTER UPDATE OF conversation_id, {_SPEND_COLUMNS}", sub="old", add="new"),
    ]
    for sql in statements:
        db.execute(sql)


# A turn counts (in `turns`, and as known or unknown cost) unless it is a request that failed
# before anything was billed: no text, no tokens, status 'error'. Those cost $0 and stay in
# the table only so the failure is shown where it happened.
COUNTED = "({r}.status != 'error' OR {r}.input_tokens + {r}.output_tokens > 0)"
# Filled by the store before migrating: providers of kind "anthropic" under any name.
ANTHROPIC_PROVIDERS_TABLE = "temp.m4_anthropic_providers"


_COUNTED_ROW = COUNTED.format(r="turns")
_COUNTED_SUMS = (f"SUM({_COUNTED_ROW}), SUM(input_tokens), SUM(output_tokens), SUM(cached_tokens),"
                 f" SUM(cache_write_tokens), TOTAL(cost_usd), SUM({_COUNTED_ROW} AND cost_usd IS NOT NULL),"
                 " TOTAL(saved_usd), COUNT(saved_usd)")


def _m4_usage_footing(db: sqlite_utils.Database) -> None:
    """Token counts on one footing, and failures that cost nothing out of the turn counts.

    Anthropic turns stored `input_tokens` without cache reads and writes; every turn now stores
    all prompt tokens sent, cache reads (`cached_tokens`) and writes as parts of it (costs do
    not change: they were computed from the same counts). Requests that failed before anything
    was billed were stored with cost NULL ("n/a") and counted as turns: they cost $0."""
    rollups = {
        "turn_rollup": _HOURLY_KEYS,
        "spend_day_model": _DAY_MODEL,
        "spend_day_conversation": _DAY_CONVERSATION,
    }
    for table in rollups:
        for suffix in ("ai", "ad", "au"):
            trigger = f"turns_rollup_{suffix}" if table == "turn_rollup" else f"{table}_{suffix}"
            db.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    db.execute("CREATE TEMP TABLE IF NOT EXISTS m4_anthropic_providers (name TEXT PRIMARY KEY)")
    db.execute(
        "UPDATE turns SET input_tokens = input_tokens + cached_tokens + cache_write_tokens"
        f" WHERE (provider = 'anthropic' OR provider IN (SELECT name FROM {ANTHROPIC_PROVIDERS_TABLE}))"
        " AND cached_tokens + cache_write_tokens > 0"
    )
    db.execute("UPDATE turns SET cost_usd = 0 WHERE status = 'error' AND cost_usd IS NULL"
               " AND input_tokens = 0 AND output_tokens = 0")
    # The covering index carries status now, which the turn count reads.
    db.execute("DROP INDEX IF EXISTS idx_turns_created")
    db.execute(
        "CREATE INDEX idx_turns_created ON turns(created_at, model, conversation_id, route_kind, cache_status,"
        " input_tokens, output_tokens, cached_tokens, cache_write_tokens, cost_usd, saved_usd, status)"
    )
    sums = _COUNTED_SUMS
    for table, keys in rollups.items():
        db.execute(f"DELETE FROM {table}")
        exprs = ", ".join(expr.format(r="turns") for expr in keys.values())
        db.execute(f"INSERT INTO {table} SELECT {exprs}, {sums} FROM turns GROUP BY {exprs}")
    hourly_cols = ("created_at, model, conversation_id, input_tokens, output_tokens, cached_tokens,"
                   " cache_write_tokens, cost_usd, saved_usd, status")
    statements = [
        _sum_trigger("turns_rollup_ai", "turn_rollup", _HOURLY_KEYS, "AFTER INSERT", add="new", counted=COUNTED),
        _sum_trigger("turns_rollup_ad", "turn_rollup", _HOURLY_KEYS, "AFTER DELETE", sub="old", counted=COUNTED),
        _sum_trigger("turns_rollup_au", "turn_rollup", _HOURLY_KEYS, f"AFTER UPDATE OF {hourly_cols}",
                     sub="old", add="new", counted=COUNTED),
        _sum_trigger("spend_day_model_ai", "spend_day_model", _DAY_MODEL, "AFTER INSERT", add="new",
                     counted=COUNTED),
        _sum_trigger("spend_day_model_ad", "spend_day_model", _DAY_MODEL, "AFTER DELETE", sub="old",
                     counted=COUNTED),
        _sum_trigger("spend_day_model_au", "spend_day_model", _DAY_MODEL,
                     f"AFTER UPDATE OF model, {_SPEND_COLUMNS}, status", sub="old", add="new", counted=COUNTED),
        _sum_trigger("spend_day_conversation_ai", "spend_day_conversation", _DAY_CONVERSATION, "AFTER INSERT",
                     add="new", counted=COUNTED),
        _sum_trigger("spend_day_conversation_ad", "spend_day_conversation", _DAY_CONVERSATION, "AFTER DELETE",
                     sub="old", counted=COUNTED),
        _sum_trigger("spend_day_conversation_au", "spend_day_conversation", _DAY_CONVERSATION,
                     f"AFTER UPDATE OF conversation_id, {_SPEND_COLUMNS}, status", sub="old", add="new",
                     counted=COUNTED),
    ]
    for sql in statements:
        db.execute(sql)


_DAY_CLIENT = {"day": "substr({r}.created_at, 1, 10)", "client": "ifnull({r}.client, '')"}


def _m5_served_clients(db: sqlite_utils.Database) -> None:
    # Requests answered by `chatroute serve` are turns too, with the name of the client that sent
    # them; NULL is chatroute's own chat (TUI, CLI). A daily rollup per client, kept by triggers
    # like the others, serves `chatroute costs --by client`; '' stands for NULL in its key.
    statements = [
        "ALTER TABLE turns ADD COLUMN client TEXT",
        f"CREATE TABLE spend_day_client (day TEXT NOT NULL, client TEXT NOT NULL,{_MEASURES},"
        " PRIMARY KEY (day, client)) WITHOUT ROWID",
        f"INSERT INTO spend_day_client SELECT substr(created_at, 1, 10), ifnull(client, ''), {_COUNTED_SUMS}"
        " FROM turns GROUP BY 1, 2",
        _sum_trigger("spend_day_client_ai", "spend_day_client", _DAY_CLIENT, "AFTER INSERT", add="new",
                     counted=COUNTED),
        _sum_trigger("spend_day_client_ad", "spend_day_client", _DAY_CLIENT, "AFTER DELETE", sub="old",
                     counted=COUNTED),
        _sum_trigger("spend_day_client_au", "spend_day_client", _DAY_CLIENT,
                     f"AFTER UPDATE OF client, {_SPEND_COLUMNS}, status", sub="old", add="new", counted=COUNTED),
        "CREATE INDEX idx_turns_client ON turns(client, created_at) WHERE client IS NOT NULL",
    ]
    for sql in statements:
        db.execute(sql)


# The route kinds of a turn whose model the user chose, not the router.
CHOSEN_KINDS = ("pinned", "override", "compare")
_CHOSEN = f"({{r}}.route_kind IN ({', '.join(repr(k) for k in CHOSEN_KINDS)}))"
_DAY_MODEL_CHOSEN = {"day": "substr({r}.created_at, 1, 10)", "model": "{r}.model", "chosen": _CHOSEN}


def _m6_billing_detail(db: sqlite_utils.Database) -> None:
    # What a reply killed mid-stream was billed for, beyond its text. Thinking is billed output
    # that is never shown, so a partial save of the text alone let a reply killed while the model
    # thought be recovered as free: how much of it streamed is kept (its length; the text is not
    # needed to price it). And the input the provider reported at the stream's start (Anthropic's
    # message_start), cache reads and writes among it, is kept so recovery prices that instead
    # of an estimate: JSON {"input": n, "cached": n, "cache_write": n}, NULL when not reported.
    db.execute("ALTER TABLE messages ADD COLUMN thinking_chars INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE messages ADD COLUMN reported_input TEXT")
    # Whether routing paid off is told apart from what the user's own choices did: the daily
    # spend per model of the turns whose cost is known (what a baseline is priced on), split by
    # whether the user chose the model (a pin, an override, a compare answer) or the router
    # did. Only known costs, so a day mixing known and unknown prices needs no read of its turns.
    keys = _DAY_MODEL_CHOSEN
    exprs = ", ".join(expr.format(r="turns") for expr in keys.values())
    table = "spend_day_model_chosen"
    changed = f"AFTER UPDATE OF model, route_kind, {_SPEND_COLUMNS}, status"
    statements = [
        f"CREATE TABLE {table} (day TEXT NOT NULL, model TEXT NOT NULL, chosen INTEGER NOT NULL,"
        f"{_MEASURES}, PRIMARY KEY (day, model, chosen)) WITHOUT ROWID",
        f"INSERT INTO {table} SELECT {exprs}, {_COUNTED_SUMS} FROM turns WHERE cost_usd IS NOT NULL"
        f" GROUP BY {exprs}",
        _sum_trigger(f"{table}_ai", table, keys, "AFTER INSERT", add="new", counted=COUNTED,
                     when="new.cost_usd IS NOT NULL"),
        _sum_trigger(f"{table}_ad", table, keys, "AFTER DELETE", sub="old", counted=COUNTED,
                     when="old.cost_usd IS NOT NULL"),
        _sum_trigger(f"{table}_au_old", table, keys, changed, sub="old", counted=COUNTED,
                     when="old.cost_usd IS NOT NULL"),
        _sum_trigger(f"{table}_au_new", table, keys, changed, add="new", counted=COUNTED,
                     when="new.cost_usd IS NOT NULL"),
    ]
    for sql in statements:
        db.execute(sql)


def _m7_streaming_route_kind(db: sqlite_utils.Database) -> None:
    # Who chose the model a reply streams from (the route kind), saved with the model before the
    # request: a reply killed mid-stream on a model the user named (a pin, an override, a compare
    # answer) is recovered as the user's choice, not counted with the router's turns.
    db.execute("ALTER TABLE messages ADD COLUMN route_kind TEXT")


def _m8_estimated_rows(db: sqlite_utils.Database) -> None:
    """Every rollup counts its turns whose usage was estimated (`estimated`), so `chatroute
    costs` can mark with ≈ the very rows (a day, a model, a conversation, a client) and the
    baseline figures that hold one; only the totals could say it, from the partial index.

    The triggers are made anew with the column, and now also follow a change of
    `usage_estimated` alone. Older turns are counted from that partial index: estimated turns
    are few, so the backfill reads them, not every turn."""
    changed = f"{_SPEND_COLUMNS}, status, usage_estimated"
    plain = {  # table: (its triggers' prefix, its keys, the key columns a turn can move between)
        "turn_rollup": ("turns_rollup", _HOURLY_KEYS, "model, conversation_id"),
        "spend_day_model": ("spend_day_model", _DAY_MODEL, "model"),
        "spend_day_conversation": ("spend_day_conversation", _DAY_CONVERSATION, "conversation_id"),
        "spend_day_client": ("spend_day_client", _DAY_CLIENT, "client"),
    }
    chosen = "spend_day_model_chosen"
    statements = []
    for table, (prefix, keys, moves) in plain.items():
        statements += [
            f"DROP TRIGGER {prefix}_ai", f"DROP TRIGGER {prefix}_ad", f"DROP TRIGGER {prefix}_au",
            _sum_trigger(f"{prefix}_ai", table, keys, "AFTER INSERT", add="new", counted=COUNTED, estimated=True),
            _sum_trigger(f"{prefix}_ad", table, keys, "AFTER DELETE", sub="old", counted=COUNTED, estimated=True),
            _sum_trigger(f"{prefix}_au", table, keys, f"AFTER UPDATE OF {moves}, {changed}", sub="old", add="new",
                         counted=COUNTED, estimated=True),
        ]
    # This one holds only the turns whose cost is known, as migration 6 made it.
    keys, event = _DAY_MODEL_CHOSEN, f"AFTER UPDATE OF model, route_kind, {changed}"
    statements += [
        *(f"DROP TRIGGER {chosen}_{suffix}" for suffix in ("ai", "ad", "au_old", "au_new")),
        _sum_trigger(f"{chosen}_ai", chosen, keys, "AFTER INSERT", add="new", counted=COUNTED,
                     when="new.cost_usd IS NOT NULL", estimated=True),
        _sum_trigger(f"{chosen}_ad", chosen, keys, "AFTER DELETE", sub="old", counted=COUNTED,
                     when="old.cost_usd IS NOT NULL", estimated=True),
        _sum_trigger(f"{chosen}_au_old", chosen, keys, event, sub="old", counted=COUNTED,
                     when="old.cost_usd IS NOT NULL", estimated=True),
        _sum_trigger(f"{chosen}_au_new", chosen, keys, event, add="new", counted=COUNTED,
                     when="new.cost_usd IS NOT NULL", estimated=True),
    ]
    for table in (*plain, chosen):
        db.execute(f"ALTER TABLE {table} ADD COLUMN estimated INTEGER NOT NULL DEFAULT 0")
    for sql in statements:
        db.execute(sql)
    for table, keys, known in [*((t, k, "") for t, (_, k, _) in plain.items()),
                               (chosen, _DAY_MODEL_CHOSEN, " AND cost_usd IS NOT NULL")]:
        exprs = ", ".join(expr.format(r="turns") for expr in keys.values())
        counts = db.execute(f"SELECT {exprs}, SUM({_COUNTED_ROW}) FROM turns WHERE usage_estimated = 1{known}"
                            f" GROUP BY {exprs}").fetchall()
        match = " AND ".join(f"{col} = ?" for col in keys)
        db.conn.executemany(f"UPDATE {table} SET estimated = ? WHERE {match}", [(r[-1], *r[:-1]) for r in counts])
    # The covering index of the scans that no rollup serves (bounds within an hour) carries the
    # flag too, so they still never read the wide rows.
    db.execute("DROP INDEX idx_turns_created")
    db.execute(
        "CREATE INDEX idx_turns_created ON turns(created_at, model, conversation_id, route_kind, cache_status,"
        " input_tokens, output_tokens, cached_tokens, cache_write_tokens, cost_usd, saved_usd, status,"
        " usage_estimated)"
    )


def _m9_price_source(db: sqlite_utils.Database) -> None:
    # Where a turn's price came from, beside its date: a cost the provider reported (OpenRouter's
    # usage.cost) has no table's date. Older turns say nothing (NULL).
    db.execute("ALTER TABLE turns ADD COLUMN price_source TEXT")


MIGRATIONS: list[Migration] = [
    _m1_initial, _m2_estimated_turns, _m3_daily_rollups, _m4_usage_footing, _m5_served_clients,
    _m6_billing_detail, _m7_streaming_route_kind, _m8_estimated_rows, _m9_price_source,
]

SCHEMA_VERSION = len(MIGRATIONS)
