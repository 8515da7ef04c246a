"""The fault matrix: every provider fault, against a routed turn and a pinned turn.

Each case runs the real `chatroute ask` entry point, the official openai / anthropic SDKs and
the fake server on 127.0.0.1, then checks what the user sees (stdout, stderr, exit code) and
what was kept (the SQLite database, the health board on disk):

- before the first token, a routed turn fails over to the next model, says so inline, and the
  failed model cools down (for at least Retry-After) for the following turns and processes;
  a pinned turn shows one clear error line with a retry hint and exits 1;
- after the first token, nothing is rerouted: the partial reply is kept, marked interrupted;
- costs come from the usage the server reported, else are estimated and marked so;
- an endless stream stops at the request's max_tokens, recorded as finish "length".

Two models share the pool; abilities (price weight 0) make the faulting one the router's first choice, so the
fallback is known. Each fault runs on each wire it exists on (529 is Anthropic's alone).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest

from chatroute.jsonsafe import tidy
from chatroute.money import usd
from chatroute.routing.health import HealthBoard
from tests.engine.helpers import ANTHROPIC_KEY, OPENAI_KEY, run_cli, run_subprocess
from tests.fakeserver import Drop, FakeServer, Fault, InStreamError, Malformed, Reply, Step

Wire = Literal["openai", "anthropic"]
Phase = Literal["before", "mid", "no_usage", "endless"]

TARGET: dict[Wire, str] = {"openai": "openai/gpt-4o-mini", "anthropic": "anthropic/claude-haiku-4-5"}
FALLBACK: dict[Wire, str] = {"openai": "anthropic/claude-haiku-4-5", "anthropic": "openai/gpt-4o-mini"}
PROMPT = "Summarise the plot of Hamlet in two lines."
FALLBACK_TEXT = "Prince Hamlet avenges his father; almost everyone dies."
FALLBACK_USAGE = (120, 9)  # input, output tokens the fallback reports
MAX_OUTPUT = 64  # [models.X] max_output_tokens of the faulting model: the request's max_tokens
FIRST_TOKEN_TIMEOUT_S = 0.5
REPORTED_INPUT = 321  # input tokens an Anthropic message_start reports before a mid-stream fault
RETRY_AFTER_S = 30.0  # longer than the board's first backoff (5 s): the cooldown must be Retry-After's
# Faults without Retry-After cool a model down for the first backoff. It is raised from 5 s to
# this in-process, so a loaded machine cannot outlast it between the failure and the checks;
# the rule under test, cooldown = max(Retry-After, backoff), is unchanged.
BACKOFF_S = 60.0


@dataclass(frozen=True)
class Case:
    name: str
    wire: Wire
    step: Callable[[], Step]
    phase: Phase
    label: str = ""  # the short error label of a reroute ("429", "timeout", ...)
    kind: str = ""  # ErrorKind value
    retry_after: float | None = None
    partial: str = ""  # text streamed before a mid-stream fault
    slow_first_token: bool = False  # give the faulting provider a short first_token_timeout_s


def _cases() -> list[Case]:
    out: list[Case] = []
    for w in ("openai", "anthropic"):
        wire: Wire = w  # type: ignore[assignment]
        out += [
            Case("429-retry-after", wire, lambda: Fault(status=429, retry_after=RETRY_AFTER_S), "before",
                 label="429", kind="rate_limited", retry_after=RETRY_AFTER_S),
            Case("500", wire, lambda: Fault(status=500), "before", label="500", kind="server"),
            Case("503", wire, lambda: Fault(status=503), "before", label="503", kind="server"),
        ]
        if wire == "anthropic":  # Anthropic's own status
            out.append(Case("529-overloaded", wire, lambda: Fault(status=529, anthropic_overloaded=True), "before",
                            label="529", kind="overloaded"))
        out += [
            Case("overloaded-in-200-stream", wire, lambda: InStreamError("overloaded_error", "Overloaded"), "before",
                 label="overloaded", kind="overloaded"),
            Case("overloaded-mid-stream", wire,
                 lambda: InStreamError("overloaded_error", "Overloaded", after_chunks=3, input_tokens=REPORTED_INPUT),
                 "mid", kind="overloaded", partial="partial answer before "),
            Case("drop-before-first-token", wire, lambda: Drop(after_chunks=0), "before",
                 label="connection", kind="connection"),
            Case("drop-mid-stream", wire, lambda: Drop(after_chunks=3, input_tokens=REPORTED_INPUT), "mid",
                 kind="connection", partial="this answer will "),
            Case("malformed-chunk-first", wire, lambda: Malformed(after_chunks=0), "before",
                 label="malformed_stream", kind="malformed_stream"),
            Case("malformed-chunk-mid-stream", wire, lambda: Malformed(after_chunks=2, input_tokens=REPORTED_INPUT),
                 "mid", kind="malformed_stream", partial="a reply "),
            Case("no-usage", wire, lambda: Reply(text="an answer with no usage at all", omit_usage=True), "no_usage"),
            Case("slow-first-token", wire, lambda: Reply(text="far too late", ttft=5), "before",
                 label="timeout", kind="timeout", slow_first_token=True),
            Case("endless-stream", wire, lambda: Reply(endless=True), "endless"),
        ]
    return out


MATRIX = [pytest.param(case, mode, id=f"{case.name}-{case.wire}-{mode}")
          for case in _cases() for mode in ("routed", "pinned")]


# -- set-up ---------------------------------------------------------------------------------


def _configure(home: Path, server: FakeServer, case: Case) -> None:
    target, other = TARGET[case.wire], FALLBACK[case.wire]
    timeout = f"first_token_timeout_s = {FIRST_TOKEN_TIMEOUT_S}"
    text = f"""
[providers.openai]
kind = "openai"
base_url = "{server.openai_base_url}"
api_key_env = "TEST_OPENAI_KEY"
{timeout if case.slow_first_token and case.wire == "openai" else ""}

[providers.anthropic]
kind = "anthropic"
base_url = "{server.anthropic_base_url}"
api_key_env = "TEST_ANTHROPIC_KEY"
{timeout if case.slow_first_token and case.wire == "anthropic" else ""}

[router]
pool = {json.dumps([target, other])}
default = "{target}"
# Price does not count: the abilities alone make the faulting model the first choice (a preset
# would send this light prompt to the cheaper model).
cost_weight = 0.0

[models."{target}"]
ability = 0.99
max_output_tokens = {MAX_OUTPUT}

[models."{other}"]
ability = 0.3
"""
    (home / "config.toml").write_text(text, encoding="utf-8")


@pytest.fixture
def env(chatroute_home: Path, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", ANTHROPIC_KEY)
    return fake_server


def _lengthen_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    load = HealthBoard.load.__func__  # type: ignore[attr-defined]

    def load_slow(cls: type[HealthBoard], path: Path, **kw: Any) -> HealthBoard:
        board = load(cls, path, **kw)
        board.base_backoff_s = BACKOFF_S
        return board

    monkeypatch.setattr(HealthBoard, "load", classmethod(load_slow))


def _name(model: str) -> str:
    """The provider's own model id, as the fake server sees it."""
    return model.split("/", 1)[1]


def _db(home: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(home / "chatroute.db")
    conn.row_factory = sqlite3.Row
    return conn


def _last_turn(home: Path) -> tuple[sqlite3.Row, sqlite3.Row]:
    """(turn row, its assistant message row) of the latest turn."""
    with _db(home) as db:
        turn = db.execute("SELECT * FROM turns ORDER BY created_at DESC, rowid DESC LIMIT 1").fetchone()
        msg = db.execute("SELECT * FROM messages WHERE id = ?", (turn["message_id"],)).fetchone()
    return turn, msg


def _health(home: Path) -> HealthBoard:
    return HealthBoard.load(home / "health.json")  # the file every process reads


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("chatroute: error:")]


def _no_traceback(err: str) -> None:
    assert "Traceback" not in err and "Error:" not in err.replace("chatroute: error:", ""), err


class _Watchdog:
    """Stops the fake server if a turn outlives `seconds`: a stream the client fails to bound
    then ends in an error (and a failed test) instead of a hung suite."""

    def __init__(self, server: FakeServer, seconds: float) -> None:
        self.fired = False
        self._timer = threading.Timer(seconds, self._fire, args=(server,))
        self._timer.daemon = True

    def _fire(self, server: FakeServer) -> None:
        self.fired = True
        server.stop()

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


# -- the matrix -----------------------------------------------------------------------------


@pytest.mark.parametrize(("case", "mode"), MATRIX)
def test_fault(case: Case, mode: str, env: FakeServer, chatroute_home: Path,
               capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    server = env
    if case.retry_after is None:
        _lengthen_backoff(monkeypatch)
    _configure(chatroute_home, server, case)
    target, fallback = TARGET[case.wire], FALLBACK[case.wire]
    if mode == "routed":
        code, out, _ = run_cli(capsys, "route", "--json", PROMPT)
        assert json.loads(out)["model"] == target, "precondition: the faulting model is the router's first choice"
    server.script(_name(target), case.step())
    server.script(_name(fallback), Reply(text=FALLBACK_TEXT, input_tokens=FALLBACK_USAGE[0],
                                         output_tokens=FALLBACK_USAGE[1]))
    args = ("ask", "--json", PROMPT) if mode == "routed" else ("ask", "-m", target, PROMPT)
    started_at = time.time()  # the health board's clock
    with _Watchdog(server, 20) as watchdog:
        code, out, err = run_cli(capsys, *args)
    assert not watchdog.fired, "the turn did not end by itself"
    _no_traceback(err)
    turn, msg = _last_turn(chatroute_home)
    route = json.loads(turn["route"])
    shown = json.loads(out) if mode == "routed" else None

    if case.phase == "before" and mode == "routed":
        _expect_reroute(case, server, chatroute_home, capsys, code, err, turn, msg, route, shown, started_at)
    elif case.phase == "before":
        _expect_pinned_error(case, code, out, err, turn, msg, route)
    elif case.phase == "mid":
        _expect_interrupted(case, mode, chatroute_home, code, out, err, turn, msg, route, shown)
    elif case.phase == "no_usage":
        _expect_estimated(case, code, turn, msg, route)
    else:
        _expect_truncated(case, server, code, turn, msg, route)


def _expect_reroute(case: Case, server: FakeServer, home: Path, capsys: pytest.CaptureFixture[str], code: int,
                    err: str, turn: sqlite3.Row, msg: sqlite3.Row, route: dict[str, Any],
                    shown: dict[str, Any] | None, started_at: float) -> None:
    target, fallback = TARGET[case.wire], FALLBACK[case.wire]
    assert shown is not None
    assert code == 0, err
    # Recorded in `ask --json` and in the database...
    reroutes = shown["route"]["reroutes"]
    assert [(r["from"], r["error"], r["kind"], r["to"]) for r in reroutes] == [
        (target, case.label, case.kind, fallback)]
    assert tidy(route["reroutes"]) == reroutes  # --json writes 15 significant digits
    # ...and shown inline, as one line.
    billed = ""
    if case.slow_first_token:
        # The server had taken the request (and, on Anthropic's wire, reported its input) when
        # chatroute hung up: billed as a stop is, at an estimate on OpenAI's wire
        # (tests/engine/test_timeout_costs.py).
        billed = f" (billed ≈{usd(reroutes[0]['cost_usd'])})"
    assert f"chatroute: {_name(target)} {case.label}{billed} → {_name(fallback)}" in err.splitlines()
    assert not _error_lines(err)
    # The answer is the fallback's, complete, priced from the usage it reported.
    assert shown["model"] == fallback and shown["text"] == FALLBACK_TEXT and shown["status"] == "ok"
    assert msg["status"] == "complete" and msg["content"] == FALLBACK_TEXT and msg["model"] == fallback
    assert shown["tokens"] == {"input": FALLBACK_USAGE[0], "output": FALLBACK_USAGE[1], "cached": 0, "cache_write": 0,
                               "estimated": False}
    assert shown["cost_usd"] and shown["cost_usd"] > 0
    # The failed model cools down for at least Retry-After (else the first backoff), on disk.
    board = _health(home)
    assert board.unavailable_reason(target), "the failed model is not cooling down"
    assert board.models[target].cooldown_until >= started_at + (case.retry_after or BACKOFF_S)
    assert board.unavailable_reason(fallback) is None
    # The following turn does not go to it while the cooldown lasts, nor is it even tried.
    tried = len(server.requests_for(_name(target)))
    if case.retry_after and case.wire == "openai":  # once is enough: a process costs seconds
        # ... in another process, too: the health board is a file every process re-reads.
        proc = run_subprocess("ask", "--json", "--no-cache", PROMPT, timeout=60)
        assert proc.returncode == 0, proc.stderr.decode()
        again = json.loads(proc.stdout)
    else:
        code, out, _ = run_cli(capsys, "ask", "--json", "--no-cache", PROMPT)
        assert code == 0
        again = json.loads(out)
    assert again["model"] == fallback and again["route"]["reroutes"] == []
    assert len(server.requests_for(_name(target))) == tried
    excluded = {c["model"]: c.get("excluded") for c in again["route"]["candidates"]}
    assert "cooling down" in (excluded.get(target) or ""), excluded


def _expect_pinned_error(case: Case, code: int, out: str, err: str, turn: sqlite3.Row, msg: sqlite3.Row,
                         route: dict[str, Any]) -> None:
    target = TARGET[case.wire]
    assert code == 1
    assert out.strip() == ""  # nothing was generated, nothing pretends to be an answer
    lines = _error_lines(err)
    assert len(lines) == 1, err
    line = lines[0]
    assert target in line
    assert case.label.replace("_", " ") in line or _kind_words(case.kind) in line, line
    assert "retry" in line.lower(), f"no retry hint: {line}"
    if case.retry_after:
        assert f"{case.retry_after:g} s" in line, f"the Retry-After is not shown: {line}"
    # Not rerouted: the user's choice stands, and the failure is recorded, not lost.
    assert route["reroutes"] == []
    assert turn["model"] == target and turn["route_kind"] == "override" and turn["status"] == "error"
    assert turn["error"] and "\n" not in turn["error"]
    assert msg["status"] == "error" and msg["content"] == ""


def _kind_words(kind: str) -> str:
    return {"rate_limited": "rate limited", "server": "server error", "overloaded": "overloaded",
            "connection": "connection failed", "malformed_stream": "malformed", "timeout": "timed out"}[kind]


def _expect_interrupted(case: Case, mode: str, home: Path, code: int, out: str, err: str, turn: sqlite3.Row,
                        msg: sqlite3.Row, route: dict[str, Any], shown: dict[str, Any] | None) -> None:
    target = TARGET[case.wire]
    assert code == 1
    # Never rerouted after the first token: the user already read part of this answer.
    assert route["reroutes"] == []
    assert turn["model"] == target and turn["status"] == "interrupted"
    # The partial reply is kept in the database, marked interrupted.
    assert msg["status"] == "interrupted" and msg["content"] == case.partial
    lines = _error_lines(err)
    assert len(lines) == 1 and "partial reply kept" in lines[0] and "retry" in lines[0].lower(), err
    if shown is not None:
        assert shown["status"] == "interrupted" and shown["text"] == case.partial
    else:
        assert out.strip() == case.partial.strip()  # it was streamed to the user as it came
    # Cost: what the server reported (Anthropic's message_start input), the rest estimated.
    assert turn["usage_estimated"] == 1
    assert turn["output_tokens"] > 0 and turn["cost_usd"] and turn["cost_usd"] > 0
    if case.wire == "anthropic":
        assert turn["input_tokens"] == REPORTED_INPUT
    # The broken stream counts against the model's health (it is not a success); a routed
    # retry then goes elsewhere.
    board = _health(home)
    assert board.models[target].failures == 1 and board.models[target].requests == 1
    if mode == "routed":
        assert board.unavailable_reason(target)


def _expect_estimated(case: Case, code: int, turn: sqlite3.Row, msg: sqlite3.Row, route: dict[str, Any]) -> None:
    assert code == 0
    assert route["reroutes"] == []
    assert turn["model"] == TARGET[case.wire] and turn["status"] == "ok" and turn["finish_reason"] == "stop"
    assert msg["status"] == "complete" and msg["content"] == "an answer with no usage at all"
    assert turn["usage_estimated"] == 1
    assert turn["input_tokens"] > 0 and turn["output_tokens"] > 0 and turn["cost_usd"] > 0


def _expect_truncated(case: Case, server: FakeServer, code: int, turn: sqlite3.Row, msg: sqlite3.Row,
                      route: dict[str, Any]) -> None:
    target = TARGET[case.wire]
    sent = server.requests_for(_name(target))[-1].body
    assert sent.get("max_tokens", sent.get("max_completion_tokens")) == MAX_OUTPUT
    assert code == 0
    assert route["reroutes"] == []
    assert turn["status"] == "ok" and turn["finish_reason"] == "length"
    # Stopped by the client at max_tokens: the server never ended the stream nor sent usage.
    assert len(msg["content"].split()) == MAX_OUTPUT and msg["status"] == "complete"
    assert turn["usage_estimated"] == 1 and turn["cost_usd"] > 0
    assert 0 < turn["output_tokens"] <= MAX_OUTPUT  # never billed beyond max_tokens
