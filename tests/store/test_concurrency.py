"""Several processes writing one database at once: no 'database is locked', no lost
turns, totals that add up."""

from __future__ import annotations

import multiprocessing as mp
import traceback
from pathlib import Path

import pytest

from chatroute.store import Store, TurnRecord

WORKERS = 4
TURNS = 50


def _worker(path: str, n: int, out: mp.Queue[str]) -> None:
    try:
        store = Store.open(path)
        conv = store.create_conversation(f"worker {n}")
        parent = None
        for i in range(TURNS):
            u = store.add_message(conv.id, "user", f"question {n}-{i}", parent)
            a = store.add_message(conv.id, "assistant", "", u.id, status="streaming", model="m")
            store.update_message_text(a.id, f"partial {n}-{i}")
            store.update_message_text(a.id, f"partial {n}-{i} more")
            rec = TurnRecord(
                conversation_id=conv.id, message_id=a.id, model=f"model{n % 2}", provider="p",
                input_tokens=10, output_tokens=20, cost_usd=0.001 if i % 5 else None,
            )
            store.finish_turn(a.id, f"answer {n}-{i}", "complete", rec)
            if i % 10 == 0:
                store.search("answer")
                store.spend("model")
            parent = a.id
        store.close()
        out.put("ok")
    except BaseException:  # report everything, including 'database is locked'
        out.put(traceback.format_exc())


def test_four_processes_write_concurrently(db_path: Path) -> None:
    ctx = mp.get_context("spawn")
    out: mp.Queue[str] = ctx.Queue()
    # Every worker opens the fresh file at the same time: migrations race too.
    procs = [ctx.Process(target=_worker, args=(str(db_path), n, out)) for n in range(WORKERS)]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert results == ["ok"] * WORKERS, "\n".join(r for r in results if r != "ok")

    with Store.open(db_path) as s:
        assert s.integrity_check() == "ok"
        total = s.spend_totals()
        assert total.turns == WORKERS * TURNS
        assert total.unknown_cost_turns == WORKERS * (TURNS // 5)
        assert total.cost_usd == pytest.approx(0.001 * WORKERS * (TURNS - TURNS // 5))
        assert total.output_tokens == 20 * WORKERS * TURNS
        convs = s.list_conversations()
        assert len(convs) == WORKERS
        for c in convs:
            hist = s.history(c.id)
            assert len(hist) == 2 * TURNS
            assert all(m.status == "complete" for m in hist)
            assert len(s.turns(c.id)) == TURNS
        assert sum(r.turns for r in s.spend("model")) == WORKERS * TURNS
