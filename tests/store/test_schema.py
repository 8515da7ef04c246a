from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from chatroute.store import Store, StoreError
from chatroute.store.db import BUSY_TIMEOUT_MS
from chatroute.store.migrations import MIGRATIONS, SCHEMA_VERSION


def test_open_creates_parent_dirs_and_migrates(db_path: Path) -> None:
    assert not db_path.parent.exists()
    with Store.open(db_path) as s:
        assert s.schema_version() == SCHEMA_VERSION == len(MIGRATIONS)
        tables = set(s.db.table_names())
        assert {"conversations", "messages", "turns", "preferences", "messages_fts"} <= tables
        assert s.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert s.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        # Short: the wait for another process's lock happens in Python, where it can be stopped.
        assert s.conn.execute("PRAGMA busy_timeout").fetchone()[0] == BUSY_TIMEOUT_MS <= 250
        assert s.conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert s.integrity_check() == "ok"


def test_reopen_is_idempotent_and_keeps_data(db_path: Path) -> None:
    with Store.open(db_path) as s:
        conv = s.create_conversation("kept")
    for _ in range(2):
        with Store.open(db_path) as s:
            assert s.schema_version() == SCHEMA_VERSION
            assert [c.title for c in s.list_conversations()] == ["kept"]
            assert s.get_conversation(conv.id) is not None


def test_user_version_is_the_migration_count(db_path: Path) -> None:
    Store.open(db_path).close()
    raw = sqlite3.connect(db_path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    raw.close()


def test_newer_schema_is_refused_clearly(db_path: Path) -> None:
    Store.open(db_path).close()
    raw = sqlite3.connect(db_path)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    raw.commit()
    raw.close()
    with pytest.raises(StoreError, match="newer than this chatroute"):
        Store.open(db_path)


def test_fts5_is_available() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(x)")
    conn.close()


def test_core_store_does_not_import_textual() -> None:
    import subprocess
    import sys

    code = "import sys, chatroute.store, chatroute.store.export; assert 'textual' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
