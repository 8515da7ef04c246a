"""`ask -c` and `route -c` as a CLI user gives them: a whole id, the start of one, or `last`;
an ambiguous or unknown start is one line that says what to give instead."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.engine.helpers import ask_json, run_cli
from tests.fakeserver import FakeServer


def test_the_start_of_an_id_continues_that_conversation(capsys: pytest.CaptureFixture[str],
                                                         configured: FakeServer) -> None:
    code, first = ask_json(capsys, "What is the capital of Italy?")
    assert code == 0
    conv = first["conversation_id"]
    code, second = ask_json(capsys, "-c", conv[:14].upper(), "and of France?")
    assert code == 0 and second["conversation_id"] == conv
    assert "What is the capital of Italy?" in json.dumps(configured.requests[-1].body), "sent as history"


def test_last_continues_the_most_recent_conversation(capsys: pytest.CaptureFixture[str],
                                                      configured: FakeServer) -> None:
    _, older = ask_json(capsys, "Name a river in Europe.")
    _, newer = ask_json(capsys, "What is the capital of Italy?")
    code, asked = ask_json(capsys, "-c", "last", "and of France?")
    assert code == 0 and asked["conversation_id"] == newer["conversation_id"] != older["conversation_id"]
    code, out, err = run_cli(capsys, "route", "--json", "-c", "LAST", "thanks")
    assert code == 0, err


def test_an_ambiguous_start_names_the_candidates(capsys: pytest.CaptureFixture[str], configured: FakeServer,
                                                  chatroute_home: Path) -> None:
    _, a = ask_json(capsys, "Name a river in Europe.")
    _, b = ask_json(capsys, "What is the capital of Italy?")
    shared = 0
    while a["conversation_id"][shared] == b["conversation_id"][shared]:
        shared += 1
    assert shared >= 6, "ids made a moment apart share their time prefix"
    prefix = a["conversation_id"][:shared]
    code, out, err = run_cli(capsys, "ask", "-c", prefix, "thanks")
    assert code == 2 and out == ""
    assert "starts the id of more than one conversation" in err
    assert a["conversation_id"] in err and b["conversation_id"] in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("ref, says", [("0123", "at least its first 6 characters"),
                                       ("ffffffffff", "no conversation 'ffffffffff'"),
                                       ("not-an-id", "no conversation 'not-an-id'")])
def test_an_unknown_or_short_reference_is_one_line(capsys: pytest.CaptureFixture[str], configured: FakeServer,
                                                    ref: str, says: str) -> None:
    ask_json(capsys, "Name a river in Europe.")
    asked = len(configured.requests)
    code, out, err = run_cli(capsys, "ask", "-c", ref, "thanks")
    assert code == 2 and says in err and len(err.strip().splitlines()) == 1
    assert len(configured.requests) == asked, "nothing is sent"
    code, _, err = run_cli(capsys, "route", "-c", ref, "thanks")
    assert code == 2 and says in err


def test_last_with_no_conversation_yet(capsys: pytest.CaptureFixture[str], configured: FakeServer) -> None:
    code, _, err = run_cli(capsys, "ask", "-c", "last", "hello")
    assert code == 2 and "there is no conversation yet" in err
