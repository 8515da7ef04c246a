"""A served request whose record cannot be written to the ledger (a full disk, a read-only
file): the provider has answered, and billed it, so the client still gets the answer whole,
streamed or not, and serve's log says once that its cost is not counted. Before, the client got
a 500 'internal error' instead of the answer, or a stream cut off before its end with a
traceback in serve's log."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import openai
import pytest

from tests.engine.helpers import write_config
from tests.fakeserver import FakeServer, Fault, Reply
from tests.serve.conftest import serve_env, start_served

ANSWER = "The Rhine flows into the North Sea."


def test_an_answer_whose_record_cannot_be_written_still_reaches_the_client(tmp_path: Path,
                                                                          fake_server: FakeServer) -> None:
    served = start_served(tmp_path / "home", fake_server, module="tests.serve.ledger_full_runner")
    try:
        fake_server.script("gpt-4o-mini", Reply(text=ANSWER), Reply(text=ANSWER))
        client = served.client()
        whole = client.chat.completions.create(
            model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "Where does the Rhine go?"}])
        assert whole.choices[0].message.content == ANSWER
        assert whole.choices[0].finish_reason == "stop"
        chunks = list(client.chat.completions.create(
            model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "And where does it rise?"}],
            stream=True))
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ANSWER
        assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
        assert served.turns() == []  # nothing was written, as the disk would have it
    finally:
        assert served.stop() == 0
    log = served.exited_stderr()
    assert "Traceback" not in log and "internal error" not in log, log
    said = [line for line in log.splitlines() if "could not be written to the ledger" in line]
    assert len(said) == 2, log
    db = served.home / "chatroute.db"
    for line in said:
        assert line.startswith("chatroute serve: warning: openai/gpt-4o-mini: the request was answered"), line
        assert f"({db}: database or disk is full)" in line and "is not counted by `chatroute costs`" in line, line


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_request_whose_reservation_cannot_be_written_is_a_503_saying_so_and_not_sent(
        tmp_path: Path, fake_server: FakeServer, stream: bool) -> None:
    """Under a budget cap the request reserves its expected cost before it is sent. Before, a
    reservation that could not be written was a 500 'internal error in chatroute serve (see its
    log)', the log saying 'OperationalError: database or disk is full', naming no file."""
    home = tmp_path / "capped"
    home.mkdir()
    write_config(home, fake_server, extra="[budget]\ndaily_usd = 5\n")
    served = start_served(home, fake_server, module="tests.serve.ledger_full_runner",
                          env={**serve_env(home), "FULL_WRITES": "reserve"})
    db = home / "chatroute.db"
    line = (f"not sent: the request's expected cost could not be reserved against the budget cap "
            f"({db}: database or disk is full)")
    try:
        with pytest.raises(openai.InternalServerError) as refused:
            answer = served.client().chat.completions.create(
                model="chatroute/auto", messages=[{"role": "user", "content": "Where does the Rhine go?"}],
                stream=stream)
            list(answer) if stream else None  # type: ignore[call-overload]
        assert refused.value.status_code == 503
        assert refused.value.message == f"Error code: 503 - chatroute serve: {line}"
        assert fake_server.requests == []
    finally:
        assert served.stop() == 0
    log = served.exited_stderr()
    assert "Traceback" not in log and "internal error" not in log, log
    assert f"chatroute serve: warning: {line}" in log.splitlines(), log


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_fail_over_whose_reservation_cannot_be_moved_is_a_503_saying_so_and_not_sent(
        tmp_path: Path, fake_server: FakeServer, stream: bool) -> None:
    """The routed model answers 500 before any token; the move of the request's reservation to
    the next model cannot be written. Before, that write's sqlite3 error was a 500 'internal
    error in chatroute serve (see its log)' with a traceback in the log."""
    home = tmp_path / "capped"
    home.mkdir()
    write_config(home, fake_server, pool=["openai/gpt-4o-mini", "openai/gpt-4o"],
                 extra="[budget]\ndaily_usd = 5\n")
    for model in ("gpt-4o-mini", "gpt-4o"):
        fake_server.script(model, Fault(status=500), Fault(status=500))
    served = start_served(home, fake_server, module="tests.serve.ledger_full_runner",
                          env={**serve_env(home), "FULL_WRITES": "move"})
    db = home / "chatroute.db"
    try:
        with pytest.raises(openai.InternalServerError) as refused:
            answer = served.client().chat.completions.create(
                model="chatroute/auto", messages=[{"role": "user", "content": "Where does the Rhine go?"}],
                stream=stream)
            list(answer) if stream else None  # type: ignore[call-overload]
        assert refused.value.status_code == 503
        [first] = [r.model for r in fake_server.requests]  # nothing sent after the move failed
        to = "openai/gpt-4o" if first == "gpt-4o-mini" else "openai/gpt-4o-mini"
        line = (f"not sent: the request's expected cost could not be reserved against the budget cap as it "
                f"failed over to {to} ({db}: database or disk is full)")
        assert refused.value.message == f"Error code: 503 - chatroute serve: {line}"
        with closing(sqlite3.connect(db)) as c:
            assert c.execute("SELECT count(*) FROM budget_reservations").fetchone() == (0,)
    finally:
        assert served.stop() == 0
    log = served.exited_stderr()
    assert "Traceback" not in log and "internal error" not in log, log
    assert [x for x in log.splitlines() if "warning" in x or "error" in x] == [f"chatroute serve: warning: {line}"], log
