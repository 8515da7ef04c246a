"""Learning from the user through the real commands: overrides, a compare pick and a
regeneration, made the way a user makes them, then `chatroute route --json`, `route` and
`prefs show` run as processes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from chatroute.engine import Engine
from chatroute.routing.preferences import MAX_BIAS, PRIOR_COUNT
from tests.engine.helpers import (
    ANTHROPIC_KEY,
    OPENAI_KEY,
    ask_json,
    pick_compare_answer,
    run_cli,
    run_subprocess,
    write_config,
)
from tests.fakeserver import FakeServer, Fault, Reply

MINI, GPT4O = "openai/gpt-4o-mini", "openai/gpt-4o"
HAIKU, SONNET = "anthropic/claude-haiku-4-5", "anthropic/claude-sonnet-4-5"
TRIVIAL = "What is the capital of Italy?"


@pytest.fixture
def four(chatroute_home: Path, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", ANTHROPIC_KEY)
    # Latency out of the utility: the fake server's timings (a 3-token reply measured as a slow
    # stream) would decide near-ties that the real models' timings would not.
    write_config(chatroute_home, fake_server, pool=[MINI, GPT4O, HAIKU, SONNET], extra="latency_weight = 0.0")
    return fake_server


def _env(home: Path) -> dict[str, str]:
    return {"CHATROUTE_HOME": str(home), "TEST_OPENAI_KEY": OPENAI_KEY, "TEST_ANTHROPIC_KEY": ANTHROPIC_KEY,
            "PYTHONPATH": os.environ.get("PYTHONPATH", "")}


def _route(home: Path, prompt: str) -> dict[str, Any]:
    proc = run_subprocess("route", "--json", prompt, env=_env(home))
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout)


def _five_actions(capsys: pytest.CaptureFixture[str]) -> None:
    """One @gpt-4o override, one compare pick, one regenerate (the issue's three) and two
    more overrides, every one of them for a dearer model than the cheap one routing picks."""
    code, out = ask_json(capsys, "--no-cache", f"@{GPT4O} Name a prime number above 100.")
    assert code == 0 and out["route"]["kind"] == "override"
    code, out, err = run_cli(capsys, "compare", "-m", MINI, "-m", SONNET, "--json", "Say hi")
    assert code == 0, err
    pick_compare_answer(json.loads(out), SONNET)  # compare --json prints one list
    code, routed = ask_json(capsys, "--no-cache", "Name a river in Europe.")
    assert code == 0  # routed: the regeneration rejects whichever model answered

    async def regenerate() -> None:
        engine = Engine.open()
        try:
            events = [e async for e in engine.run_turn(routed["conversation_id"], "Name a river in Europe.",
                                                       regenerate_of=routed["message_id"])]
            assert events
        finally:
            await engine.aclose()
            engine.store.close()

    import asyncio

    asyncio.run(regenerate())
    for prompt in ("Name a lake in Africa.", "Name a desert in Asia."):
        code, out = ask_json(capsys, "--no-cache", f"@{SONNET} {prompt}")
        assert code == 0 and out["route"]["kind"] == "override"


def test_five_actions_keep_a_trivial_question_on_the_cheapest_model(capsys: pytest.CaptureFixture[str],
                                                                     four: FakeServer, chatroute_home: Path) -> None:
    assert _route(chatroute_home, TRIVIAL)["model"] == MINI
    _five_actions(capsys)
    kinds = [p.kind for p in Engine.open().store.preferences()]
    assert sorted(kinds) == ["compare_pick", "override", "override", "override", "regenerate"]

    decision = _route(chatroute_home, TRIVIAL)
    regenerated = next(c for c in decision["candidates"] if "regeneration" in (c["ability_note"] or ""))
    assert "lowered 0.01 after 1 regeneration" in regenerated["ability_note"]  # the prior, lowered a little
    assert decision["model"] == MINI, json.dumps(decision["candidates"], indent=0)
    cands = {c["model"]: c for c in decision["candidates"]}
    assert cands[MINI]["learned_adjustment"] < 0 < cands[SONNET]["learned_adjustment"]
    assert all(c["adjustment"] == 0 for c in cands.values())
    assert "your choices not applied" in decision["reason"]

    proc = run_subprocess("route", TRIVIAL, env=_env(chatroute_home))
    text = proc.stdout.decode()
    assert proc.returncode == 0 and "adjustment" in text.splitlines()[3]
    mini_row = next(line for line in text.splitlines() if line.startswith(f"* {MINI}"))
    assert f"+0.000 ({cands[MINI]['learned_adjustment']:+.3f})" in mini_row

    proc = run_subprocess("prefs", "show", env=_env(chatroute_home))
    shown = proc.stdout.decode()
    assert proc.returncode == 0, proc.stderr.decode()
    assert shown.splitlines()[0].split() == ["model", "chosen", "passed", "over", "adjustment"]
    rows = {line.split()[0]: float(line.split()[-1]) for line in shown.splitlines()[2:6]}
    assert rows[SONNET] > 0 > rows[MINI]
    assert rows[SONNET] == pytest.approx(cands[SONNET]["learned_adjustment"], abs=1e-3)
    assert all(abs(v) < MAX_BIAS / 2 for v in rows.values())  # five signals: bounded well under the cap
    assert "from 5 signals" in shown


def test_five_actions_move_no_trivial_question_to_a_model_never_chosen(capsys: pytest.CaptureFixture[str],
                                                                        four: FakeServer, chatroute_home: Path) -> None:
    """These trivial questions sit above the 10% least needy, where the learned adjustment
    applies: after the five actions they went to claude-haiku-4-5 at 8x the cost ("your choices
    moved it over gpt-4o-mini (adjustment -0.009 vs -0.025)"), a model the user never chose, on
    the strength of gpt-4o-mini's rejections alone. A model never chosen gains nothing on
    routing's pick from that pick's losses; the models chosen (gpt-4o, claude-sonnet-4-5) still
    carry their adjustment, and are too dear to win these."""
    questions = ["What is the boiling point of water?", "Who painted the Mona Lisa?", "What is the speed of light?",
                 "What is the largest planet in the solar system?"]
    assert all(_route(chatroute_home, q)["model"] == MINI for q in questions)
    _five_actions(capsys)
    for question in questions:
        decision = _route(chatroute_home, question)
        assert decision["model"] == MINI, (question, decision["reason"])
        cands = {c["model"]: c for c in decision["candidates"]}
        assert cands[HAIKU]["learned_adjustment"] > cands[MINI]["learned_adjustment"]  # learned, not applied
        assert cands[HAIKU]["adjustment"] <= cands[MINI]["adjustment"]
        assert cands[SONNET]["adjustment"] > cands[MINI]["adjustment"]


def test_where_the_pick_may_fail_one_override_shows_in_the_reason(capsys: pytest.CaptureFixture[str],
                                                                  chatroute_home: Path, fake_server: FakeServer,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", ANTHROPIC_KEY)
    # Weak abilities (the user's own figures) make every model predicted to fail often here.
    weak = "".join(f'\n[models."{m}"]\nability = 0.05\n' for m in (MINI, SONNET))
    write_config(chatroute_home, fake_server, pool=[MINI, SONNET], extra=weak)
    prompt = "Prove that there are infinitely many primes."
    before = _route(chatroute_home, prompt)
    assert before["model"] == MINI and "adjustment" not in before["reason"]
    code, out = ask_json(capsys, "--no-cache", f"@{SONNET} Prove that the square root of 2 is irrational.")
    assert code == 0
    after = _route(chatroute_home, prompt)
    cands = {c["model"]: c for c in after["candidates"]}
    step = MAX_BIAS / (1 + PRIOR_COUNT)
    assert cands[SONNET]["adjustment"] == pytest.approx(step, abs=1e-4) == cands[SONNET]["learned_adjustment"]
    assert cands[MINI]["adjustment"] == pytest.approx(-step, abs=1e-4)
    assert f"adjustment {cands[after['model']]['adjustment']:+.3f}" in after["reason"]



def test_an_open_engine_takes_a_preference_reset_made_elsewhere(capsys: pytest.CaptureFixture[str],
                                                                configured: FakeServer) -> None:
    """`chatroute prefs reset` while a server or the TUI runs: it kept applying what the reset
    forgot until it restarted."""
    for _ in range(3):
        configured.script(Reply(text="ok"))
        code, _ = ask_json(capsys, "--no-cache", "-m", "openai/gpt-4o", "Name a river in Europe.")
        assert code == 0
    engine = Engine.open()
    prompt = "Name a river in Europe."

    def learned() -> dict[str, float]:
        return {c["model"]: c["learned_adjustment"] for c in engine.route(prompt)["candidates"]
                if c.get("learned_adjustment")}

    assert learned().get("openai/gpt-4o", 0) > 0
    code, out, err = run_cli(capsys, "prefs", "reset")
    assert code == 0, err
    assert learned() == {}


def test_an_override_that_got_no_answer_teaches_nothing(capsys: pytest.CaptureFixture[str],
                                                        configured: FakeServer) -> None:
    """An @model turn that failed before any answer (a 500, or a model whose provider has no
    key) is no choice of one answer over another, and running the same command again after it
    must not count the one choice once per attempt: two failed `ask -m claude-haiku-4-5` moved
    the next routed question from gpt-4o-mini to gpt-4o ("your choices moved it")."""
    configured.script("claude-haiku-4-5", Fault(status=500), Fault(status=500))
    for _ in range(2):
        code, out = ask_json(capsys, "--no-cache", "-m", HAIKU, "Name a river in Europe.")
        assert code == 1 and out["status"] == "error"
    assert Engine.open().store.preferences() == []
    configured.script("claude-haiku-4-5", Reply(text="The Danube."))
    code, out = ask_json(capsys, "--no-cache", "-m", HAIKU, "Name a river in Europe.")
    assert code == 0 and out["status"] == "ok"
    assert [p.chosen_model for p in Engine.open().store.preferences()] == [HAIKU]  # the answer counts, once


def test_retrying_a_reply_that_failed_before_any_text_teaches_nothing(capsys: pytest.CaptureFixture[str],
                                                                     configured: FakeServer,
                                                                     chatroute_home: Path) -> None:
    """r on a failed turn (the TUI's retry, a regenerate of that reply) asks again: there was no
    answer to reject. It was recorded as rejecting the failed model's answer ('prefs show':
    gpt-4o passed over 0.7, adjustment -0.006) and counted as a regeneration lowering its prior,
    on top of the failure its health already counts."""
    configured.script("gpt-4o", Fault(status=500))
    code, failed = ask_json(capsys, "--no-cache", "-m", GPT4O, "Name a river in Europe.")
    assert code == 1 and failed["status"] == "error" and failed["text"] == ""
    configured.script("gpt-4o", Reply(text="The Danube."))

    async def retry() -> None:
        engine = Engine.open()
        try:
            events = [e async for e in engine.run_turn(failed["conversation_id"], "Name a river in Europe.",
                                                       override=GPT4O, regenerate_of=failed["message_id"])]
            assert events[-1].text == "The Danube."
        finally:
            await engine.aclose()
            engine.store.close()

    import asyncio

    asyncio.run(retry())
    assert [p.kind for p in Engine.open().store.preferences()] == ["override"]  # the answer, chosen; no rejection
    decision = _route(chatroute_home, "Name a lake in Africa.")
    assert not any("regeneration" in (c["ability_note"] or "") for c in decision["candidates"])



def test_what_applies_of_the_adjustment_is_explained_by_the_rule_the_router_uses(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path) -> None:
    """The router gates the learned adjustment on the turn's need (none for the least needy
    tenth of prompts, all of it from the 30th percentile on; maths is never among the 30% least
    needy), not on the pick's predicted quality. `prefs show` said 'all of it when the model
    routing would pick is predicted below 0.90 good', while on 'What is 2+2?', every model
    predicted above 0.90, all of it applied; the reason said 'not applied: predicted 0.95 already'."""
    code, out = ask_json(capsys, "--no-cache", f"@{GPT4O} Name a prime number above 100.")
    assert code == 0 and out["route"]["kind"] == "override"
    sums = _route(chatroute_home, "What is 2+2?")
    assert all(c["quality"] > 0.90 for c in sums["candidates"])
    assert any(c["adjustment"] and c["adjustment"] == c["learned_adjustment"] for c in sums["candidates"])
    trivial = _route(chatroute_home, TRIVIAL)
    assert all(c["adjustment"] == 0 for c in trivial["candidates"])
    assert "your choices not applied: among the 10% least needy prompts" in trivial["reason"]
    shown = run_subprocess("prefs", "show", env=_env(chatroute_home)).stdout.decode()
    assert "none of it on the 10% least needy prompts, all of it from the 30th percentile on" in shown
    assert "predicted below" not in shown


def test_models_says_one_figure_for_a_lowered_prior(capsys: pytest.CaptureFixture[str], chatroute_home: Path,
                                                     fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Four failed requests lower an unknown model's prior by 0.15 × 2 / 12 = 0.025. The table said
    '−0.03 seen' (a figure rounded to 4 places, then to 2) and the note under it 'lowered 0.02'."""
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    write_config(chatroute_home, fake_server, pool=[MINI, GPT4O, "openai/mystery-model"])
    for i in range(4):
        fake_server.script("mystery-model", Fault(status=500))
        code, out = ask_json(capsys, "-m", "openai/mystery-model", f"Say hello, number {i}.")
        assert code == 1 and out["status"] == "error"
    code, out, err = run_cli(capsys, "models")
    assert code == 0, err
    row = next(line for line in out.splitlines() if line.startswith("openai/mystery-model "))
    assert "unknown: prior, −0.02 seen" in row
    assert "openai/mystery-model: ability unknown: prior 0.30, lowered 0.02 after 4 failures" in out
