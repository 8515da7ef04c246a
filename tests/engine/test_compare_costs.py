"""Compare mode, cost accounting, budgets and learned preferences, through the CLI.

Turns run in-process through `main()` against the fake provider server with scripted usage,
so every dollar figure can be recomputed by hand from the catalogue's prices.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chatroute.catalog import Catalog
from chatroute.config import load_config
from chatroute.engine import Engine
from chatroute.money import usd
from chatroute.paths import resolve_paths
from chatroute.store import Store
from tests.engine.helpers import ask_json, pick_compare_answer, run_cli, write_config
from tests.fakeserver import Drop, FakeServer, Fault, Reply

pytestmark = pytest.mark.usefixtures("configured")

MINI, GPT4O, HAIKU = "openai/gpt-4o-mini", "openai/gpt-4o", "anthropic/claude-haiku-4-5"


def _json_objects(text: str) -> list[dict[str, Any]]:
    """`compare --json` prints one JSON document: a list with an object per model."""
    doc = json.loads(text)
    assert isinstance(doc, list)
    return doc


def _info(model: str) -> Any:
    paths = resolve_paths()
    return Catalog.build(load_config(paths), paths).get(model)


def _costs(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code, out, err = run_cli(capsys, "costs", "--format", "json", *args)
    assert code == 0, err
    return json.loads(out)


# ----------------------------------------------------------------------------- compare


def _compare_with_failure(capsys: pytest.CaptureFixture[str], server: FakeServer) -> list[dict[str, Any]]:
    server.script("gpt-4o-mini", Reply(text="mini says hi", input_tokens=20, output_tokens=3))
    server.script("gpt-4o", Fault(status=500))
    server.script("claude-haiku-4-5", Reply(text="haiku says hi", input_tokens=22, output_tokens=3))
    code, out, err = run_cli(capsys, "compare", "-m", MINI, "-m", GPT4O, "-m", HAIKU, "--json", "Say hi")
    assert code == 0, err
    results = _json_objects(out)
    assert [r["model"] for r in results] == [MINI, GPT4O, HAIKU]
    return results


def test_compare_one_failing_model_does_not_block_the_others(capsys: pytest.CaptureFixture[str],
                                                              configured: FakeServer,
                                                              chatroute_home: Path) -> None:
    results = _compare_with_failure(capsys, configured)
    by = {r["model"]: r for r in results}
    assert by[MINI]["status"] == "ok" and by[MINI]["text"] == "mini says hi"
    assert by[HAIKU]["status"] == "ok" and by[HAIKU]["text"] == "haiku says hi"
    assert by[GPT4O]["status"] == "error" and "500" in by[GPT4O]["error"] and not by[GPT4O]["text"]
    assert by[MINI]["cost_usd"] > 0 and by[HAIKU]["cost_usd"] > 0
    assert by[MINI]["tokens"]["input"] == 20 and by[HAIKU]["tokens"]["input"] == 22
    # One request per model; the failure was not rerouted to another model.
    assert sorted(r.model for r in configured.requests) == ["claude-haiku-4-5", "gpt-4o", "gpt-4o-mini"]
    # Each object has the keys of `ask --json`, as the README says (it lacked route, cache,
    # saved_usd, price_as_of, finish_reason and turn_id).
    code, asked = ask_json(capsys, "--no-cache", "-m", MINI, "Say hi")
    for r in results:
        assert set(r) == set(asked), set(asked) ^ set(r)
        assert set(r["latency"]) == set(asked["latency"]) and r["route"]["kind"] == "compare"
    assert by[MINI]["turn_id"] and by[MINI]["price_as_of"] and by[MINI]["finish_reason"] == "stop"
    # All three answers are siblings under one user message of one conversation.
    assert len({r["conversation_id"] for r in results}) == 1
    store = Store.open(chatroute_home / "chatroute.db")
    try:
        sibs = store.siblings(by[MINI]["message_id"])
        assert [m.id for m in sibs] == [r["message_id"] for r in results]
        parents = {m.parent_id for m in sibs}
        assert len(parents) == 1
        user = store.get_message(parents.pop())
        assert user is not None and user.role == "user" and user.content == "Say hi"
        assert [m.status for m in sibs] == ["complete", "error", "complete"]
        # The first is shown until the user picks.
        assert [m.active for m in sibs] == [True, False, False]
    finally:
        store.close()


def test_compare_pick_continues_from_the_picked_answer(capsys: pytest.CaptureFixture[str],
                                                       configured: FakeServer, chatroute_home: Path) -> None:
    results = _compare_with_failure(capsys, configured)
    conv = results[0]["conversation_id"]
    picked = next(r for r in results if r["model"] == HAIKU)

    engine = Engine.open()
    try:
        engine.pick_compare(conv, picked["message_id"])
        history = engine.store.history(conv)
        assert [m.role for m in history] == ["user", "assistant"]
        assert history[-1].id == picked["message_id"] and history[-1].content == "haiku says hi"
        prefs = engine.store.preferences(kind="compare_pick")
        assert len(prefs) == 1
        assert prefs[0].chosen_model == HAIKU
        assert prefs[0].rejected_models == [MINI]  # GPT-4o's column failed: nothing of it was judged
        assert prefs[0].conversation_id == conv and prefs[0].message_id == picked["message_id"]
        assert prefs[0].prompt == "Say hi"
    finally:
        engine.store.close()

    configured.script("gpt-4o-mini", Reply(text="You said hi."))
    code, out = ask_json(capsys, "-m", MINI, "-c", conv, "What did you say?")
    assert code == 0 and out["conversation_id"] == conv
    sent = configured.requests[-1].messages
    assert [(m["role"], m["content"]) for m in sent] == [
        ("user", "Say hi"), ("assistant", "haiku says hi"), ("user", "What did you say?")]

    # The other answers stay browsable: showing another sibling changes the branch.
    store = Store.open(chatroute_home / "chatroute.db")
    try:
        mini = next(r for r in results if r["model"] == MINI)
        store.set_active(mini["message_id"])
        assert [m.content for m in store.history(conv)] == ["Say hi", "mini says hi"]
        store.set_active(picked["message_id"])
        assert [m.content for m in store.history(conv)][-1] == "You said hi."
    finally:
        store.close()


def test_compare_needs_two_to_four_distinct_models(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "compare", "-m", MINI, "--json", "hi")
    assert code == 2 and "2 to 4" in err and err.count("\n") == 1
    code, out, err = run_cli(capsys, "compare", "-m", MINI, "-m", "gpt-4o-mini", "hi")
    assert code == 2 and "distinct" in err


# ------------------------------------------------------------------------------- costs

# (model, prompt, input, output, cached): OpenAI's input includes its cached tokens,
# Anthropic's does not (cache reads are billed on top).
TURNS = [
    (MINI, "first question", 1000, 200, 400),
    (MINI, "second question", 500, 100, 0),
    (HAIKU, "third question", 300, 80, 1000),
]


def _run_turns(capsys: pytest.CaptureFixture[str], server: FakeServer,
               turns: list[tuple[str, str, int, int, int]]) -> list[dict[str, Any]]:
    outs = []
    for model, prompt, n_in, n_out, n_cached in turns:
        server.script(model.split("/", 1)[1], Reply(text=f"answer: {prompt}", input_tokens=n_in,
                                                    output_tokens=n_out, cached_tokens=n_cached))
        code, out = ask_json(capsys, "--no-cache", "-m", model, prompt)
        assert code == 0 and out["model"] == model
        outs.append(out)
    return outs


def _actual(model: str, n_in: int, n_out: int, n_cached: int) -> float:
    info = _info(model)
    uncached = n_in - n_cached if model.startswith("openai/") else n_in
    return (uncached * info.input_cost_per_mtok + n_cached * info.cached_input_cost_per_mtok
            + n_out * info.output_cost_per_mtok) / 1e6


def _on_baseline(baseline: str, model: str, n_in: int, n_out: int, n_cached: int) -> float:
    """The same tokens priced on `baseline`: total prompt tokens, of which `n_cached` were cache reads."""
    b = _info(baseline)
    prompt = n_in if model.startswith("openai/") else n_in + n_cached
    return ((prompt - n_cached) * b.input_cost_per_mtok + n_cached * b.cached_input_cost_per_mtok
            + n_out * b.output_cost_per_mtok) / 1e6


def test_costs_by_model_equal_hand_computed_sums(capsys: pytest.CaptureFixture[str],
                                                 configured: FakeServer) -> None:
    outs = _run_turns(capsys, configured, TURNS)
    for out, (model, _, n_in, n_out, n_cached) in zip(outs, TURNS, strict=True):
        assert out["cost_usd"] == pytest.approx(_actual(model, n_in, n_out, n_cached))

    report = _costs(capsys, "--by", "model", "--baseline", GPT4O)
    assert report["by"] == "model" and report["baseline_model"] == GPT4O and report["baseline_price_known"]
    rows = {r["key"]: r for r in report["rows"]}
    assert set(rows) == {MINI, HAIKU}
    for model in (MINI, HAIKU):
        mine = [t for t in TURNS if t[0] == model]
        row = rows[model]
        assert row["turns"] == len(mine)
        # Every prompt token sent: Anthropic's cache reads are added to its input (issue 12).
        assert row["input_tokens"] == sum(t[2] + (t[4] if t[0] == HAIKU else 0) for t in mine)
        assert row["output_tokens"] == sum(t[3] for t in mine)
        assert row["cached_tokens"] == sum(t[4] for t in mine)
        assert row["cost_usd"] == pytest.approx(sum(_actual(t[0], *t[2:]) for t in mine))
        assert row["unknown_cost_turns"] == 0

    actual = sum(_actual(t[0], *t[2:]) for t in TURNS)
    baseline = sum(_on_baseline(GPT4O, t[0], *t[2:]) for t in TURNS)
    for summary in (report["selected"], report["periods"]["all"], report["periods"]["today"]):
        assert summary["turns"] == 3
        assert summary["input_tokens"] == 2800 and summary["output_tokens"] == 380
        assert summary["cached_tokens"] == 1400
        assert summary["cost_usd"] == pytest.approx(actual)
        assert summary["baseline_cost_usd"] == pytest.approx(baseline)
        assert summary["routing_saved_usd"] == pytest.approx(baseline - actual)
        # Every turn's model was named with -m: the saving is the user's, not the router's.
        assert summary["chosen_saved_usd"] == pytest.approx(baseline - actual) and summary["chosen_turns"] == 3
        assert summary["routed_saved_usd"] == 0 and summary["routed_turns"] == 0
        assert summary["cache_saved_usd"] == 0 and summary["cache_hits"] == 0
    assert baseline > actual
    assert report["verdict"] == (f"No turn was routed. The 3 turns whose model you chose (pins, overrides, compare) "
                                 f"saved {usd(baseline - actual)} against gpt-4o.")
    day = [d for d in report["daily"] if d["cost_usd"]]
    assert len(day) == 1 and day[0]["cost_usd"] == pytest.approx(actual)


def test_dearer_than_the_baseline_is_said_plainly(capsys: pytest.CaptureFixture[str],
                                                  configured: FakeServer) -> None:
    turns = [(GPT4O, "expensive one", 2000, 500, 1000), (GPT4O, "expensive two", 800, 300, 0)]
    _run_turns(capsys, configured, turns)
    report = _costs(capsys, "--baseline", MINI)
    actual = sum(_actual(t[0], *t[2:]) for t in turns)
    baseline = sum(_on_baseline(MINI, t[0], *t[2:]) for t in turns)
    sel = report["selected"]
    assert sel["cost_usd"] == pytest.approx(actual)
    assert sel["baseline_cost_usd"] == pytest.approx(baseline)
    assert sel["routing_saved_usd"] == pytest.approx(baseline - actual) and sel["routing_saved_usd"] < 0
    assert report["verdict"] == (f"No turn was routed. The 2 turns whose model you chose (pins, overrides, compare) "
                                 f"cost {usd(actual - baseline)} more than gpt-4o-mini would have.")
    code, out, err = run_cli(capsys, "costs", "--baseline", MINI)
    assert code == 0 and f"cost {usd(actual - baseline)} more than gpt-4o-mini" in out


def test_a_turn_with_no_known_price_is_left_out_of_the_baseline_too(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path) -> None:
    # A model the catalogue has no price for (an Anthropic-kind provider is never a free local
    # server): its turn costs "n/a", so it is in neither figure.
    write_config(chatroute_home, configured,
                 extra='[models."anthropic/mystery-1"]\ncontext_window = 128000\nmax_output_tokens = 4096\n')
    unpriced, priced = ("anthropic/mystery-1", "unknown price", 100_000, 10_000, 0), (MINI, "known price", 1000, 100, 0)
    outs = _run_turns(capsys, configured, [unpriced, priced])
    assert outs[0]["cost_usd"] is None and outs[1]["cost_usd"] > 0

    report = _costs(capsys, "--baseline", GPT4O)
    actual = _actual(priced[0], *priced[2:])
    baseline = _on_baseline(GPT4O, priced[0], *priced[2:])
    for summary in (report["selected"], report["periods"]["all"], report["periods"]["today"]):
        assert summary["turns"] == 2 and summary["unknown_cost_turns"] == 1
        assert summary["cost_usd"] == pytest.approx(actual)
        assert summary["baseline_cost_usd"] == pytest.approx(baseline)
        assert summary["routing_saved_usd"] == pytest.approx(baseline - actual)
    saved = baseline - actual
    assert report["verdict"] == (f"No turn was routed. The 1 turn whose model you chose (pins, overrides, compare) "
                                 f"saved {usd(saved)} against gpt-4o. "
                                 "1 turn with no known price is left out of both figures.")


def test_what_routing_saved_is_told_apart_from_what_the_users_picks_did(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path) -> None:
    """'Whether routing is worth it for this user': a turn whose model the user named is not the
    router's doing. A routed turn on gpt-4o-mini saves against gpt-4o; an override of gpt-4o
    itself saves nothing. Before, the verdict credited routing with every turn's saving."""
    routed_prompt = "What is the capital of Italy?"
    routed = json.loads(run_cli(capsys, "route", "--json", routed_prompt)[1])["model"]
    assert routed != GPT4O
    configured.script(routed.split("/", 1)[1], Reply(text="Rome.", input_tokens=1000, output_tokens=100))
    _run_turns(capsys, configured, [(GPT4O, "pick the big one", 2000, 300, 0)])
    code, out = ask_json(capsys, "--no-cache", routed_prompt)
    assert code == 0 and out["model"] == routed and out["route"]["kind"] == "routed"
    report = _costs(capsys, "--baseline", GPT4O)
    summary = report["selected"]
    routed_saved = _on_baseline(GPT4O, routed, 1000, 100, 0) - out["cost_usd"]
    assert summary["routed_turns"] == 1 and summary["chosen_turns"] == 1
    assert summary["routed_saved_usd"] == pytest.approx(routed_saved) and routed_saved > 0
    assert summary["chosen_saved_usd"] == pytest.approx(0.0, abs=1e-12)
    assert summary["routing_saved_usd"] == pytest.approx(routed_saved)
    assert report["verdict"] == (f"On the turns it routed, routing saved {usd(routed_saved)} against always using "
                                 "gpt-4o. The 1 turn whose model you chose (pins, overrides, compare) cost the same as "
                                 "gpt-4o.")
    code, text, err = run_cli(capsys, "costs", "--baseline", GPT4O)
    assert code == 0, err
    header, _, everything = (text.splitlines()[i] for i in (0, 1, 5))
    assert "routing saved" in header and "your picks saved" in header
    assert everything.split()[:1] == ["all"] and everything.split()[-3:] == [usd(routed_saved), "$0.00", "$0.00"]


def test_costs_csv_and_since(capsys: pytest.CaptureFixture[str], configured: FakeServer) -> None:
    _run_turns(capsys, configured, TURNS)
    code, out, err = run_cli(capsys, "costs", "--format", "csv", "--by", "model")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["model"] for r in rows} == {MINI, HAIKU}
    mini = next(r for r in rows if r["model"] == MINI)
    assert int(mini["turns"]) == 2 and int(mini["input_tokens"]) == 1500 and int(mini["cached_tokens"]) == 400
    assert float(mini["cost_usd"]) == pytest.approx(_actual(MINI, 1000, 200, 400) + _actual(MINI, 500, 100, 0),
                                                    abs=1e-8)
    assert sum(float(r["cost_usd"]) for r in rows) == pytest.approx(
        sum(_actual(t[0], *t[2:]) for t in TURNS), abs=1e-7)

    code, out, err = run_cli(capsys, "costs", "--format", "csv")  # by day (the default)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 1 and int(rows[0]["turns"]) == 3

    assert _costs(capsys, "--since", "today")["selected"]["turns"] == 3
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()  # UTC's: within the day's slack
    assert _costs(capsys, "--since", tomorrow)["selected"]["turns"] == 0
    code, out, err = run_cli(capsys, "costs", "--since", "2999-01-01")
    assert code == 2 and out == "" and "in the future" in err
    code, out, err = run_cli(capsys, "costs", "--since", "yesterday-ish")
    assert code == 2
    assert out == "" and err.count("\n") == 1 and "--since" in err and "Traceback" not in err


# ------------------------------------------------------------------------------ budget


def test_over_budget_is_reported_and_the_router_excludes_paid_models(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path) -> None:
    write_config(chatroute_home, configured, extra="[budget]\ndaily_usd = 0.0001\n")
    report = _costs(capsys)
    assert report["budget"]["level"] == "ok" and report["budget"]["daily_usd"] == pytest.approx(0.0001)

    _run_turns(capsys, configured, [(GPT4O, "a pricey turn", 1000, 1000, 0)])
    spent = _actual(GPT4O, 1000, 1000, 0)
    assert spent > 0.0001
    budget = _costs(capsys)["budget"]
    assert budget["level"] == "over"
    assert budget["spent_today"] == pytest.approx(spent)
    assert budget["fraction"] == pytest.approx(spent / 0.0001)
    assert "budget reached" in budget["message"]
    code, out, err = run_cli(capsys, "costs")
    assert code == 0 and "budget reached" in out

    # Every pool model is paid: past the cap nothing is spent without the user's say-so —
    # no silent fallback to the (paid) default; a pin or an override still works.
    code, out, err = run_cli(capsys, "route", "--json", "What is the boiling point of water?")
    assert code == 2 and json.loads(out)["status"] == "error"
    assert "budget cap is reached" in err and err.count("\n") == 1
    before = len(configured.requests)
    code, out, err = run_cli(capsys, "ask", "Another question?")
    assert code == 2 and "budget cap is reached" in err
    assert len(configured.requests) == before
    code, out, err = run_cli(capsys, "ask", "-m", "gpt-4o-mini", "I accept the cost")
    assert code == 0 and len(configured.requests) == before + 1


def test_near_budget_steps_down_the_cost_weight(capsys: pytest.CaptureFixture[str], configured: FakeServer,
                                                chatroute_home: Path) -> None:
    # A warm-up big enough that the 10% of the cap it leaves still pays for the next turn on
    # gpt-4o-mini (a turn that costs more than is left on every model is refused instead).
    spent = _actual(MINI, 100_000, 10_000, 0)
    # A cap the turn fills to ~90%: warned, and the router weighs cost more heavily.
    write_config(chatroute_home, configured, extra=f"[budget]\ndaily_usd = {spent / 0.9:.10f}\n")
    code, out, _ = run_cli(capsys, "route", "--json", "Name three rivers in Europe.")
    calm = json.loads(out)
    _run_turns(capsys, configured, [(MINI, "warm-up", 100_000, 10_000, 0)])
    budget = _costs(capsys)["budget"]
    assert budget["level"] == "warn" and "80%" in budget["message"]
    code, out, _ = run_cli(capsys, "route", "--json", "Name three rivers in Europe.")
    tight = json.loads(out)
    assert tight["kind"] == "routed"
    assert tight["cost_weight"] > calm["cost_weight"]
    assert any("budget 90% used" in n for n in tight["notes"])


# ------------------------------------------------------------------------------- prefs


def _adjustments(capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, float], str]:
    code, out, err = run_cli(capsys, "prefs", "show")
    assert code == 0, err
    rows = {}
    for line in out.splitlines()[2:]:
        parts = line.split()
        if len(parts) >= 2 and "/" in parts[0]:
            rows[parts[0]] = float(parts[-1])  # the adjustment is the last column
    return rows, out


def test_overrides_are_recorded_as_signals(capsys: pytest.CaptureFixture[str], chatroute_home: Path) -> None:
    for i in range(3):
        code, out = ask_json(capsys, "--no-cache", "-m", HAIKU, f"Tell me fact number {i} about owls.")
        assert code == 0 and out["model"] == HAIKU and out["route"]["kind"] == "override"
    code, out = ask_json(capsys, "--no-cache", f"@{HAIKU} one more owl fact")
    assert code == 0 and out["route"]["kind"] == "override"
    store = Store.open(chatroute_home / "chatroute.db")
    try:
        signals = store.preferences(kind="override")
    finally:
        store.close()
    assert [p.chosen_model for p in signals] == [HAIKU] * 4
    assert signals[-1].prompt == "one more owl fact"
    _, shown = _adjustments(capsys)
    assert "4 signals" in shown


def test_compare_picks_teach_an_adjustment_and_reset_forgets(capsys: pytest.CaptureFixture[str],
                                                             configured: FakeServer) -> None:
    rows, out = _adjustments(capsys)
    assert rows == {} and out.startswith("no adjustment learned yet (0 signals)")
    for _ in range(2):
        pick_compare_answer(_compare_with_failure(capsys, configured), HAIKU)
    rows, out = _adjustments(capsys)
    assert rows[HAIKU] > 0
    assert rows[MINI] < 0
    assert GPT4O not in rows  # its column failed (a 500) with nothing to read: not passed over
    assert list(rows)[0] == HAIKU  # listed best first
    assert "from 2 signals" in out

    code, out, _ = run_cli(capsys, "prefs", "reset")
    assert code == 0 and "reset" in out
    rows, out = _adjustments(capsys)
    assert rows == {} and out.startswith("no adjustment learned yet (0 signals)")


def test_with_learning_off_no_choice_is_recorded_and_prefs_show_says_so(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path) -> None:
    config = chatroute_home / "config.toml"
    config.write_text(config.read_text().replace("[router]\n", "[router]\nlearn = false\n"))
    code, out = ask_json(capsys, "--no-cache", "-m", HAIKU, "Tell me a fact about owls.")
    assert code == 0 and out["route"]["kind"] == "override"
    pick_compare_answer(_compare_with_failure(capsys, configured), HAIKU)
    store = Store.open(chatroute_home / "chatroute.db")
    try:
        assert store.preferences() == []
    finally:
        store.close()
    code, out, _ = run_cli(capsys, "prefs", "show")
    assert code == 0 and out.startswith("learning is off (router.learn = false in ")
    assert "0 signals from before are kept" in out


def test_overrides_teach_the_router(capsys: pytest.CaptureFixture[str], configured: FakeServer) -> None:
    # Override with a model the router would not pick itself: only that says something.
    code, out, err = run_cli(capsys, "route", "--json", "Plan a weekend 0")
    assert code == 0, err
    routed = json.loads(out)["model"]
    chosen = next(m for m in (HAIKU, GPT4O) if m != routed)
    for i in range(2):
        code, out, err = run_cli(capsys, "ask", "--no-cache", "-m", chosen, f"Plan a weekend {i}")
        assert code == 0, err
    code, out, _ = run_cli(capsys, "prefs", "show")
    line = next((ln for ln in out.splitlines() if ln.startswith(chosen)), out)
    assert float(line.split()[-1]) > 0


def test_picks_of_the_baseline_model_cost_the_same_as_it(capsys: pytest.CaptureFixture[str],
                                                         configured: FakeServer) -> None:
    """Turns on the baseline model itself: the two sums differ only by float rounding, which
    read "your picks cost <$0.000001 more" (chosen_saved_usd -5.4e-20)."""
    turns = [(GPT4O, f"question {i}", 1000 + 37 * i, 90 + 13 * i, 100 * (i % 3)) for i in range(9)]
    _run_turns(capsys, configured, turns)
    report = _costs(capsys, "--baseline", GPT4O)
    assert report["selected"]["chosen_saved_usd"] == 0.0 and report["selected"]["routing_saved_usd"] == 0.0
    assert report["verdict"].endswith("(pins, overrides, compare) cost the same as gpt-4o.")


def test_ask_c_after_a_compare_whose_first_model_failed_goes_on_from_an_answer(
        capsys: pytest.CaptureFixture[str], configured: FakeServer) -> None:
    """gpt-4o-mini, asked first, was rate limited; gpt-4o answered. 'ask -c ID' went on from the
    failed answer, the first: the next turn was sent without the question or gpt-4o's answer,
    as if no compare had been made, though the line under the table said it would go on."""
    configured.script("gpt-4o-mini", Fault(status=429))
    configured.script("gpt-4o", Reply(text="Lisbon is the capital.", input_tokens=20, output_tokens=5))
    code, out, err = run_cli(capsys, "compare", "-m", MINI, "-m", GPT4O, "Capital of Portugal?")
    assert code == 0, err
    conv = out.rsplit("conversation ", 1)[1].split(":", 1)[0]
    assert f"`chatroute ask -c {conv}` goes on from {GPT4O}'s, the first answer" in out
    configured.script("gpt-4o-mini", Reply(text="About 545,000."))
    code, asked = ask_json(capsys, "-m", MINI, "-c", conv, "And its population?")
    assert code == 0 and asked["conversation_id"] == conv
    assert [(m["role"], m["content"]) for m in configured.requests[-1].messages] == [
        ("user", "Capital of Portugal?"), ("assistant", "Lisbon is the capital."), ("user", "And its population?")]


def test_costs_since_a_day_with_no_turns_does_not_say_there_are_none_at_all(
        capsys: pytest.CaptureFixture[str], configured: FakeServer) -> None:
    """With a turn today, 'costs --since' tomorrow (UTC's, which the user's today may be) listed
    it under week, month and all, and ended 'No turns yet.'"""
    configured.script("gpt-4o-mini", Reply(text="hi", input_tokens=10, output_tokens=2))
    ask_json(capsys, "-m", MINI, "Say hi")
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    code, out, err = run_cli(capsys, "costs", "--since", tomorrow)
    assert code == 0, err
    assert out.splitlines()[-1] == f"No turns since {tomorrow}.", out
    assert "No turns yet." not in out
    assert _costs(capsys, "--since", tomorrow)["verdict"] == f"No turns since {tomorrow}."
    code, out, err = run_cli(capsys, "costs")
    assert "No turns" not in out


def test_a_compare_whose_shown_answer_cannot_be_switched_still_prints_its_answers(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Showing the first answer that has text in place of a failed first one is one more write;
    on a disk that filled meanwhile it must not end the compare with an internal error."""
    import sqlite3

    def full(self: Store, message_id: str) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(Store, "set_active", full)
    configured.script("gpt-4o-mini", Fault(status=429))
    configured.script("gpt-4o", Reply(text="Lisbon is the capital."))
    code, out, err = run_cli(capsys, "compare", "-m", MINI, "-m", GPT4O, "--json", "Capital of Portugal?")
    assert code == 0, err
    assert [a["status"] for a in _json_objects(out)] == ["error", "ok"]


def test_a_compare_whose_answers_were_all_cut_off_says_what_it_kept(
        capsys: pytest.CaptureFixture[str], configured: FakeServer) -> None:
    """Both streams cut mid-answer: the compare said 'no model answered' and left out the
    'conversation … answers kept' line, though each partial answer was stored and `ask -c` goes
    on from it. Now it names the conversation and what was kept; still exit 1."""
    configured.script("gpt-4o-mini", Drop(after_chunks=2, text="mini was saying something long"))
    configured.script("gpt-4o", Drop(after_chunks=2, text="gpt-4o was saying something else"))
    code, out, err = run_cli(capsys, "compare", "-m", MINI, "-m", GPT4O, "Tell me a story")
    assert code == 1, err
    assert "conversation " in out, out
    conv = out.rsplit("conversation ", 1)[1].split(":", 1)[0]
    assert f"{conv}: partial answers kept as siblings (none complete)" in out, out
    assert f"`chatroute ask -c {conv}` goes on from the first" in out, out
    assert f"no model answered in full; what {MINI}, {GPT4O} streamed is kept" in err, err
    with Store.open() as store:
        kept = [m for m in store.history(conv) if m.role == "assistant"]
    assert kept and kept[0].status == "interrupted" and kept[0].content.startswith("mini was")
