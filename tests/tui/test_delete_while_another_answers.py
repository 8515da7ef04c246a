"""A conversation deleted in the TUI while another chatroute (`ask -c`) is still answering in it.

The TUI refuses to delete a conversation its own answer streams into, but it cannot see a
stream of another process. Before: that `ask` printed the whole answer, then `chatroute: error:
no message …`, exit 1, and its turn record was never written: the answer was billed by the
provider and counted nowhere (`costs` one turn short)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from chatroute.engine import PARTIAL_SAVE_INTERVAL_S, Engine
from chatroute.store import Store
from chatroute.tui.app import ChatrouteApp
from tests.fakeserver import FakeServer, Reply
from tests.tui.helpers import answer_question, settle, type_and_send, until

SIZE = (120, 40)


async def test_a_conversation_deleted_while_another_process_answers_in_it_keeps_the_cost(
        real_engine: Engine, fake_server: FakeServer) -> None:
    # The other process's answer: its first word comes late enough to be saved as it arrives
    # (PARTIAL_SAVE_INTERVAL_S after the request), then the rest waits until the TUI's delete is
    # done, and streams on for a second, into the deleted conversation.
    deleted = threading.Event()
    fake_server.script("gpt-4o-mini", Reply(text="Paris.", input_tokens=12, output_tokens=2),
                       Reply(text=" ".join(f"w{i}" for i in range(40)), ttft=PARTIAL_SAVE_INTERVAL_S + 0.1,
                             hold=deleted, hold_after=1, tokens_per_s=40, input_tokens=30, output_tokens=40))
    app = ChatrouteApp(real_engine, close_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_send(pilot, "@gpt-4o-mini capital of France?")
        cid = app.screen.conversation_id  # type: ignore[attr-defined]
        assert cid is not None
        ask = subprocess.Popen([sys.executable, "-m", "chatroute", "ask", "-c", cid, "-m", "gpt-4o-mini",
                                "count to forty"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            def streaming() -> bool:
                rows = real_engine.store.conn.execute(
                    "SELECT 1 FROM messages WHERE conversation_id = ? AND status = 'streaming' AND content != ''",
                    (cid,)).fetchall()
                return bool(rows)

            await until(pilot, streaming, "the other process's answer to stream", timeout=30)
            app.screen.query_one("#conversations").focus()
            await pilot.press("delete")
            await answer_question(pilot, "y")
            await settle(pilot, app)
            assert real_engine.store.get_conversation(cid) is None
            deleted.set()
            deadline = time.monotonic() + 60
            while ask.poll() is None and time.monotonic() < deadline:
                await pilot.pause(0.05)
            out, err = ask.communicate(timeout=5)
        finally:
            deleted.set()
            if ask.poll() is None:
                ask.kill()
                ask.wait()
    text = err.decode()
    assert out.decode().startswith("w0 w1 ")  # the answer reached the user, whole
    assert "w39" in out.decode()
    assert "Traceback" not in text and "no message" not in text, text
    assert "could not be saved" in text and "deleted" in text, text
    assert ask.returncode == 2, text
    with Store.open() as store:
        # Both answers were billed; both are counted, under the deleted conversation's row.
        [row] = store.spend(by="conversation")
        assert row.key is None and row.turns == 2, row
        assert store.spend_totals().output_tokens == 42
        # Nothing of the deleted conversation is left to read or to serve from the cache.
        assert store.conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
        assert store.conn.execute("SELECT count(*) FROM cache_entries").fetchone()[0] == 0
