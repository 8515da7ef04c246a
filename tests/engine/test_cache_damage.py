"""A damaged answer cache, driven like a user: `chatroute ask`, `cache clear`, `costs`.

The cache's tables live in the same SQLite file as the conversations and the ledger. Damage to
them (a column missing, an index's page overwritten, vectors of the wrong length) used to make
every lookup miss silently, turn after turn, and only moving the whole database away reset it.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.engine.helpers import run_cli
from tests.fakeserver import FakeServer, Reply

pytestmark = pytest.mark.usefixtures("configured")

CACHED = "How do I center a div in CSS?"
PARAPHRASE = "How can I center a div using CSS?"  # a labelled paraphrase (tests/data/cache_pairs.jsonl)


def _db(home: Path) -> Path:
    return home / "chatroute.db" if (home / "chatroute.db").exists() else next(home.rglob("chatroute.db"))


def _ask(capsys: pytest.CaptureFixture[str], server: FakeServer, prompt: str) -> tuple[dict, str, int]:
    """One `ask --json`: its output, its stderr and how many requests reached the provider."""
    server.script(Reply(text=f"Answer to: {prompt}"))
    before = len(server.requests)
    code, out, err = run_cli(capsys, "ask", "--json", prompt)
    assert code == 0, err
    return json.loads(out), err, len(server.requests) - before


def _ledger(home: Path) -> tuple[int, int, float]:
    with sqlite3.connect(_db(home)) as conn:
        conn.execute("PRAGMA writable_schema = ON")  # past a garbled schema entry of the cache's, as the store reads
        convs = conn.execute("SELECT count(*) FROM conversations").fetchone()[0]
        turns, cost = conn.execute("SELECT count(*), total(cost_usd) FROM turns").fetchone()
    return convs, turns, cost


def _damaged_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if "answer cache is damaged" in line]


def _drop_a_column(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("ALTER TABLE cache_entries DROP COLUMN penalties")


def _overwrite_the_exact_key_index(db: Path) -> None:
    """The page of the index every exact lookup reads, overwritten (a torn write, a bad sector)."""
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'sqlite_autoindex_cache_entries_1'"
                        ).fetchone()[0]
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with open(db, "r+b") as f:
        f.seek((root - 1) * size)
        f.write(b"\xff" * size)


def garble_the_schema_entry(db: Path, name: str = "idx_cache_entries_lru", *, last: bool = False) -> None:
    """An index's entry in the schema overwritten (a torn write of the schema's page). SQLite
    reads every entry before any statement, so it refuses the whole file ('malformed database
    schema (NAME)'), conversations and all. `last` moves the entry after every other."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute("UPDATE sqlite_master SET sql = 'garbage' WHERE name = ?", (name,))
    if last:
        conn.execute("UPDATE sqlite_master SET rowid = (SELECT max(rowid) + 1 FROM sqlite_master) WHERE name = ?",
                     (name,))
    conn.close()


@pytest.mark.parametrize("damage", [_drop_a_column, _overwrite_the_exact_key_index, garble_the_schema_entry],
                         ids=["column missing", "index page overwritten", "index schema entry garbled"])
def test_a_damaged_cache_is_said_once_and_cache_clear_rebuilds_it(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path, damage) -> None:
    first, _err, sent = _ask(capsys, configured, CACHED)
    assert first["cache"] == "miss" and sent == 1
    damage(_db(chatroute_home))

    # The answer still streams, from a model; the user is told once what is wrong and what to do.
    out, err, sent = _ask(capsys, configured, CACHED)
    assert sent == 1 and out["text"] == f"Answer to: {CACHED}" and out["status"] == "ok"
    lines = _damaged_lines(err)
    assert len(lines) == 1, err
    assert "`chatroute cache clear` rebuilds it" in lines[0] and "conversations and costs are kept" in lines[0]
    assert "Traceback" not in err and "cache lookup failed" not in err
    kept = _ledger(chatroute_home)

    code, said, err = run_cli(capsys, "cache", "clear")
    assert code == 0 and "Traceback" not in err, err
    assert said.startswith(("cache rebuilt", "cache cleared"))
    assert _ledger(chatroute_home) == kept  # no conversation or cost record lost
    with sqlite3.connect(_db(chatroute_home)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    # The cache works again: an answer is kept, and the repeat is served from it.
    out, err, sent = _ask(capsys, configured, CACHED)
    assert out["cache"] == "miss" and sent == 1 and not _damaged_lines(err)
    out, err, sent = _ask(capsys, configured, CACHED)
    assert out["cache"] == "hit" and sent == 0 and not _damaged_lines(err)
    code, _report, err = run_cli(capsys, "costs")
    assert code == 0 and "Traceback" not in err


def test_cache_clear_says_it_rebuilt_a_cache_missing_a_column(capsys: pytest.CaptureFixture[str],
                                                              configured: FakeServer, chatroute_home: Path) -> None:
    """Before, `cache clear` deleted the rows and left the table as broken as it was."""
    _ask(capsys, configured, CACHED)
    _drop_a_column(_db(chatroute_home))
    code, said, err = run_cli(capsys, "cache", "clear")
    assert code == 0, err
    assert said.strip() == ("cache rebuilt: it was damaged (cache_entries has no column penalties); "
                            "conversations and costs are untouched")
    with sqlite3.connect(_db(chatroute_home)) as conn:
        assert "penalties" in {row[1] for row in conn.execute("PRAGMA table_info(cache_entries)")}


def test_an_entry_whose_vector_is_unreadable_is_embedded_again(capsys: pytest.CaptureFixture[str],
                                                               configured: FakeServer, chatroute_home: Path) -> None:
    """A vector of the wrong length was skipped at every load: no rephrasing ever found its entry."""
    first, _err, _sent = _ask(capsys, configured, CACHED)
    with sqlite3.connect(_db(chatroute_home)) as conn:
        conn.execute("UPDATE cache_entries SET vector = x'0102'")
    out, err, sent = _ask(capsys, configured, PARAPHRASE)
    assert sent == 0 and out["cache"] == "hit" and out["cache_tier"] == "semantic", err
    assert out["text"] == first["text"]
    assert "Traceback" not in err and "unreadable" not in err


def test_a_cache_table_dropped_from_a_full_cache_keeps_new_answers(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path) -> None:
    """The table is made again when the cache opens, but its entry count stayed that of the lost
    table: a cache it called full evicted every new answer as soon as it was stored."""
    with open(chatroute_home / "config.toml", "a", encoding="utf-8") as f:
        f.write("\n[cache]\nmax_entries = 2\n")
    _ask(capsys, configured, "What is the capital of France?")
    _ask(capsys, configured, "Explain photosynthesis briefly.")
    with sqlite3.connect(_db(chatroute_home)) as conn:
        conn.execute("DROP TABLE cache_entries")
    out, err, sent = _ask(capsys, configured, CACHED)
    assert out["cache"] == "miss" and sent == 1 and "Traceback" not in err
    out, err, sent = _ask(capsys, configured, CACHED)
    assert out["cache"] == "hit" and sent == 0, "the new answer was evicted as it was stored"
    code, said, _err = run_cli(capsys, "cache", "stats", "--json")
    assert code == 0 and json.loads(said)["entries"] == 1


def test_cache_stats_says_a_cache_whose_index_page_is_damaged_is_damaged(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path) -> None:
    """Before, `cache stats` showed its counters as for a sound cache (the damage was found only
    by the next lookup); now it says what a lookup would, once, and shows them all the same."""
    from chatroute.cache.damage import notice

    _ask(capsys, configured, CACHED)
    code, _said, err = run_cli(capsys, "cache", "stats")
    assert code == 0 and not _damaged_lines(err), err
    _overwrite_the_exact_key_index(_db(chatroute_home))
    code, said, err = run_cli(capsys, "cache", "stats")
    assert code == 0 and "entries" in said, err
    lines = _damaged_lines(err)
    assert len(lines) == 1 and notice("x").split("(")[0] in lines[0], err
    assert notice("x").split(")", 1)[1] in lines[0] and "malformed" in lines[0], err


def test_a_garbled_schema_entry_of_the_conversations_is_not_read_past(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path) -> None:
    """Only an entry of the cache's is read past: SQLite names the first entry it cannot read,
    here the cache's, but one of the conversations' after it still refuses the file as before."""
    _ask(capsys, configured, CACHED)
    db = _db(chatroute_home)
    garble_the_schema_entry(db)
    garble_the_schema_entry(db, "idx_turns_model", last=True)
    before = len(configured.requests)
    code, out, err = run_cli(capsys, "ask", "--json", CACHED)
    assert code == 2 and json.loads(out)["exit_code"] == 2 and len(configured.requests) == before, err
    assert "is damaged (malformed database schema (idx_cache_entries_lru)); restore a backup" in err, err
    assert "Traceback" not in err and not _damaged_lines(err)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA writable_schema = ON")  # the file as it was: the look past it was rolled back
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE sql = 'garbage'").fetchone()[0] == 2
    conn.close()


def test_cache_stats_on_a_garbled_schema_entry_of_the_caches_points_to_cache_clear(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path) -> None:
    """Before, it said to restore a backup of chatroute.db or move it away (every conversation
    with it); the cache's figures cannot be read, and `cache clear` is the way out."""
    _ask(capsys, configured, CACHED)
    garble_the_schema_entry(_db(chatroute_home))
    code, said, err = run_cli(capsys, "cache", "stats")
    assert code == 2 and said == "" and "Traceback" not in err, err
    assert len(_damaged_lines(err)) == 1 and "`chatroute cache clear` rebuilds it" in err, err
    assert "cache stats: the cache's figures cannot be read while it is damaged" in err
    assert "restore a backup" not in err and "move it away" not in err
