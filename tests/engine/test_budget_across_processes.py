"""A budget cap holds across processes sharing one chatroute.db: a turn streaming in one process
(`chatroute ask`, `serve`, the TUI) counts against the cap in every other, at what it is expected
to cost, from its decision until its record is in the ledger. Before, each process counted only
its own streaming turns and the ledger's finished ones, so two `chatroute ask` run at once under
a cap with room for one turn were both sent, and the user was billed past the limit they set.

A reservation left by a process that died mid-turn does not count: the owner is gone."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest

from chatroute.money import usd
from chatroute.store import reservations
from chatroute.store.reservations import ReservationQueries
from tests.engine.helpers import OPENAI_KEY, run_cli, write_config
from tests.fakeserver import Drop, FakeServer, Fault, Reply
from tests.serve.conftest import ROOT, serve_env, start_served

# Same length, so the router expects each to cost the same.
PROMPTS = ("Name a river in Europe, number 1.", "Name a river in Europe, number 2.",
           "Name a river in Europe, number 3.")
WAIT_S = 60.0


def _expected(home: Path) -> tuple[float, int, int]:
    """What the router expects one of these turns to cost, and its input and output tokens."""
    out = subprocess.run([sys.executable, "-m", "chatroute", "route", "--json", PROMPTS[0]], cwd=ROOT,
                         env=serve_env(home), capture_output=True, text=True, timeout=WAIT_S)
    assert out.returncode == 0, out.stderr
    decision = json.loads(out.stdout)
    [cand] = decision["candidates"]
    return float(cand["expected_cost_usd"]), decision["expected_input_tokens"], decision["expected_output_tokens"]


def _capped_home(tmp_path: Path, fake: FakeServer, room: float) -> tuple[Path, int, int, float]:
    """A home whose daily cap leaves `room` times one turn's expected cost (the last figure)."""
    home = tmp_path / "capped-home"
    home.mkdir()
    write_config(home, fake, pool=["openai/gpt-4o-mini"])
    each, n_in, n_out = _expected(home)
    _cap(home, fake, each * room)
    return home, n_in, n_out, each


def _cap(home: Path, fake: FakeServer, daily_usd: float) -> None:
    write_config(home, fake, pool=["openai/gpt-4o-mini"], extra=f"[budget]\ndaily_usd = {daily_usd:.12f}\n")


def _ask(home: Path, prompt: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "chatroute", "ask", "--no-cache", prompt], cwd=ROOT,
                            env=serve_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _until(what: str, done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not done():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        time.sleep(0.02)


@contextmanager
def _held(fake: FakeServer, n_in: int, n_out: int, count: int) -> Iterator[threading.Event]:
    """`count` replies that stream only once the event is set (set on the way out too)."""
    release = threading.Event()
    for _ in range(count):
        fake.script("gpt-4o-mini", Reply(text="the Danube", hold=release, input_tokens=n_in, output_tokens=n_out))
    try:
        yield release
    finally:
        release.set()


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=WAIT_S)
    return proc.returncode, out, err


def test_two_asks_at_once_stop_at_a_cap_with_room_for_one(tmp_path: Path, fake_server: FakeServer) -> None:
    home, n_in, n_out, each = _capped_home(tmp_path, fake_server, 1.5)
    with _held(fake_server, n_in, n_out, 2) as release:
        first = _ask(home, PROMPTS[0])
        _until("the first ask's request", lambda: len(fake_server.requests) >= 1 or first.poll() is not None)
        assert first.poll() is None, first.communicate()
        # The first is streaming (held): the second must count it, though it is another process's.
        second = _ask(home, PROMPTS[1])
        _until("the second ask to be refused or sent",
               lambda: second.poll() is not None or len(fake_server.requests) >= 2)
        sent = len(fake_server.requests)
        release.set()
        code1, out1, err1 = _finish(first)
        code2, _, err2 = _finish(second)
    assert sent == 1, f"both asks were sent under a cap with room for one: {err2}"
    # Nothing is spent yet: the first turn's cost is reserved, and said so (it read '$0.00011 spent').
    figures = (f"($0.00 spent and {usd(each)} reserved by turns in progress, of {usd(each * 1.5)}; "
               f"{usd(each * 0.5)} left)")
    assert code2 == 2 and f"this turn would exceed the daily budget {figures}" in err2 and "--over-budget" in err2, err2
    assert code1 == 0 and "the Danube" in out1, err1


def test_a_served_request_counts_against_an_ask(tmp_path: Path, fake_server: FakeServer) -> None:
    home, n_in, n_out, each = _capped_home(tmp_path, fake_server, 1.5)
    server = start_served(home, fake_server)
    try:
        with _held(fake_server, n_in, n_out, 2) as release:
            result: list[object] = []

            def request() -> None:
                try:
                    server.client().chat.completions.create(
                        model="chatroute/auto", messages=[{"role": "user", "content": PROMPTS[0]}])
                    result.append("answered")
                except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                    result.append(exc)

            client = threading.Thread(target=request, daemon=True)
            client.start()
            _until("the served request", lambda: len(fake_server.requests) >= 1 or bool(result))
            ask = _ask(home, PROMPTS[1])
            _until("the ask to be refused or sent", lambda: ask.poll() is not None or len(fake_server.requests) >= 2)
            sent = len(fake_server.requests)
            release.set()
            code, _, err = _finish(ask)
            client.join(WAIT_S)
        assert sent == 1, f"the ask was sent beside a served request under a cap with room for one: {err}"
        assert code == 2 and "budget" in err, err
        assert result == ["answered"], result
        # Once the served request is in the ledger (at what it was expected to cost) its
        # reservation is gone, though the server runs on: with room for 2.5 turns, one more fits.
        _cap(home, fake_server, each * 2.5)
        fake_server.reset()  # the second held reply, which the refused ask left unused
        fake_server.script("gpt-4o-mini", Reply(text="the Rhine", input_tokens=n_in, output_tokens=n_out))
        code, out, err = _finish(_ask(home, PROMPTS[2]))
        assert code == 0 and "the Rhine" in out, err
    finally:
        server.stop()


def test_a_turn_of_a_killed_process_does_not_hold_the_cap(tmp_path: Path, fake_server: FakeServer) -> None:
    home, n_in, n_out, _ = _capped_home(tmp_path, fake_server, 1.5)
    with _held(fake_server, n_in, n_out, 1):
        first = _ask(home, PROMPTS[0])
        _until("the first ask's request", lambda: len(fake_server.requests) >= 1 or first.poll() is not None)
        assert first.poll() is None, first.communicate()
        os.kill(first.pid, signal.SIGKILL)  # no release, no record: only its reservation is left
        first.wait(WAIT_S)
    # Its stream is found abandoned and priced as what streamed (the input, no answer): well
    # within the cap, so the next ask is sent.
    fake_server.script("gpt-4o-mini", Reply(text="the Rhine", input_tokens=n_in, output_tokens=n_out))
    code, out, err = _finish(_ask(home, PROMPTS[1]))
    assert code == 0 and "the Rhine" in out, err


# A pool the router ranks by ability alone (cost not weighed): gpt-4o-mini first, then gpt-4o,
# the dearest, then claude-haiku-4-5.
RANKED = ["openai/gpt-4o-mini", "openai/gpt-4o", "anthropic/claude-haiku-4-5"]
_RANKING = ('cost_weight = 0.0\n\n[models."openai/gpt-4o-mini"]\nability = 0.99\n\n'
            '[models."openai/gpt-4o"]\nability = 0.6\n\n[models."anthropic/claude-haiku-4-5"]\nability = 0.3\n')


def _ranked_home(tmp_path: Path, fake: FakeServer) -> tuple[Path, dict[str, float]]:
    """A home on the RANKED pool capped at gpt-4o's expected cost and half gpt-4o-mini's: one
    turn fits on any model, and a second beside it only if the first is on gpt-4o-mini. Returns
    each model's expected cost for these prompts."""
    home = tmp_path / "ranked-home"
    home.mkdir()
    write_config(home, fake, pool=RANKED, extra=_RANKING)
    out = subprocess.run([sys.executable, "-m", "chatroute", "route", "--json", PROMPTS[0]], cwd=ROOT,
                         env=serve_env(home), capture_output=True, text=True, timeout=WAIT_S)
    assert out.returncode == 0, out.stderr
    decision = json.loads(out.stdout)
    assert decision["model"] == RANKED[0], decision["reason"]
    cost = {c["model"]: float(c["expected_cost_usd"]) for c in decision["candidates"]}
    assert cost[RANKED[0]] < cost[RANKED[2]] < cost[RANKED[1]], cost
    cap = cost[RANKED[1]] + cost[RANKED[0]] / 2
    write_config(home, fake, pool=RANKED, extra=_RANKING + f"\n[budget]\ndaily_usd = {cap:.12f}\n")
    return home, cost


@pytest.mark.parametrize("first_by", ["ask", "serve"])
def test_a_turn_that_fails_over_to_a_dearer_model_reserves_that_models_cost(
        tmp_path: Path, fake_server: FakeServer, first_by: str) -> None:
    """The first turn's gpt-4o-mini fails before its first token and it goes on to gpt-4o: its
    reservation must become gpt-4o's expected cost. Before, it stayed at gpt-4o-mini's, so an
    ask beside it saw room for claude-haiku-4-5 and was sent too, past the cap."""
    home, _ = _ranked_home(tmp_path, fake_server)
    release = threading.Event()
    fake_server.script("gpt-4o-mini", Fault(status=500))
    fake_server.script("gpt-4o", Reply(text="the Danube", hold=release))
    server = start_served(home, fake_server) if first_by == "serve" else None
    answered: list[str] = []

    def request() -> None:
        assert server is not None
        reply = server.client().chat.completions.create(
            model="chatroute/auto", messages=[{"role": "user", "content": PROMPTS[0]}])
        answered.append(reply.choices[0].message.content or "")

    try:
        if server is not None:
            threading.Thread(target=request, daemon=True).start()
        first = _ask(home, PROMPTS[0]) if server is None else None
        _until("the first turn's fail-over to gpt-4o", lambda: bool(fake_server.requests_for("gpt-4o")) or (
            first is not None and first.poll() is not None))
        second = _ask(home, PROMPTS[1])  # gpt-4o-mini cools down now: gpt-4o or claude-haiku-4-5
        _until("the ask to be refused or sent", lambda: second.poll() is not None or len(fake_server.requests) >= 3)
        sent = [r.model for r in fake_server.requests]
        release.set()
        code2, _, err2 = _finish(second)
        assert sent == ["gpt-4o-mini", "gpt-4o"], f"an ask was sent beside a turn moved to gpt-4o: {err2}"
        assert code2 == 2 and "this turn would exceed the daily budget" in err2, err2
        if first is not None:
            code1, out1, err1 = _finish(first)
            assert code1 == 0 and "the Danube" in out1, err1
            assert "gpt-4o-mini 500 → gpt-4o\n" in err1, err1
        else:
            _until("the served answer", lambda: bool(answered))
            assert answered == ["the Danube"]
    finally:
        release.set()
        if server is not None:
            server.stop()


def test_a_fail_over_skips_a_model_the_budget_no_longer_has_room_for_and_says_so(
        tmp_path: Path, fake_server: FakeServer) -> None:
    """The first ask decides while the cap has room for gpt-4o; before its gpt-4o-mini fails, a
    second ask reserves what leaves no room for it. The fail-over skips gpt-4o for the budget,
    as a decision would, goes on to claude-haiku-4-5, and its reroute line says why."""
    home, cost = _ranked_home(tmp_path, fake_server)
    fail, release = threading.Event(), threading.Event()
    fake_server.script("gpt-4o-mini", Fault(status=500, hold=fail), Reply(text="the Rhine", hold=release))
    fake_server.script("claude-haiku-4-5", Reply(text="the Danube"))
    try:
        first = _ask(home, PROMPTS[0])
        _until("the first ask's request", lambda: len(fake_server.requests) >= 1 or first.poll() is not None)
        second = _ask(home, PROMPTS[1])  # reserves gpt-4o-mini's cost: gpt-4o no longer fits beside it
        _until("the second ask's request", lambda: len(fake_server.requests) >= 2 or second.poll() is not None)
        fail.set()
        code1, out1, err1 = _finish(first)
    finally:
        fail.set()
        release.set()
    code2, out2, err2 = _finish(second)
    assert code1 == 0 and "the Danube" in out1, err1
    assert [r.model for r in fake_server.requests] == ["gpt-4o-mini", "gpt-4o-mini", "claude-haiku-4-5"]
    left = usd(cost[RANKED[1]] - cost[RANKED[0]] / 2)
    assert f"gpt-4o-mini 500 → claude-haiku-4-5; skipped gpt-4o: would exceed the budget ({left} left)" \
        in err1, err1
    assert code2 == 0 and "the Rhine" in out2, err2


@pytest.mark.parametrize("first_by", ["ask to the default", "serve pinned"])
def test_a_turn_on_a_model_outside_the_pool_reserves_its_expected_cost(
        tmp_path: Path, fake_server: FakeServer, first_by: str) -> None:
    """The pool is gpt-4o alone, which the cap has no room for; the default, gpt-4o-mini, is
    outside it, and the cap has room for one turn on it. A turn on gpt-4o-mini (the default
    standing in, or a served request naming it) must reserve its expected cost: before, it
    reserved $0 (the decision priced no model outside the pool), so an ask beside it was sent to
    the default too, past the cap."""
    home, n_in, n_out, each = _capped_home(tmp_path, fake_server, 1.5)  # `each`: a turn on gpt-4o-mini
    config = home / "config.toml"
    write_config(home, fake_server, pool=["openai/gpt-4o"], extra=f"\n[budget]\ndaily_usd = {each * 1.5:.12f}\n")
    config.write_text(config.read_text().replace('default = "openai/gpt-4o"', 'default = "openai/gpt-4o-mini"'))
    server = start_served(home, fake_server) if first_by == "serve pinned" else None
    answered: list[str] = []

    def request() -> None:
        assert server is not None
        reply = server.client().chat.completions.create(
            model="openai/gpt-4o-mini", messages=[{"role": "user", "content": PROMPTS[0]}])
        answered.append(reply.choices[0].message.content or "")

    try:
        with _held(fake_server, n_in, n_out, 2) as release:
            if server is not None:
                threading.Thread(target=request, daemon=True).start()
            first = _ask(home, PROMPTS[0]) if server is None else None
            _until("the first turn's request", lambda: len(fake_server.requests) >= 1 or (
                first is not None and first.poll() is not None))
            second = _ask(home, PROMPTS[1])
            _until("the ask to be refused or sent", lambda: second.poll() is not None or len(fake_server.requests) >= 2)
            sent = len(fake_server.requests)
            release.set()
            code2, _, err2 = _finish(second)
            assert sent == 1, f"an ask was sent beside a turn on gpt-4o-mini, outside the pool: {err2}"
            assert code2 == 2 and "this turn would exceed the daily budget" in err2, err2
            if first is not None:
                code1, out1, err1 = _finish(first)
                assert code1 == 0 and "the Danube" in out1 and "gpt-4o-mini" in err1, err1
            else:
                _until("the served answer", lambda: bool(answered))
                assert answered == ["the Danube"]
    finally:
        if server is not None:
            server.stop()


def test_a_cap_admits_a_turn_on_its_expected_cost_and_counts_what_it_really_cost(
        tmp_path: Path, fake_server: FakeServer) -> None:
    """The rule README's Budgets states: a turn is sent when its expected cost fits what is left,
    though its ceiling (its input and max_tokens at the output price) does not; an answer longer
    than expected costs what it costs, past the cap by at most that ceiling's excess; then the
    cap is reached and the next routed turn is refused."""
    home, n_in, n_out, each = _capped_home(tmp_path, fake_server, 1.5)
    long_out = n_out * 20  # the answer runs 20 times the expected length
    fake_server.script("gpt-4o-mini", Reply(text="the Danube", input_tokens=n_in, output_tokens=long_out))
    code, out, err = _finish(_ask(home, PROMPTS[0]))
    assert code == 0 and "the Danube" in out, err
    [sent] = fake_server.requests
    max_tokens = sent.body.get("max_completion_tokens") or sent.body["max_tokens"]
    price_in, price_out = 0.15e-6, 0.60e-6  # gpt-4o-mini's, per token
    cap, cost = each * 1.5, n_in * price_in + long_out * price_out
    assert n_in * price_in + max_tokens * price_out > cap, "the turn's ceiling fits the cap: nothing shown"
    assert cap < cost <= n_in * price_in + max_tokens * price_out
    assert "budget reached" in err, err  # the warning after the turn
    code, _, err = _finish(_ask(home, PROMPTS[1]))
    assert code == 2 and f"the daily budget cap is reached ({usd(cost)} spent of {usd(cap)})" in err, err


def test_a_turn_crowded_out_by_other_turns_reservations_says_what_they_held(
        chatroute_home: Path, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Every time this ask reserves, another process has just reserved all but half a turn of
    the cap (and ends its turn, free, right after), so its 5 tries are all lost. The refusal
    must give the figures that refused it: before, it read the budget again once the others had
    gone, '$0.00 spent of $0.00044, $0.00044 left', a turn refused with the cap unused."""
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    home, _, _, each = _capped_home(chatroute_home.parent, fake_server, 4)
    monkeypatch.setenv("CHATROUTE_HOME", str(home))
    reserve = ReservationQueries.reserve
    other = "elsewhere:4242:1"  # another machine's process: counted until it releases or expires

    def other_process(self: ReservationQueries, *sql: tuple[str, tuple[object, ...]]) -> None:
        with closing(sqlite3.connect(self.path)) as db, db:
            for statement, args in sql:
                db.execute(statement, args)

    def raced(self: ReservationQueries, cost_usd: float, **kw: Any) -> int | None:
        other_process(self, (reservations._TABLE, ()),
                      ("INSERT INTO budget_reservations (owner, cost_usd, created_at, expires_at)"
                       " VALUES (?, ?, '2000-01-01', '2999-01-01')", (other, each * 3.5)))
        try:
            return reserve(self, cost_usd, **kw)
        finally:
            other_process(self, ("DELETE FROM budget_reservations WHERE owner = ?", (other,)))

    monkeypatch.setattr(ReservationQueries, "reserve", raced)
    code, _, err = run_cli(capsys, "ask", "--no-cache", PROMPTS[0])
    assert code == 2 and not fake_server.requests, err
    held, cap, left = usd(each * 3.5), usd(each * 4), usd(each * 0.5)
    assert (f"this turn would exceed the daily budget ($0.00 spent and {held} reserved by turns in progress, "
            f"of {cap}; {left} left); add --over-budget") in err, err


# gpt-4o-mini's prices, per token (input, output).
MINI_PRICES = (0.15e-6, 0.60e-6)
# An answer limit well under these prompts' expected answer.
LIMIT = 20


def _limited_home(tmp_path: Path, fake: FakeServer, extra: str = "") -> tuple[Path, int, float]:
    """A home whose daily cap has room for one of these turns with an answer of LIMIT tokens,
    and not for one of the expected length. Returns the home, the input tokens and that cost."""
    home, n_in, n_out, each = _capped_home(tmp_path, fake, 1.5)
    limited = n_in * MINI_PRICES[0] + LIMIT * MINI_PRICES[1]
    assert n_out > LIMIT and limited * 1.5 < each, "the limit leaves the expected cost under the cap"
    write_config(home, fake, pool=["openai/gpt-4o-mini"],
                 extra=f"[budget]\ndaily_usd = {limited * 1.5:.12f}\n\n{extra}")
    return home, n_in, limited


def _served_with_limit(server: Any, wire: str) -> str:
    """A routed request to `server` on `wire` whose client limits the answer to LIMIT tokens."""
    messages = [{"role": "user", "content": PROMPTS[0]}]
    if wire == "messages max_tokens":
        import anthropic

        ant = anthropic.Anthropic(base_url=server.url.removesuffix("/v1"), api_key=server.token, max_retries=0,
                                  timeout=30)
        reply = ant.messages.create(model="chatroute/auto", max_tokens=LIMIT, messages=messages)  # type: ignore[arg-type]
        return "".join(getattr(block, "text", "") for block in reply.content)
    client = server.client()
    if wire == "responses max_output_tokens":
        return str(client.responses.create(model="chatroute/auto", input=PROMPTS[0], max_output_tokens=LIMIT)
                   .output_text)
    limit = {"max_tokens": LIMIT} if wire == "chat max_tokens" else {"max_completion_tokens": LIMIT}
    completion = client.chat.completions.create(model="chatroute/auto", messages=messages, **limit)
    return completion.choices[0].message.content or ""


@pytest.mark.parametrize("wire", ["chat max_tokens", "chat max_completion_tokens", "messages max_tokens",
                                  "responses max_output_tokens"])
def test_a_served_requests_own_answer_limit_bounds_its_expected_cost(
        tmp_path: Path, fake_server: FakeServer, wire: str) -> None:
    """A request whose client limits the answer to LIMIT tokens cannot cost more than its input
    and LIMIT tokens of answer: under a cap with room for that, it is sent. Before, its expected
    cost was the router's expected answer, whatever the client's limit, and the request was
    refused (429, 'this turn would exceed the daily budget')."""
    home, n_in, _ = _limited_home(tmp_path, fake_server)
    fake_server.script("gpt-4o-mini", Reply(text="the Danube", input_tokens=n_in, output_tokens=LIMIT))
    server = start_served(home, fake_server)
    try:
        try:
            text = _served_with_limit(server, wire)
        except Exception as exc:  # noqa: BLE001 - the refusal, said in the assertion
            pytest.fail(f"refused under a cap with room for its answer limit: {exc}")
        assert text == "the Danube"
        [sent] = fake_server.requests
        assert LIMIT in (sent.body.get("max_tokens"), sent.body.get("max_completion_tokens")), sent.body
    finally:
        server.stop()


def test_a_models_configured_output_limit_bounds_a_turns_expected_cost(
        tmp_path: Path, fake_server: FakeServer) -> None:
    """[models] max_output_tokens is sent as the request's max_tokens, so a turn on that model
    costs no more than its input and that many tokens of answer: under a cap with room for
    that, an ask is sent. Before, it was refused, exit 2, 'this turn would exceed the daily
    budget' (the expected answer priced past the model's limit)."""
    home, n_in, limited = _limited_home(
        tmp_path, fake_server, extra=f'[models."openai/gpt-4o-mini"]\nmax_output_tokens = {LIMIT}\n')
    # `route` shows the expected cost the cap is checked against.
    route = subprocess.run([sys.executable, "-m", "chatroute", "route", "--json", PROMPTS[0]], cwd=ROOT,
                           env=serve_env(home), capture_output=True, text=True, timeout=WAIT_S)
    assert route.returncode == 0, route.stderr
    [cand] = json.loads(route.stdout)["candidates"]
    assert cand["expected_cost_usd"] == pytest.approx(limited, rel=1e-6), cand
    fake_server.script("gpt-4o-mini", Reply(text="the Danube", input_tokens=n_in, output_tokens=LIMIT))
    code, out, err = _finish(_ask(home, PROMPTS[0]))
    assert code == 0 and "the Danube" in out, err
    [sent] = fake_server.requests
    assert LIMIT in (sent.body.get("max_tokens"), sent.body.get("max_completion_tokens")), sent.body


COMPARED = ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"]


def _compare(home: Path, prompt: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "chatroute", "compare", "-m", COMPARED[0], "-m", COMPARED[1],
                             prompt], cwd=ROOT, env=serve_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def test_a_compares_answers_are_reserved_while_they_stream(tmp_path: Path, fake_server: FakeServer) -> None:
    """A compare is never refused by a cap (its models are the user's), but each answer counts
    against it at its expected cost while it streams, as a turn on a model named with -m does:
    an ask beside it, under a cap with room for one turn, is refused. Before, the answers
    counted only once recorded, so the ask was sent too. Once they are recorded (here for
    little), what they cost is counted instead and the next ask is sent."""
    pricing = tmp_path / "pricing"
    pricing.mkdir()
    write_config(pricing, fake_server, pool=COMPARED)
    out = subprocess.run([sys.executable, "-m", "chatroute", "route", "--json", PROMPTS[0]], cwd=ROOT,
                         env=serve_env(pricing), capture_output=True, text=True, timeout=WAIT_S)
    assert out.returncode == 0, out.stderr
    cost = {c["model"]: float(c["expected_cost_usd"]) for c in json.loads(out.stdout)["candidates"]}
    home, n_in, n_out, each = _capped_home(tmp_path, fake_server, 1.5)
    assert cost[COMPARED[0]] == pytest.approx(each, rel=1e-9)
    release = threading.Event()
    for model in COMPARED:  # answers cheaper than expected: once recorded, they leave room for a turn
        fake_server.script(model.split("/")[1], Reply(text="the Danube", hold=release, input_tokens=n_in,
                                                      output_tokens=1))
    try:
        compare = _compare(home, PROMPTS[0])
        _until("both answers' requests", lambda: len(fake_server.requests) >= 2 or compare.poll() is not None)
        assert compare.poll() is None, compare.communicate()
        ask = _ask(home, PROMPTS[1])
        _until("the ask to be refused or sent", lambda: ask.poll() is not None or len(fake_server.requests) >= 3)
        sent = len(fake_server.requests)
        release.set()
        code, _, err = _finish(ask)
        code_c, out_c, err_c = _finish(compare)
    finally:
        release.set()
    assert sent == 2, f"an ask was sent beside a compare's answers under a cap with room for one turn: {err}"
    reserved = usd(cost[COMPARED[0]] + cost[COMPARED[1]])
    assert code == 2 and (f"the daily budget cap is reached ($0.00 spent and {reserved} reserved by turns in "
                          f"progress, of {usd(each * 1.5)})") in err, err
    assert code_c == 0 and out_c.count("the Danube") == 2, err_c
    fake_server.script("gpt-4o-mini", Reply(text="the Rhine", input_tokens=n_in, output_tokens=n_out))
    code, out, err = _finish(_ask(home, PROMPTS[2]))
    assert code == 0 and "the Rhine" in out, err


def test_a_compare_without_a_cap_reads_and_writes_no_reservation(
        configured: FakeServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def refused(*_: object, **__: object) -> None:
        raise AssertionError("a reservation was read or written with no cap configured")

    for name in ("reserve", "reserved_usd", "release_reservation"):
        monkeypatch.setattr(ReservationQueries, name, refused)
    code, out, err = run_cli(capsys, "compare", "-m", COMPARED[0], "-m", COMPARED[1], PROMPTS[0])
    assert code == 0 and "a reservation" not in err, err
    assert out.count("━━ ") == 2, out


# gpt-4o's prices, per token (input, output).
GPT4O_PRICES = (2.5e-6, 10e-6)


def test_a_fail_over_under_the_clients_answer_limit_reserves_the_next_model_at_that_limit(
        tmp_path: Path, fake_server: FakeServer) -> None:
    """A served request limits its answer to LIMIT tokens; its first model (gpt-4o-mini) answers
    500 and it fails over to gpt-4o. The move of its reservation must price gpt-4o with the
    answer capped at LIMIT, as the first decision priced gpt-4o-mini: the cap has room for that
    and not for gpt-4o (nor claude-haiku-4-5) at the predicted length, so a move priced at the
    predicted length would skip both for the budget and fail the request."""
    home = tmp_path / "limited-failover"
    home.mkdir()
    write_config(home, fake_server, pool=RANKED, extra=_RANKING)
    out = subprocess.run([sys.executable, "-m", "chatroute", "route", "--json", PROMPTS[0]], cwd=ROOT,
                         env=serve_env(home), capture_output=True, text=True, timeout=WAIT_S)
    assert out.returncode == 0, out.stderr
    decision = json.loads(out.stdout)
    n_in, n_out = decision["expected_input_tokens"], decision["expected_output_tokens"]
    cost = {c["model"]: float(c["expected_cost_usd"]) for c in decision["candidates"]}
    limited = n_in * GPT4O_PRICES[0] + LIMIT * GPT4O_PRICES[1]
    cap = limited * 1.5
    assert n_out > LIMIT and cost[RANKED[1]] > cap and cost[RANKED[2]] > cap, (cost, cap)
    write_config(home, fake_server, pool=RANKED, extra=_RANKING + f"\n[budget]\ndaily_usd = {cap:.12f}\n")
    release = threading.Event()
    fake_server.script("gpt-4o-mini", Fault(status=500))
    fake_server.script("gpt-4o", Reply(text="the Danube", hold=release, input_tokens=n_in, output_tokens=LIMIT))
    server = start_served(home, fake_server)
    answered: list[str] = []
    failed: list[BaseException] = []

    def request() -> None:
        try:
            answered.append(_served_with_limit(server, "chat max_tokens"))
        except Exception as exc:  # noqa: BLE001 - said in the assertion
            failed.append(exc)

    def reserved() -> list[float]:
        with closing(sqlite3.connect(home / "chatroute.db")) as db:
            return [r[0] for r in db.execute("SELECT cost_usd FROM budget_reservations")]

    try:
        threading.Thread(target=request, daemon=True).start()
        _until("the fail-over to gpt-4o", lambda: bool(fake_server.requests_for("gpt-4o")) or bool(failed))
        assert not failed, f"the fail-over was refused under a cap with room for its answer limit: {failed}"
        assert reserved() == [pytest.approx(limited, rel=1e-6)]
        release.set()
        _until("the served answer", lambda: bool(answered) or bool(failed))
        assert answered == ["the Danube"], failed
        assert [r.model for r in fake_server.requests] == ["gpt-4o-mini", "gpt-4o"]
        assert fake_server.requests[1].body.get("max_tokens") == LIMIT, fake_server.requests[1].body
    finally:
        release.set()
        server.stop()


# About 1,000 tokens of thinking on the OpenAI wire, then the connection drops before any text.
THOUGHT = " ".join(f"step {i}: weigh the next case of the argument with care." for i in range(80))


@pytest.mark.parametrize("by", ["ask", "serve"])
def test_an_attempt_billed_for_its_thinking_counts_in_its_fail_overs_budget_check(
        tmp_path: Path, fake_server: FakeServer, by: str) -> None:
    """gpt-4o-mini streams thinking, then its connection drops: that attempt is billed (X), and
    the turn fails over. Under a cap of gpt-4o's expected cost and X/2, gpt-4o no longer fits
    once X is counted, and claude-haiku-4-5 does. Before, X was written to the ledger only after
    the fail-over's decision and the move of its reservation were checked, so neither counted
    it: gpt-4o was sent and the spend passed the cap by what the check had missed."""
    measure = tmp_path / "measure"
    measure.mkdir()
    write_config(measure, fake_server, pool=RANKED, extra=_RANKING)
    out = subprocess.run([sys.executable, "-m", "chatroute", "route", "--json", PROMPTS[0]], cwd=ROOT,
                         env=serve_env(measure), capture_output=True, text=True, timeout=WAIT_S)
    assert out.returncode == 0, out.stderr
    cost = {c["model"]: float(c["expected_cost_usd"]) for c in json.loads(out.stdout)["candidates"]}
    fake_server.script("gpt-4o-mini", Drop(after_chunks=0, reasoning=THOUGHT))
    fake_server.script("gpt-4o", Reply(text="the Danube"))
    out = subprocess.run([sys.executable, "-m", "chatroute", "ask", "--json", "--no-cache", PROMPTS[0]], cwd=ROOT,
                         env=serve_env(measure), capture_output=True, text=True, timeout=WAIT_S)
    assert out.returncode == 0, out.stderr
    [reroute] = json.loads(out.stdout)["route"]["reroutes"]
    billed = float(reroute["cost_usd"])
    cap = cost[RANKED[1]] + billed / 2
    assert cost[RANKED[2]] + billed < cap, (cost, billed)  # room for claude-haiku-4-5 beside the attempt

    home = tmp_path / "capped"
    home.mkdir()
    write_config(home, fake_server, pool=RANKED, extra=_RANKING + f"\n[budget]\ndaily_usd = {cap:.12f}\n")
    fake_server.reset()
    release = threading.Event()
    fake_server.script("gpt-4o-mini", Drop(after_chunks=0, reasoning=THOUGHT))
    fake_server.script("gpt-4o", Reply(text="the Rhine"))
    fake_server.script("claude-haiku-4-5", Reply(text="the Danube", hold=release))
    server = start_served(home, fake_server) if by == "serve" else None
    answered: list[str] = []

    def request() -> None:
        assert server is not None
        reply = server.client().chat.completions.create(
            model="chatroute/auto", messages=[{"role": "user", "content": PROMPTS[0]}])
        answered.append(reply.choices[0].message.content or "")

    def reserved() -> list[float]:
        with closing(sqlite3.connect(home / "chatroute.db")) as db:
            return [r[0] for r in db.execute("SELECT cost_usd FROM budget_reservations")]

    try:
        if server is not None:
            threading.Thread(target=request, daemon=True).start()
        asked = _ask(home, PROMPTS[0]) if server is None else None
        _until("the fail-over's request", lambda: len(fake_server.requests) >= 2 or (
            asked is not None and asked.poll() is not None))
        # The attempt's cost is in the ledger now, and out of the reservation: counted once.
        held = reserved()
        release.set()
        if asked is not None:
            code, out_text, err = _finish(asked)
            assert code == 0 and "the Danube" in out_text, err
            assert "→ claude-haiku-4-5; skipped gpt-4o: would exceed the budget" in err, err
        else:
            _until("the served answer", lambda: bool(answered))
            assert answered == ["the Danube"]
    finally:
        release.set()
        if server is not None:
            server.stop()
    assert held == [pytest.approx(cost[RANKED[2]], rel=1e-6)], (held, cost)
    assert [r.model for r in fake_server.requests] == ["gpt-4o-mini", "claude-haiku-4-5"]
    with closing(sqlite3.connect(home / "chatroute.db")) as db:
        costs = sorted(r[0] for r in db.execute("SELECT cost_usd FROM turns"))
        left = list(db.execute("SELECT cost_usd FROM budget_reservations"))
    assert len(costs) == 2 and billed in [pytest.approx(c, rel=0.05) for c in costs], (costs, billed)
    assert left == []


def _messages(home: Path) -> list[tuple[str, str, str]]:
    with closing(sqlite3.connect(home / "chatroute.db")) as db:
        return list(db.execute("SELECT role, status, content FROM messages ORDER BY created_at, role DESC"))


@pytest.mark.parametrize("status_write", ["fits", "fails too"])
def test_a_compare_answer_whose_reservation_cannot_be_written_ends_failed_and_is_not_sent(
        chatroute_home: Path, configured: FakeServer, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], status_write: str) -> None:
    """Under a cap each compare answer reserves its expected cost before its request; when that
    write fails (the database full since the question was stored), the answer is not sent
    (nothing could hold or record its cost) and ends failed, saying why. Before, the write's
    error ended the whole compare and left both answers stored as 'streaming' until the next
    start marked them interrupted. When even the answer's status cannot be written, the line
    says so, and the next start settles it as before."""
    write_config(chatroute_home, configured, pool=COMPARED, extra="[budget]\ndaily_usd = 5.0\n")

    def full(*_: object, **__: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(ReservationQueries, "reserve", full)
    if status_write == "fails too":
        from chatroute.store import Store

        monkeypatch.setattr(Store, "finish_turn", full)
    code, _, err = run_cli(capsys, "compare", "-m", COMPARED[0], "-m", COMPARED[1], PROMPTS[0])
    assert code == 1, err
    assert not configured.requests, "an answer was sent with no reservation under a cap"
    for model in ("gpt-4o-mini", "claude-haiku-4-5"):
        assert (f"{model}: not sent: its expected cost could not be reserved against the budget cap "
                f"({chatroute_home / 'chatroute.db'}: database or disk is full)") in err, err
    stored = _messages(chatroute_home)
    assert stored[0] == ("user", "complete", PROMPTS[0]), stored  # the question is kept
    answers = {status for role, status, _ in stored if role == "assistant"}
    if status_write == "fits":
        assert answers == {"error"}, stored
    else:
        assert answers == {"streaming"}, stored
        assert err.count("its status could not be written either; the next start marks it interrupted") == 2, err
