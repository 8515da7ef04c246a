"""Issue 12, defects 3 to 7: every figure of a turn is right, against the fake provider's known
usage and timing, through the real SDKs.

3. a request that failed before anything was billed costs $0 (known), is not a turn in
   `costs`, and is shown as a failure, on the routed, pinned and compare paths alike;
4. a stopped Anthropic stream is priced from the usage message_start already reported;
5. `input` is every prompt token sent for every provider (Anthropic: input + cache reads +
   cache writes), `cached` a part of it; stored turns are restated by schema migration 4;
6. compare times each stream from its own request;
7. the time to first token runs from the request leaving, not from chatroute's own set-up.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

import chatroute.providers.anthropic as anthropic_adapter
import chatroute.providers.factory as factory
import chatroute.providers.openai as openai_adapter
from chatroute.catalog import Catalog
from chatroute.config import load_config
from chatroute.engine import Engine
from chatroute.paths import resolve_paths
from chatroute.providers.base import UsageReport
from chatroute.store import Store
from chatroute.store.records import TurnRecord
from chatroute.turn_events import Delta, TurnFinished, TurnStarted
from tests.engine.helpers import ask_json, run_cli
from tests.fakeserver import FakeServer, Fault, Reply

MINI, GPT4O, HAIKU = "openai/gpt-4o-mini", "openai/gpt-4o", "anthropic/claude-haiku-4-5"


def _info(model: str) -> Any:
    paths = resolve_paths()
    return Catalog.build(load_config(paths), paths).get(model)


def _costs(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code, out, err = run_cli(capsys, "costs", "--format", "json", "--by", "model")
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


# ------------------------------------------------------------------ 3: failures cost $0


def _one_paid_turn(capsys: pytest.CaptureFixture[str], server: FakeServer) -> dict[str, Any]:
    server.script("gpt-4o-mini", Reply(text="fine", input_tokens=40, output_tokens=2))
    code, out = ask_json(capsys, "--no-cache", "-m", MINI, "a question that works")
    assert code == 0 and out["status"] == "ok"
    return out


def _assert_failures_not_counted(capsys: pytest.CaptureFixture[str], paid: list[dict[str, Any]]) -> None:
    report = _costs(capsys)
    everything = report["periods"]["all"]
    assert everything["turns"] == len(paid)
    assert everything["unknown_cost_turns"] == 0
    assert everything["cost_usd"] == pytest.approx(sum(p["cost_usd"] for p in paid))
    assert all(r["turns"] > 0 and r["unknown_cost_turns"] == 0 for r in report["rows"])
    code, table, err = run_cli(capsys, "costs")
    assert code == 0, err
    assert "n/a" not in table


def test_pinned_429_costs_nothing_and_is_not_a_turn(capsys: pytest.CaptureFixture[str], configured: FakeServer,
                                                    chatroute_home: Path) -> None:
    paid = _one_paid_turn(capsys, configured)
    configured.script("gpt-4o", Fault(status=429, retry_after=3))
    code, out = ask_json(capsys, "--no-cache", "-m", GPT4O, "a question that is rate limited")
    assert code == 1
    assert out["status"] == "error" and "429" in out["error"] and "rate limited" in out["error"]
    assert out["cost_usd"] == 0.0 and out["tokens"]["input"] == 0 and out["tokens"]["output"] == 0
    # Stored as a failure, with a known cost of $0, for the badge after a restart.
    with Store.open(chatroute_home / "chatroute.db") as store:
        [failed] = [t for t in store.recent_turns() if t.model == GPT4O]
    assert (failed.status, failed.cost_usd) == ("error", 0.0) and "429" in (failed.error or "")
    _assert_failures_not_counted(capsys, [paid])


def test_compare_429_costs_nothing_and_is_not_a_turn(capsys: pytest.CaptureFixture[str],
                                                     configured: FakeServer) -> None:
    configured.script("gpt-4o-mini", Reply(text="mini says hi", input_tokens=20, output_tokens=3))
    configured.script("gpt-4o", Fault(status=429))
    code, out, err = run_cli(capsys, "compare", "-m", MINI, "-m", GPT4O, "--json", "Say hi")
    assert code == 0, err
    by = {r["model"]: r for r in json.loads(out)}
    assert by[GPT4O]["status"] == "error" and by[GPT4O]["cost_usd"] == 0.0 and "429" in by[GPT4O]["error"]
    _assert_failures_not_counted(capsys, [by[MINI]])


def test_routed_turn_that_fails_everywhere_costs_nothing(capsys: pytest.CaptureFixture[str],
                                                         configured: FakeServer) -> None:
    paid = _one_paid_turn(capsys, configured)
    for model in ("gpt-4o-mini", "gpt-4o", "claude-haiku-4-5"):
        configured.script(model, Fault(status=429))
    code, out = ask_json(capsys, "--no-cache", "hello there")
    assert code == 1 and out["status"] == "error" and out["cost_usd"] == 0.0
    assert len(configured.requests) == 1 + 3  # every model was tried
    _assert_failures_not_counted(capsys, [paid])


def test_rerouted_429_counts_one_turn(capsys: pytest.CaptureFixture[str], configured: FakeServer) -> None:
    code, decided, _ = run_cli(capsys, "route", "--json", "hello there")
    first = json.loads(decided)["model"].split("/", 1)[1]
    configured.script(first, Fault(status=429))
    code, out = ask_json(capsys, "--no-cache", "hello there")
    assert code == 0 and out["status"] == "ok" and out["cost_usd"] > 0
    _assert_failures_not_counted(capsys, [out])


# ------------------------------------------------------------------ 4: stopped Anthropic streams


async def _stop_haiku(*, deltas: int) -> str:
    """Ask HAIKU (pinned by override), stop the turn the way Esc / Ctrl+C does after `deltas`
    text deltas (0: while waiting for the first token). Returns the assistant message id."""
    engine = Engine.open()
    ids: dict[str, str] = {}
    reported, enough = asyncio.Event(), asyncio.Event()
    seen: list[str] = []
    read = anthropic_adapter._StreamState.feed

    def feed(state: Any, raw: Any) -> Any:
        # message_start read: its usage is what a stop before the first token is priced from.
        events = read(state, raw)
        if any(isinstance(e, UsageReport) for e in events):
            reported.set()
        return events

    async def consume() -> None:
        async for event in engine.run_turn(None, f"@{HAIKU} tell me a long story", use_cache=False):
            if isinstance(event, TurnStarted):
                ids["message"] = event.assistant_message_id
            elif isinstance(event, Delta):
                seen.append(event.text)
                if len(seen) >= deltas:
                    enough.set()
            elif isinstance(event, TurnFinished):
                raise AssertionError("an endless stream finished")

    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(anthropic_adapter._StreamState, "feed", feed)
            task = asyncio.create_task(consume())
            # message_start read, not a sleep after Routed: Routed comes before the request is
            # sent, and on a loaded machine the stop came before message_start.
            await asyncio.wait_for((enough if deltas else reported).wait(), 20)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    finally:
        await engine.aclose()
        engine.store.close()
    return ids["message"]


@pytest.mark.parametrize("deltas", [5, 0])
def test_stopped_anthropic_stream_uses_the_reported_usage(deltas: int, configured: FakeServer,
                                                          chatroute_home: Path) -> None:
    configured.script("claude-haiku-4-5", Reply(endless=True, tokens_per_s=50, ttft=0 if deltas else 30,
                                                input_tokens=1000, cached_tokens=200))
    message_id = asyncio.run(_stop_haiku(deltas=deltas))
    with Store.open(chatroute_home / "chatroute.db") as store:
        record = store.turn_for_message(message_id)
    assert record is not None and record.status == "interrupted"
    # The server's counts, not a tokenizer's estimate of the short prompt.
    assert (record.input_tokens, record.cached_tokens) == (1200, 200)
    info = _info(HAIKU)
    floor = (1000 * info.input_cost_per_mtok + 200 * info.cached_input_cost_per_mtok) / 1e6
    assert record.cost_usd is not None and record.cost_usd >= floor
    assert record.cost_usd == pytest.approx(floor + record.output_tokens * info.output_cost_per_mtok / 1e6)


# ------------------------------------------------------------------ 5: one footing for token counts


@pytest.mark.parametrize("model", [MINI, HAIKU])
def test_input_is_every_prompt_token_for_every_provider(model: str, capsys: pytest.CaptureFixture[str],
                                                        configured: FakeServer) -> None:
    """The same request (1,200 prompt tokens, 200 of them cache reads) reads the same everywhere;
    each wire reports it its own way, and the cost stays what the provider bills."""
    if model == MINI:
        step = Reply(text="ok", input_tokens=1200, output_tokens=300, cached_tokens=200)
    else:
        step = Reply(text="ok", input_tokens=1000, output_tokens=300, cached_tokens=200)
    configured.script(model.split("/", 1)[1], step)
    code, out = ask_json(capsys, "--no-cache", "-m", model, "the same request")
    assert code == 0
    assert out["tokens"]["input"] == 1200 and out["tokens"]["cached"] == 200 and out["tokens"]["output"] == 300
    info = _info(model)
    expected = (1000 * info.input_cost_per_mtok + 200 * info.cached_input_cost_per_mtok
                + 300 * info.output_cost_per_mtok) / 1e6
    assert out["cost_usd"] == pytest.approx(expected)


def test_anthropic_cache_writes_are_part_of_input(capsys: pytest.CaptureFixture[str],
                                                  configured: FakeServer) -> None:
    configured.script("claude-haiku-4-5", Reply(text="ok", input_tokens=100, output_tokens=10, cached_tokens=0,
                                                cache_write_tokens=900))
    code, out = ask_json(capsys, "--no-cache", "-m", HAIKU, "write the cache")
    assert code == 0 and out["tokens"]["input"] == 1000 and out["tokens"]["cache_write"] == 900
    info = _info(HAIKU)
    expected = (100 * info.input_cost_per_mtok + 900 * info.cache_write_cost_per_mtok
                + 10 * info.output_cost_per_mtok) / 1e6
    assert out["cost_usd"] == pytest.approx(expected)


def test_the_baseline_prices_cache_writes_as_the_turn_does(capsys: pytest.CaptureFixture[str],
                                                           configured: FakeServer) -> None:
    """Every turn went to the baseline model, so the baseline is what was paid and routing saved
    nothing. The baseline priced cache writes at the plain input rate: a saving of −$0.000075
    here, and 'Routing cost … more than always using claude-haiku-4-5 would have'."""
    configured.script("claude-haiku-4-5", Reply(text="ok", input_tokens=1000, output_tokens=500, cached_tokens=200,
                                                cache_write_tokens=300))
    code, out = ask_json(capsys, "--no-cache", "-m", HAIKU, "write the cache")
    assert code == 0 and out["tokens"]["cache_write"] == 300
    for days in ("rollup", "turns"):  # a day whose costs are all known reads the rollup; else the turns
        if days == "turns":
            configured.script("claude-haiku-4-5", Reply(text="ok", input_tokens=10, output_tokens=5,
                                                        cache_write_tokens=30))
            ask_json(capsys, "--no-cache", "-m", HAIKU, "another")
            with Store.open() as store:  # a turn of that day and model with no known price
                conv = store.create_conversation("unpriced")
                store.add_turn(TurnRecord(conversation_id=conv.id, message_id=None, model=HAIKU,
                                          provider="anthropic", input_tokens=5, output_tokens=5, cost_usd=None))
        code, text, err = run_cli(capsys, "costs", "--baseline", HAIKU, "--format", "json")
        assert code == 0, err
        everything = json.loads(text)["periods"]["all"]
        assert everything["baseline_cost_usd"] == pytest.approx(everything["cost_usd"])
        assert everything["routing_saved_usd"] == pytest.approx(0.0, abs=1e-12)


def test_migration_4_restates_stored_turns(chatroute_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import chatroute.store.db as db

    path = chatroute_home / "chatroute.db"
    with monkeypatch.context() as m:
        m.setattr(db, "SCHEMA_VERSION", 3)  # a database written before this release
        m.setattr(db, "MIGRATIONS", db.MIGRATIONS[:3])
        with Store.open(path) as old:
            conv = old.create_conversation("old")
            for provider, model, status, n_in, cached, writes, cost in [
                ("anthropic", "anthropic/claude-haiku-4-5", "ok", 1000, 200, 50, 0.0012),
                ("proxy", "proxy/claude-sonnet", "ok", 10, 5, 0, 0.0001),  # an Anthropic-kind provider
                ("openai", "openai/gpt-4o-mini", "ok", 1200, 200, 0, 0.0002),
                ("openai", "openai/gpt-4o", "error", 0, 0, 0, None),  # a 429 stored as "n/a"
            ]:
                row = TurnRecord(conversation_id=conv.id, message_id=None, model=model, provider=provider,
                                 status=status, input_tokens=n_in, cached_tokens=cached,
                                 cache_write_tokens=writes, output_tokens=5 if status == "ok" else 0,
                                 cost_usd=cost).to_row()
                row.pop("client")  # a column of a later schema (5)
                row.pop("price_source")  # and of schema 9
                sql = f"INSERT INTO turns ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})"
                old._write(lambda c, sql=sql, row=row: c.execute(sql, tuple(row.values())))
            # What that version summed (read from its rollup: this version's queries need schema 8).
            assert old.conn.execute("SELECT SUM(turns), SUM(turns) - SUM(cost_known) FROM spend_day_model"
                                    ).fetchone() == (4, 1)
    with Store.open(path, anthropic_providers=["proxy"]) as new:
        assert new.schema_version() == db.SCHEMA_VERSION >= 4
        turns = {t.model: t for t in new.turns(conv.id)}
        assert turns["anthropic/claude-haiku-4-5"].input_tokens == 1250
        assert turns["proxy/claude-sonnet"].input_tokens == 15
        assert turns["openai/gpt-4o-mini"].input_tokens == 1200  # already on this footing
        assert turns["openai/gpt-4o"].cost_usd == 0.0
        for use_rollup in (True, False):
            totals = new.spend_totals() if use_rollup else new._read(
                lambda c: __import__("chatroute.store.spend", fromlist=["totals"]).totals(c, None, None, 0,
                                                                                          use_rollup=False))
            assert totals.turns == 3 and totals.unknown_cost_turns == 0
            assert totals.input_tokens == 1250 + 15 + 1200
            assert totals.cost_usd == pytest.approx(0.0015)
        # The rollups keep following inserts: a new failure is not a turn, a new paid turn is.
        new.add_turn(TurnRecord(conversation_id=conv.id, message_id=None, model="openai/gpt-4o", provider="openai",
                                status="error", cost_usd=0.0))
        new.add_turn(TurnRecord(conversation_id=conv.id, message_id=None, model="openai/gpt-4o", provider="openai",
                                input_tokens=7, output_tokens=1, cost_usd=0.5))
        assert new.spend_totals().turns == 4
        by_model = {r.key: r for r in new.spend(by="model")}
        assert by_model["openai/gpt-4o"].turns == 1 and by_model["openai/gpt-4o"].cost_usd == pytest.approx(0.5)


@pytest.mark.parametrize("first", [["cache", "stats"], ["prefs", "show"], ["models"], ["costs"]])
def test_migration_4_restates_whichever_command_opens_the_store_first(
        first: list[str], capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The restatement needs the config's Anthropic-kind provider names; a command that opened
    the store without them upgraded the file with those turns left as they were, for good."""
    import chatroute.store.db as db

    config = chatroute_home / "config.toml"
    config.write_text(config.read_text(encoding="utf-8") + f"""
[providers.proxy]
kind = "anthropic"
base_url = "{configured.anthropic_base_url}"
api_key_env = "TEST_ANTHROPIC_KEY"
""", encoding="utf-8")
    path = chatroute_home / "chatroute.db"
    with monkeypatch.context() as m:
        m.setattr(db, "SCHEMA_VERSION", 3)  # a database written before this release
        m.setattr(db, "MIGRATIONS", db.MIGRATIONS[:3])
        with Store.open(path) as old:
            conv = old.create_conversation("old")
            row = TurnRecord(conversation_id=conv.id, message_id=None, model="proxy/claude-sonnet", provider="proxy",
                             input_tokens=10, cached_tokens=5000, output_tokens=5, cost_usd=0.0016).to_row()
            row.pop("client")  # a column of a later schema (5)
            row.pop("price_source")  # and of schema 9
            sql = f"INSERT INTO turns ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})"
            old._write(lambda c: c.execute(sql, tuple(row.values())))

    monkeypatch.setenv("CHATROUTE_NO_DISCOVERY", "1")
    code, _, err = run_cli(capsys, *first)
    assert code == 0, err
    with Store.open(path) as new:
        assert new.schema_version() == db.SCHEMA_VERSION
        [turn] = new.turns(conv.id)
        assert turn.input_tokens == 5010  # the cache reads are part of the input now
    report = json.loads(run_cli(capsys, "costs", "--format", "json")[1])
    assert report["periods"]["all"]["input_tokens"] == 5010


# ------------------------------------------------------------------ 6 and 7: timings

SLOW_SETUP_S = 2.0  # a cold SDK import or client set-up on a loaded machine
# The client's own share of a first token beyond the server's: reading the stream, parsing the
# chunk, a loaded machine's scheduling. Three quarters of the set-up these tests guard against, so
# a set-up counted in the figure still fails them, while a machine busy with other tests (where
# half a 1 s set-up was once exceeded) does not.
CLIENT_SLACK_MS = SLOW_SETUP_S * 1000 * 3 / 4


def _server_ttft_ms(server: FakeServer, model: str) -> float:
    [req] = server.requests_for(model)
    assert req.first_text_at is not None
    return (req.first_text_at - req.received_at) * 1000


def test_compare_times_each_stream_from_its_own_request(configured: FakeServer, chatroute_home: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The Anthropic adapter's set-up is slow (as a cold SDK import is): it must not show up in
    the other model's time to first token, whichever order the models come in."""
    real = factory.make_provider

    def slow_make(cfg: Any) -> Any:
        if cfg.kind == "anthropic":
            time.sleep(SLOW_SETUP_S)
        return real(cfg)

    monkeypatch.setattr(factory, "make_provider", slow_make)
    import chatroute.providers as providers

    monkeypatch.setattr(providers, "make_provider", slow_make)
    for model in ("gpt-4o-mini", "claude-haiku-4-5"):
        configured.script(model, Reply(text="first token after 300 ms", ttft=0.3))

    async def run() -> dict[str, TurnRecord]:
        engine = Engine.open()
        try:
            streams = engine.compare(None, "Say hi", [MINI, HAIKU])
            records: dict[str, TurnRecord] = {}

            async def drain(model: str, stream: Any) -> None:
                async for event in stream:
                    if isinstance(event, TurnFinished):
                        records[model] = event.record

            await asyncio.gather(*(drain(m, s) for m, s in streams.items()))
            return records
        finally:
            await engine.aclose()
            engine.store.close()

    records = asyncio.run(run())
    for model in (MINI, HAIKU):
        server = _server_ttft_ms(configured, model.split("/", 1)[1])
        ttft = records[model].ttft_ms
        assert ttft is not None and server - 5 <= ttft < server + CLIENT_SLACK_MS, (model, ttft, server)


def test_ttft_runs_from_the_request_not_from_client_setup(capsys: pytest.CaptureFixture[str],
                                                          configured: FakeServer,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A slow SDK client set-up (the badge said 186-198 ms for a 50 ms first token) is not the
    provider's latency: neither the badge nor the router's health board may count it."""
    for module, client, model in ((openai_adapter, "AsyncOpenAI", MINI),
                                  (anthropic_adapter, "AsyncAnthropic", HAIKU)):  # each made before the clock starts
        real = getattr(module, client)

        class SlowClient(real):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                time.sleep(SLOW_SETUP_S)
                super().__init__(*args, **kwargs)

        monkeypatch.setattr(module, client, SlowClient)
        name = model.split("/", 1)[1]
        configured.script(name, Reply(text="a quick first token", ttft=0.05))
        code, out = ask_json(capsys, "--no-cache", "-m", model, "how fast?")
        assert code == 0
        server = _server_ttft_ms(configured, name)
        assert server - 5 <= out["latency"]["ttft_ms"] < server + CLIENT_SLACK_MS, model
        if module is openai_adapter:  # the router's latency estimate is fed the same figure
            from chatroute.routing.health import HealthBoard

            board = HealthBoard.load(resolve_paths().data_dir / "health.json")
            ttft_s = board.models[MINI].ttft_s
            assert ttft_s is not None and ttft_s * 1000 < server + CLIENT_SLACK_MS


def test_json_money_has_no_float_noise(capsys: pytest.CaptureFixture[str], configured: FakeServer) -> None:
    """A float sum written as 0.006815000000000001 or 0.00014999999999999996 reads as a bug in the
    money; the JSON carries the figure itself."""
    import re

    configured.script("gpt-4o-mini", Reply(text="ok", input_tokens=1000, output_tokens=500, cached_tokens=200))
    code, out = ask_json(capsys, "--no-cache", "-m", "openai/gpt-4o-mini", "price me")
    assert code == 0
    code, text, err = run_cli(capsys, "costs", "--baseline", "openai/gpt-4o", "--format", "json")
    assert code == 0, err
    noisy = re.findall(r"\d+\.\d*(?:0{7,}[1-9]\d*|9{7,}\d*)", text)
    assert not noisy, noisy
    saved = json.loads(text)["periods"]["all"]["routing_saved_usd"]
    assert saved == pytest.approx(0.00725 - out["cost_usd"]) and len(repr(saved)) <= 17
