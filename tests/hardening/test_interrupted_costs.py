"""A turn that never finishes still costs money: the provider billed the request and whatever
streamed. Whether the turn is stopped (Ctrl+C, Esc, a consumer walking away), the stream drops,
the process gets SIGTERM or SIGHUP, or it is killed outright, the turn ends up with an
'interrupted' turn record whose usage is flagged as estimated, and `chatroute costs` counts it
once, and says how much of the total is an estimate.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import select
import signal
import sqlite3
import struct
import subprocess
import termios
import time
from pathlib import Path
from typing import Any

import pytest

from chatroute.catalog import Catalog
from chatroute.config import load_config
from chatroute.engine import Engine
from chatroute.paths import resolve_paths
from chatroute.store import Store
from chatroute.store.records import CHARS_PER_TOKEN
from chatroute.turn_events import Delta, Routed, TurnFinished, TurnStarted
from tests.engine.helpers import OPENAI_KEY, ask_json, run_cli, write_config
from tests.fakeserver import Drop, FakeServer, Reply
from tests.hardening.crash_support import (
    REPO,
    PipeReader,
    chatroute_argv,
    kill_hard,
    read_messages,
    streaming_partial,
    wait_until,
)

MODEL = "openai/gpt-4o-mini"
PROMPT = "tell me a very long story about lighthouses"
ENDLESS = Reply(endless=True, tokens_per_s=80)  # usage would only come at the end: it never does
START_TIMEOUT = 30.0  # cold imports on a busy 2-core machine


@pytest.fixture
def one_model(chatroute_home: Path, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", "sk-ant-test")
    write_config(chatroute_home, fake_server, pool=[MODEL])
    return fake_server


def _turns(db: Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(str(db), timeout=10)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM turns ORDER BY created_at")]
    finally:
        conn.close()


def _costs(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code, out, err = run_cli(capsys, "costs", "--format", "json")
    assert code == 0, err
    return json.loads(out)["periods"]["all"]  # type: ignore[no-any-return]


def _assert_counted_once(everything: dict[str, Any], record: dict[str, Any]) -> None:
    assert everything["turns"] == 1
    assert everything["estimated_turns"] == 1
    assert everything["cost_usd"] == pytest.approx(record["cost_usd"])
    assert everything["estimated_cost_usd"] == pytest.approx(record["cost_usd"])
    assert everything["output_tokens"] == record["output_tokens"]


# ------------------------------------------------------------------ the engine API

async def _stop_mid_stream(how: str, *, deltas: int) -> tuple[str, str, str | None]:
    """Run a turn, stop it after `deltas` text deltas (0: while waiting for the first token),
    the way a client does. Returns (message id, text seen, the message's model mid-stream)."""
    engine = Engine.open()
    seen: list[str] = []
    ids: dict[str, str] = {}
    model_mid_stream: list[str | None] = []
    routed = asyncio.Event()
    enough = asyncio.Event()
    events = engine.run_turn(None, PROMPT, use_cache=False)

    async def consume() -> None:
        async for event in events:
            if isinstance(event, TurnStarted):
                ids["message"] = event.assistant_message_id
            elif isinstance(event, Routed):
                routed.set()
            elif isinstance(event, Delta):
                seen.append(event.text)
                if len(seen) == 1:
                    model_mid_stream.append(engine.store.get_message(ids["message"]).model)  # type: ignore[union-attr]
                if len(seen) >= deltas:
                    enough.set()
            elif isinstance(event, TurnFinished):
                raise AssertionError("an endless stream finished")

    try:
        if how == "cancel":  # what Ctrl+C does to `chatroute ask`, and Esc to the TUI's turn
            task = asyncio.create_task(consume())
            await asyncio.wait_for((enough if deltas else routed).wait(), 10)
            if not deltas:
                await asyncio.sleep(0.2)  # the request is out, no token yet
                model_mid_stream.append(engine.store.get_message(ids["message"]).model)  # type: ignore[union-attr]
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        else:  # the consumer walks away and closes the stream (the TUI, cancelled in its own await)
            async for event in events:
                if isinstance(event, TurnStarted):
                    ids["message"] = event.assistant_message_id
                elif isinstance(event, Delta):
                    seen.append(event.text)
                    if len(seen) >= deltas:
                        break
            model_mid_stream.append(engine.store.get_message(ids["message"]).model)  # type: ignore[union-attr]
            await events.aclose()  # type: ignore[attr-defined]
    finally:
        await engine.aclose()
        engine.store.close()
    return ids["message"], "".join(seen), model_mid_stream[0]


@pytest.mark.parametrize(("how", "deltas"), [("cancel", 6), ("cancel", 0), ("close", 6)])
def test_a_stopped_turn_records_its_cost(how: str, deltas: int, one_model: FakeServer, chatroute_home: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    one_model.script(Reply(endless=True, tokens_per_s=80, ttft=0 if deltas else 30))
    message_id, seen, model_mid_stream = asyncio.run(_stop_mid_stream(how, deltas=deltas))

    assert model_mid_stream == MODEL  # saved when routing decided, not at the end
    with Store.open(chatroute_home / "chatroute.db") as store:
        msg = store.get_message(message_id)
        assert msg is not None and (msg.status, msg.model) == ("interrupted", MODEL)
        assert msg.content == seen  # every delta the client got is kept
        [record] = store.turns(msg.conversation_id)
    assert (record.status, record.message_id, record.model) == ("interrupted", message_id, MODEL)
    assert record.usage_estimated is True
    assert record.input_tokens > 0  # the prompt was sent: the provider bills it
    assert record.cost_usd is not None and record.cost_usd > 0
    if deltas:
        assert record.output_tokens >= deltas and "partial reply kept" in (record.error or "")
    else:
        assert record.output_tokens == 0
    assert "stopped" in (record.error or "")
    _assert_counted_once(_costs(capsys), record.to_dict())


def test_a_stream_that_drops_mid_way_records_its_cost(one_model: FakeServer,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    one_model.script(Drop(after_chunks=3, text="this answer will be cut off in the middle of a sentence"))
    code, out = ask_json(capsys, "--no-cache", PROMPT)
    assert code == 1 and out["status"] == "interrupted" and out["text"]
    assert out["tokens"]["estimated"] is True and out["tokens"]["input"] > 0 and out["tokens"]["output"] > 0
    assert out["cost_usd"] > 0
    everything = _costs(capsys)
    assert everything["turns"] == 1 and everything["estimated_turns"] == 1
    assert everything["cost_usd"] == pytest.approx(out["cost_usd"])


def test_reported_usage_is_not_flagged(one_model: FakeServer, capsys: pytest.CaptureFixture[str]) -> None:
    """The flag means something: a turn with the server's own counts is not 'estimated'."""
    one_model.script(Reply(text="a complete answer", input_tokens=20, output_tokens=3))
    code, out = ask_json(capsys, "--no-cache", PROMPT)
    assert code == 0 and out["tokens"]["estimated"] is False
    everything = _costs(capsys)
    assert everything["turns"] == 1 and everything["estimated_turns"] == 0
    code, table, _ = run_cli(capsys, "costs")
    assert code == 0 and "estimated" not in table


# ------------------------------------------------------------------ real processes

@pytest.fixture
def child_env(one_model: FakeServer) -> dict[str, str]:
    one_model.script(ENDLESS)
    return dict(os.environ)


def _start_ask(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], PipeReader, PipeReader]:
    proc = subprocess.Popen(chatroute_argv("ask", "--no-cache", PROMPT), env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return proc, PipeReader(proc.stdout), PipeReader(proc.stderr)


def _costs_subprocess(env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(chatroute_argv("costs", "--format", "json"), env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    return json.loads(done.stdout)["periods"]["all"]  # type: ignore[no-any-return]


def test_sigkilled_ask_is_counted_at_the_next_open(child_env: dict[str, str], chatroute_home: Path) -> None:
    db = chatroute_home / "chatroute.db"
    proc, out, err = _start_ask(child_env)
    try:
        live = wait_until(lambda: streaming_partial(db, min_chars=20), START_TIMEOUT, "a saved partial",
                          alive=lambda: None if proc.poll() is None else f"ask exited: {err.text()[-500:]}")
        conn = sqlite3.connect(str(db), timeout=10)
        try:  # the model is on the message while it streams, for whoever recovers it
            assert conn.execute("SELECT model FROM messages WHERE id = ?", (live.message_id,)).fetchone()[0] == MODEL
        finally:
            conn.close()
        kill_hard(proc)
    finally:
        kill_hard(proc)
    assert proc.returncode == -9
    assert _turns(db) == []  # nothing ran on the way down

    # `chatroute costs` is the first to open the file: it recovers the stream and prices it.
    first = _costs_subprocess(child_env)
    [record] = _turns(db)
    [msg] = read_messages(db, "id = ?", (live.message_id,))
    assert msg.status == "interrupted"
    assert (record["message_id"], record["model"], record["status"], record["route_kind"]) == (
        live.message_id, MODEL, "interrupted", "recovered")
    assert record["usage_estimated"] == 1 and record["input_tokens"] > 0
    # Counted with the catalogue's tokenizer from the saved partial ("w1 w2 ..." is ~2 tokens a word).
    assert len(msg.content) // 8 <= record["output_tokens"] <= len(msg.content)
    assert record["cost_usd"] > 0
    _assert_counted_once(first, record)
    # Later opens, by the engine or `costs`, count it once.
    with Store.open(db) as store:
        assert len(store.turns(msg.conversation_id)) == 1
    assert _costs_subprocess(child_env) == first


@pytest.mark.parametrize(("sig", "code", "line"), [
    (signal.SIGINT, -signal.SIGINT, "chatroute: interrupted"),  # ended by SIGINT itself: a shell reads 130
    (signal.SIGTERM, 143, "chatroute: interrupted by SIGTERM; the turn is saved as interrupted"),
    (signal.SIGHUP, 129, "chatroute: interrupted by SIGHUP; the turn is saved as interrupted"),
])
def test_sigterm_and_sighup_stop_ask_like_ctrl_c(sig: signal.Signals, code: int, line: str,
                                                 child_env: dict[str, str], chatroute_home: Path) -> None:
    db = chatroute_home / "chatroute.db"
    proc, out, err = _start_ask(child_env)
    try:
        live = wait_until(lambda: streaming_partial(db, min_chars=20), START_TIMEOUT, "a saved partial",
                          alive=lambda: None if proc.poll() is None else f"ask exited: {err.text()[-500:]}")
        wait_until(lambda: len(out.text()) > len(live.content), 5, "stdout ahead of the saved partial")
        proc.send_signal(sig)
        proc.wait(timeout=15)
    finally:
        kill_hard(proc)
    printed, errors = out.finish(), err.finish()
    assert proc.returncode == code, errors
    assert "Traceback" not in errors
    assert errors.strip().splitlines() == [line]

    # Saved on the way down, before any other open: everything printed, marked interrupted, costed.
    [msg] = read_messages(db, "id = ?", (live.message_id,))
    assert msg.status == "interrupted"
    assert msg.content == printed and len(msg.content) > len(live.content)
    [record] = _turns(db)
    assert (record["message_id"], record["status"], record["usage_estimated"]) == (live.message_id, "interrupted", 1)
    assert record["output_tokens"] > 0 and record["cost_usd"] > 0
    _assert_counted_once(_costs_subprocess(child_env), record)


@pytest.mark.parametrize(("sig", "code", "line"), [
    (signal.SIGINT, -signal.SIGINT, "chatroute: interrupted"),  # ended by SIGINT itself: a shell reads 130
    (signal.SIGTERM, 143, "chatroute: interrupted by SIGTERM; the answers are saved as interrupted"),
])
def test_compare_stopped_before_the_first_token_records_the_billed_input(
        sig: signal.Signals, code: int, line: str, chatroute_home: Path, fake_server: FakeServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each Anthropic stream has its input reported (message_start, 3,000 tokens) but no token yet.
    Stopped, each answer is 'interrupted' and priced from that report, as `ask` does; before, the
    clients were closed under the running streams (Ctrl+C: two $0 errors) or the process died on
    SIGTERM (exit -15, the answers left 'streaming' and recovered later from an estimate)."""
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", "sk-ant-test")
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    models = ["anthropic/claude-haiku-4-5", "anthropic/claude-sonnet-4-5"]
    write_config(chatroute_home, fake_server, pool=models)
    for model in models:
        fake_server.script(model.split("/", 1)[1], Reply(n_tokens=50, ttft=60, input_tokens=3000))
    db = chatroute_home / "chatroute.db"
    proc = subprocess.Popen(chatroute_argv("compare", "--json", "-m", models[0], "-m", models[1], PROMPT),
                            env=dict(os.environ), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = PipeReader(proc.stderr)
    try:
        wait_until(lambda: len(fake_server.requests) >= 2 or None, START_TIMEOUT, "both requests sent",
                   alive=lambda: None if proc.poll() is None else f"compare exited: {err.text()[-500:]}")
        time.sleep(1.0)  # message_start (sent with the headers) has reached both streams
        proc.send_signal(sig)
        proc.wait(timeout=30)
    finally:
        kill_hard(proc)
    errors = err.finish()
    assert proc.returncode == code, errors
    assert errors.strip().splitlines() == [line]

    # Saved on the way down, before any other open.
    paths = resolve_paths()
    catalog = Catalog.build(load_config(paths), paths)
    turns = {t["model"]: t for t in _turns(db)}
    assert set(turns) == set(models)
    for model, record in turns.items():
        assert (record["status"], record["input_tokens"]) == ("interrupted", 3000), record
        assert record["cost_usd"] >= 3000 * catalog.get(model).input_cost_per_mtok / 1e6
    assert {m.status for m in read_messages(db)} == {"interrupted"}


class _Terminal:
    """The TUI on a pseudo-terminal that is its controlling terminal (as a terminal emulator's
    shell has), so closing the master side hangs it up: the kernel sends SIGHUP. Output is
    read with select() on the test's thread, so the master can really be closed."""

    def __init__(self, env: dict[str, str]) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        self.proc = subprocess.Popen(
            chatroute_argv(), stdin=slave, stdout=slave, stderr=slave, cwd=REPO, close_fds=True,
            env=dict(env, TERM="xterm-256color", COLUMNS="100", LINES="30"), start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),  # after setsid(): take the pty
        )
        os.close(slave)
        self.out = b""
        self.open = True

    def pump(self) -> str:
        while self.open and select.select([self.master], [], [], 0.05)[0]:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                data = b""
            if not data:
                break
            self.out += data
        return self.out.decode("utf-8", "replace")

    def exited(self) -> str | None:
        self.pump()
        return None if self.proc.poll() is None else f"the TUI exited early ({self.proc.returncode})"

    def gone(self) -> bool:
        self.pump()
        return self.proc.poll() is not None

    def hang_up(self) -> None:
        self.open = False
        os.close(self.master)

    def close(self) -> None:
        kill_hard(self.proc)  # type: ignore[arg-type]
        if self.open:
            self.hang_up()


@pytest.mark.parametrize("how", ["SIGTERM", "terminal closed"])
def test_sigterm_or_hangup_stops_the_tui_and_saves_the_turn(how: str, child_env: dict[str, str],
                                                            chatroute_home: Path) -> None:
    db = chatroute_home / "chatroute.db"
    tui = _Terminal(child_env)
    try:
        wait_until(lambda: "preset:" in tui.pump(), START_TIMEOUT, "the TUI's first screen", alive=tui.exited)
        os.write(tui.master, PROMPT.encode())
        wait_until(lambda: "lighthouses" in tui.pump(), 10, "the prompt on screen", alive=tui.exited)
        os.write(tui.master, b"\r")
        live = wait_until(lambda: streaming_partial(db, min_chars=20), START_TIMEOUT, "a saved partial",
                          alive=tui.exited)
        if how == "SIGTERM":
            tui.proc.send_signal(signal.SIGTERM)
        else:  # the terminal window goes away
            tui.hang_up()
        wait_until(tui.gone, 20, "the TUI to exit")
        assert tui.proc.returncode == (143 if how == "SIGTERM" else 129), tui.out[-800:]
        assert "Traceback" not in tui.pump()
    finally:
        tui.close()
    [msg] = read_messages(db, "id = ?", (live.message_id,))
    assert msg.status == "interrupted" and msg.content.startswith(live.content)
    [record] = _turns(db)
    assert (record["message_id"], record["status"], record["usage_estimated"]) == (live.message_id, "interrupted", 1)
    assert record["cost_usd"] > 0


# ------------------------------------------------------------------ the store on its own

def _abandoned_stream(db: Path, *, model: str | None, text: str = "a partial reply") -> str:
    """A reply left 'streaming' by a process that is gone (no writer tag: nobody owns it)."""
    with Store.open(db) as store:
        conv = store.create_conversation("killed", system_prompt="be brief")
        user = store.add_message(conv.id, "user", "what is a lighthouse?")
        msg = store.add_message(conv.id, "assistant", text, user.id, status="streaming")
        if model:
            store.set_message_model(msg.id, model)
        store.conn.execute("UPDATE messages SET writer = NULL WHERE id = ?", (msg.id,))
    return msg.id


def test_recovery_without_prices_estimates_by_characters_and_counts_once(chatroute_home: Path) -> None:
    """The store alone (no catalogue): characters / 4 for the tokens, the cost unknown ("n/a",
    never $0), and a second open adds nothing."""
    db = chatroute_home / "chatroute.db"
    text = "x" * 40
    mid = _abandoned_stream(db, model=MODEL, text=text)
    for _ in range(2):
        with Store.open(db) as store:
            msg = store.get_message(mid)
            assert msg is not None and msg.status == "interrupted"
            [record] = store.turns(msg.conversation_id)
    assert record.output_tokens == len(text) // CHARS_PER_TOKEN
    assert record.input_tokens == -(-(len("what is a lighthouse?") + len("be brief")) // CHARS_PER_TOKEN)
    assert (record.status, record.usage_estimated, record.cost_usd) == ("interrupted", True, None)


def test_a_stream_that_never_reached_a_model_gets_no_record(chatroute_home: Path) -> None:
    """No model saved: it stopped before the request went out (or was a cache hit): nothing billed."""
    db = chatroute_home / "chatroute.db"
    mid = _abandoned_stream(db, model=None)
    with Store.open(db) as store:
        msg = store.get_message(mid)
        assert msg is not None and msg.status == "interrupted"
        assert store.turns(msg.conversation_id) == []
