"""Several processes on one database, end to end: the real TUI (Pilot, in this process) plus
real `chatroute ask` processes plus engine-loop writer processes, 200 turns in all, against the
fake provider server, with the answer cache on (it writes to the same file).

Required: no "database is locked" anywhere (exit codes, stderr, the TUI's turns), no lost turns
(every process's conversation holds exactly the turns it ran), and `chatroute costs` totals that
equal the per-turn cost computed from the fake server's usage and the catalogue price.

The store-level version (bare Store calls) is tests/store/test_concurrency.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from chatroute.engine import Engine
from chatroute.store import Store
from chatroute.tui.app import ChatrouteApp
from tests.engine.helpers import OPENAI_KEY, write_config
from tests.fakeserver import FakeServer, Reply
from tests.hardening.crash_support import REPO, chatroute_argv
from tests.tui.helpers import assistants, type_and_send

MODEL = "openai/gpt-4o-mini"
IN_TOKENS, OUT_TOKENS = 120, 40  # what the fake server reports for every answer

# A TUI turn costs ~0.3 s of rendering and a `chatroute ask` ~0.7 s of start-up on this 2-core
# box, an engine-loop turn ~25 ms: most of the volume comes from the engine loops.
ENGINE_WORKERS, ENGINE_TURNS = 2, 90  # separate processes, Engine API in a loop (180 turns)
CLI_LOOPS, CLI_TURNS = 4, 2  # 4 concurrent loops of real `chatroute ask` processes (8 turns)
TUI_TURNS = 12  # typed into the real TUI while the others write
TOTAL = ENGINE_WORKERS * ENGINE_TURNS + CLI_LOOPS * CLI_TURNS + TUI_TURNS
TIMEOUT = 120.0
LOCK_WORDS = ("locked", "busy", "Traceback")


@pytest.fixture
def shared_home(chatroute_home: Path, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", "sk-ant-test")
    write_config(chatroute_home, fake_server, pool=[MODEL])
    fake_server.default_reply = Reply(text="Noted. Here is a short answer.", input_tokens=IN_TOKENS,
                                      output_tokens=OUT_TOKENS)
    return chatroute_home


def _cli_loop(n: int, env: dict[str, str], go: threading.Event) -> tuple[str | None, list[str]]:
    """CLI_TURNS real `chatroute ask` runs in one conversation; returns it and any problems."""
    conversation: str | None = None
    problems: list[str] = []
    if not go.wait(TIMEOUT):
        return None, [f"cli{n}: never started"]
    for i in range(CLI_TURNS):
        # Distinct numbers per prompt: the cache must not answer one turn with another's reply.
        prompt = f"cli{n} question {i}: how many lighthouses stand on cape {6000 + n * 100 + i}?"
        args = ["ask", "--json", *(["-c", conversation] if conversation else []), prompt]
        done = subprocess.run(chatroute_argv(*args), env=env, cwd=REPO, capture_output=True, text=True,
                              timeout=TIMEOUT)
        if done.returncode != 0 or any(w in done.stderr for w in LOCK_WORDS):
            problems.append(f"cli{n} turn {i}: exit {done.returncode}: {done.stderr.strip()[-600:]}")
            continue
        out = json.loads(done.stdout)
        if out["status"] != "ok":
            problems.append(f"cli{n} turn {i}: {out['status']} {out['error']}")
        conversation = out["conversation_id"]
    return conversation, problems


def _start_worker(n: int, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.hardening.crash_engine_loop", "--label", f"w{n}", "--turns",
         str(ENGINE_TURNS), "--wait"],
        env=env, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


async def test_tui_and_cli_processes_write_one_database(shared_home: Path, fake_server: FakeServer,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    env = dict(os.environ)
    started = time.perf_counter()
    go = threading.Event()
    workers = [_start_worker(n, env) for n in range(ENGINE_WORKERS)]
    pool = ThreadPoolExecutor(CLI_LOOPS)
    try:
        cli = [pool.submit(_cli_loop, n, env, go) for n in range(CLI_LOOPS)]
        engine = Engine.open()
        price = engine.catalog.get(MODEL)
        assert price.input_cost_per_mtok and price.output_cost_per_mtok
        unit_cost = (IN_TOKENS * price.input_cost_per_mtok + OUT_TOKENS * price.output_cost_per_mtok) / 1e6
        engine.warm()  # SDK imports now, not inside the race
        for w in workers:  # every worker has its engine open (its start-up is not part of the race)
            assert w.stdout is not None and w.stdout.readline().strip() == "ready", w.communicate(timeout=TIMEOUT)

        app = ChatrouteApp(engine, close_engine=True)
        async with app.run_test(size=(100, 30)) as pilot:
            for w in workers:  # everyone starts writing at once
                assert w.stdin is not None
                w.stdin.write("go\n")
                w.stdin.flush()
            go.set()
            race_started = time.perf_counter()
            for i in range(TUI_TURNS):
                await type_and_send(pilot, f"tui question {i}: how many lighthouses stand on cape {5000 + i}?")
            tui_conversation = app.screen.conversation_id
            shown = assistants(app)
            assert len(shown) == TUI_TURNS
            assert all(w.status == "ok" and not w.error for w in shown), [(w.status, w.error) for w in shown]
        tui_seconds = time.perf_counter() - race_started

        results = []
        for w in workers:
            out, err = w.communicate(timeout=TIMEOUT)
            assert w.returncode == 0, err
            assert not any(word in err for word in LOCK_WORDS), err
            results.append(json.loads(out.strip().splitlines()[-1]))
        cli_results = [f.result(timeout=TIMEOUT) for f in cli]
        race_seconds = time.perf_counter() - race_started
    finally:
        go.set()
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()
        pool.shutdown(wait=True, cancel_futures=True)

    for r in results:
        assert r["ok"] == ENGINE_TURNS and not r["errors"], r
    for _, problems in cli_results:
        assert not problems, problems

    # No lost turns: each writer's conversation holds exactly what it ran, nothing half-written.
    expected = {r["conversation_id"]: ENGINE_TURNS for r in results}
    expected.update({conv: CLI_TURNS for conv, _ in cli_results})
    expected[tui_conversation] = TUI_TURNS
    assert len(expected) == ENGINE_WORKERS + CLI_LOOPS + 1
    with Store.open(shared_home / "chatroute.db") as store:
        assert store.integrity_check() == "ok"
        spans: dict[str, tuple[str, str]] = {}
        for conv, n in expected.items():
            turns = store.turns(conv)
            assert len(turns) == n, conv
            assert all(t.status == "ok" and t.cache_status == "miss" for t in turns)
            assert all((t.input_tokens, t.output_tokens) == (IN_TOKENS, OUT_TOKENS) for t in turns)
            history = store.history(conv)
            assert len(history) == 2 * n and all(m.status == "complete" for m in history)
            spans[conv] = (turns[0].created_at, turns[-1].created_at)
        assert len(store.list_conversations()) == len(expected)
        # The writers really overlapped (else this would prove nothing about locking).
        overlapping = {c: sum(1 for o, (s2, e2) in spans.items() if o != c and s2 <= e and e2 >= s)
                       for c, (s, e) in spans.items()}
        assert overlapping[tui_conversation] >= 1
        assert all(overlapping[r["conversation_id"]] >= ENGINE_WORKERS - 1 for r in results)
        cache_entries = store.conn.execute("SELECT value FROM cache_meta WHERE key = 'count'").fetchone()[0]
        cache_misses = store.conn.execute("SELECT value FROM cache_stats WHERE key = 'misses'").fetchone()[0]
    # Every answer went into the shared cache and every lookup was counted: the cache's own
    # connection (not the store's retrying one) lost no write either.
    assert (cache_entries, cache_misses) == (TOTAL, TOTAL)
    assert not [r.getMessage() for r in caplog.records if r.levelno >= 30]  # the TUI's own warnings

    # Costs add up, as the user reads them.
    report = subprocess.run(chatroute_argv("costs", "--format", "json"), env=env, cwd=REPO, capture_output=True,
                            text=True, timeout=TIMEOUT)
    assert report.returncode == 0, report.stderr
    total = json.loads(report.stdout)["periods"]["all"]
    assert total["turns"] == TOTAL == 200
    assert total["unknown_cost_turns"] == 0 and total["cache_hits"] == 0
    assert (total["input_tokens"], total["output_tokens"]) == (TOTAL * IN_TOKENS, TOTAL * OUT_TOKENS)
    assert total["cost_usd"] == pytest.approx(TOTAL * unit_cost, rel=1e-9)
    print(f"\n{TOTAL} turns, {len(expected)} writers: race {race_seconds:.1f} s (TUI {tui_seconds:.1f} s), "
          f"whole test {time.perf_counter() - started:.1f} s; writers overlapping each: {sorted(overlapping.values())}")
