"""Budgets on the command line: past a cap `chatroute ask` asks before spending —
exit 2 with one line naming `--over-budget` — and the 80% / 100% warnings reach stderr.

Spend is made with pinned turns (`-m`, the user's explicit choice, which a cap never blocks)
whose usage the fake server reports, so the figures are known.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatroute.paths import resolve_paths
from chatroute.store import Store
from tests.engine.helpers import ask_json, run_cli, run_subprocess, write_config
from tests.fakeserver import FakeServer, Fault, Reply

pytestmark = pytest.mark.usefixtures("configured")

CAP = 0.0001  # dollars a day; one gpt-4o turn of 1000 + 1000 tokens spends ~$0.0125
QUESTION = "What is the boiling point of water at sea level?"


def _spend(capsys: pytest.CaptureFixture[str], server: FakeServer, model: str = "gpt-4o",
           tokens: tuple[int, int] = (1000, 1000), prompt: str = "a pricey turn") -> dict:
    server.script(model, Reply(text="spent", input_tokens=tokens[0], output_tokens=tokens[1]))
    code, out = ask_json(capsys, "-m", model, "--no-cache", prompt)
    assert code == 0, out
    return out


def _counts() -> tuple[int, int]:
    with Store.open(resolve_paths().database) as store:
        convs = store.list_conversations()
        return len(convs), sum(len(store.history(c.id)) for c in convs)


def test_past_the_cap_ask_refuses_with_one_line_naming_the_flag(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path) -> None:
    write_config(chatroute_home, configured, extra=f"[budget]\ndaily_usd = {CAP}\n")
    _spend(capsys, configured)
    before_requests, before_rows = len(configured.requests), _counts()

    code, out, err = run_cli(capsys, "ask", QUESTION)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "daily budget cap is reached" in err and "--over-budget" in err
    assert "openai/gpt-4o-mini" in err  # the cheapest pool model is the one offered
    # Nothing was sent and nothing was stored: no conversation, no orphan prompt, no error reply.
    assert len(configured.requests) == before_requests
    assert _counts() == before_rows

    # --json callers get the same refusal (exit 2, the line on stderr), and it as JSON on stdout.
    code, out, err = run_cli(capsys, "ask", "--json", QUESTION)
    assert code == 2 and "--over-budget" in err
    assert json.loads(out) == {"status": "error", "error": err.strip().removeprefix("chatroute: error: "),
                               "exit_code": 2}


def test_over_budget_flag_sends_one_turn_on_the_cheapest_model(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path) -> None:
    write_config(chatroute_home, configured, extra=f"[budget]\ndaily_usd = {CAP}\n")
    _spend(capsys, configured)
    configured.script("gpt-4o-mini", Reply(text="Water boils at 100 °C at sea level.", input_tokens=20,
                                           output_tokens=10))
    code, out, err = run_cli(capsys, "ask", "--json", "--over-budget", QUESTION)
    assert code == 0, err
    answer = json.loads(out)
    assert answer["model"] == "openai/gpt-4o-mini" and answer["status"] == "ok"
    assert answer["route"]["kind"] == "routed"
    assert "budget cap is reached" in answer["route"]["reason"]
    assert answer["cost_usd"] > 0
    assert configured.requests[-1].model == "gpt-4o-mini"
    # Past the cap, every ask says so on stderr.
    assert "warning: budget reached" in err
    # The flag is for one turn: the next plain ask is refused again.
    code, _, err = run_cli(capsys, "ask", "And at the top of Everest?")
    assert code == 2 and "--over-budget" in err


def test_past_the_cap_a_cache_hit_still_answers_free(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path) -> None:
    configured.script(Reply(text="100 °C", input_tokens=30, output_tokens=5))
    code, first = ask_json(capsys, QUESTION)
    assert code == 0 and first["cache"] == "miss"
    write_config(chatroute_home, configured, extra=f"[budget]\ndaily_usd = {CAP}\n")
    _spend(capsys, configured)
    n = len(configured.requests)
    code, again = ask_json(capsys, QUESTION)  # costs nothing, so nothing to ask
    assert code == 0 and again["cache"] == "hit" and again["cost_usd"] == 0
    assert len(configured.requests) == n


def test_80_and_100_percent_warnings_on_stderr(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path) -> None:
    spent = _spend(capsys, configured, model="gpt-4o-mini", tokens=(1000, 100), prompt="warm-up")["cost_usd"]
    # A cap this turn filled to 50%: no warning.
    write_config(chatroute_home, configured, extra=f"[budget]\ndaily_usd = {spent * 2:.10f}\n")
    configured.script("gpt-4o-mini", Reply(text="ok", input_tokens=1, output_tokens=1))
    code, _, err = run_cli(capsys, "ask", "-m", "gpt-4o-mini", "--no-cache", "tiny")
    assert code == 0 and "warning" not in err
    # The same spend against a smaller cap: ~90% used.
    write_config(chatroute_home, configured, extra=f"[budget]\ndaily_usd = {spent / 0.9:.10f}\n")
    configured.script("gpt-4o-mini", Reply(text="ok", input_tokens=1, output_tokens=1))
    code, _, err = run_cli(capsys, "ask", "-m", "gpt-4o-mini", "--no-cache", "tiny again")
    assert code == 0
    [line] = [ln for ln in err.splitlines() if "warning" in ln]
    assert line.startswith("chatroute: warning: budget at 80%") and "today" in line
    # Past 100% (the monthly cap this time).
    write_config(chatroute_home, configured, extra=f"[budget]\nmonthly_usd = {spent / 2:.10f}\n")
    configured.script("gpt-4o-mini", Reply(text="ok", input_tokens=1, output_tokens=1))
    code, _, err = run_cli(capsys, "ask", "-m", "gpt-4o-mini", "--no-cache", "tiny once more")
    assert code == 0 and "warning: budget reached" in err and "this month" in err


def test_refusal_through_the_real_command(configured: FakeServer, chatroute_home: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    write_config(chatroute_home, configured, extra="[budget]\ndaily_usd = 0\n")  # a zero cap spends nothing
    proc = run_subprocess("ask", QUESTION)
    err = proc.stderr.decode()
    assert proc.returncode == 2 and proc.stdout == b""
    assert err.count("\n") == 1 and err.startswith("chatroute: error: the daily budget cap is reached")
    assert "--over-budget" in err and "Traceback" not in err
    assert configured.requests == []


# ------------------------------------------------------------------- the configured default
# The default answers when every pool model is excluded; the budget must hold for it as for
# any candidate, or it is a way past the cap with no limit.

FREE_MODEL = """
[models."openai/free-local"]
input_cost_per_mtok = 0.0
output_cost_per_mtok = 0.0
context_window = 32768
max_output_tokens = 4096
"""


def _with_default(home: Path, server: FakeServer, default: str, *, pool: list[str], extra: str = "") -> None:
    path = write_config(home, server, pool=pool, extra=extra)
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(f'default = "{pool[0]}"', f'default = "{default}"', 1), encoding="utf-8")


def _expected_costs(capsys: pytest.CaptureFixture[str], prompt: str) -> dict[str, float]:
    """What the router expects this prompt to cost on each pool model (with no cap set)."""
    code, out, err = run_cli(capsys, "route", "--json", prompt)
    assert code == 0, err
    return {c["model"]: c["expected_cost_usd"] for c in json.loads(out)["candidates"]}


def test_past_the_cap_a_default_outside_the_pool_is_refused_too(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path) -> None:
    pool = ["openai/gpt-4o-mini", "openai/gpt-4o"]
    _with_default(chatroute_home, configured, "anthropic/claude-sonnet-4-5", pool=pool,
                  extra=f"[budget]\ndaily_usd = {CAP}\n")
    _spend(capsys, configured)
    before_requests, before_rows = len(configured.requests), _counts()

    for _ in range(2):  # turn after turn, not only once
        code, out, err = run_cli(capsys, "ask", "--json", QUESTION)
        assert code == 2 and json.loads(out)["status"] == "error", out  # refused: no answer
        assert "daily budget cap is reached" in err and "--over-budget" in err
        assert "openai/gpt-4o-mini" in err
    assert len(configured.requests) == before_requests
    assert _counts() == before_rows

    # Saying yes sends the turn on the cheapest model, not on the (dearer) default.
    configured.script("gpt-4o-mini", Reply(text="100 °C.", input_tokens=20, output_tokens=5))
    code, answer = ask_json(capsys, "--over-budget", QUESTION)
    assert code == 0 and answer["model"] == "openai/gpt-4o-mini"
    assert configured.requests[-1].model == "gpt-4o-mini"
    assert not configured.requests_for("claude-sonnet-4-5")


def test_past_the_cap_a_free_default_outside_the_pool_still_answers(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path) -> None:
    pool = ["openai/gpt-4o-mini", "openai/gpt-4o"]
    _with_default(chatroute_home, configured, "openai/free-local", pool=pool,
                  extra=f"{FREE_MODEL}\n[budget]\ndaily_usd = {CAP}\n")
    _spend(capsys, configured)
    configured.script("free-local", Reply(text="100 °C.", input_tokens=20, output_tokens=5))
    code, answer = ask_json(capsys, "--no-cache", QUESTION)
    assert code == 0 and answer["model"] == "openai/free-local"
    assert answer["route"]["kind"] == "default" and answer["cost_usd"] == 0
    assert configured.requests[-1].model == "free-local"


def test_under_the_cap_a_turn_dearer_than_what_is_left_everywhere_asks_first(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path) -> None:
    # The default is the dearest pool model: before, a turn every model "would exceed the
    # budget" on went to it, unasked.
    pool = ["openai/gpt-4o", "openai/gpt-4o-mini"]
    write_config(chatroute_home, configured, pool=pool)
    costs = _expected_costs(capsys, QUESTION)
    cheapest = min(costs.values())
    assert costs["openai/gpt-4o"] > cheapest > 0
    write_config(chatroute_home, configured, pool=pool, extra=f"[budget]\ndaily_usd = {cheapest / 2:.12f}\n")

    code, out, err = run_cli(capsys, "ask", "--json", QUESTION)
    assert code == 2 and json.loads(out)["status"] == "error"
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "would exceed the daily budget" in err and "--over-budget" in err and "openai/gpt-4o-mini" in err
    assert configured.requests == [] and _counts() == (0, 0)

    configured.script("gpt-4o-mini", Reply(text="100 °C.", input_tokens=20, output_tokens=5))
    code, answer = ask_json(capsys, "--over-budget", QUESTION)
    assert code == 0 and answer["model"] == "openai/gpt-4o-mini"
    assert "would exceed the daily budget" in answer["route"]["reason"]
    assert [r.model for r in configured.requests] == ["gpt-4o-mini"]


def test_failing_over_never_lands_on_a_default_the_budget_excludes(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path) -> None:
    pool = ["openai/gpt-4o", "openai/gpt-4o-mini"]  # the default: gpt-4o, the dearer
    write_config(chatroute_home, configured, pool=pool)
    costs = _expected_costs(capsys, QUESTION)
    # What is left pays for gpt-4o-mini, not for gpt-4o.
    cap = (costs["openai/gpt-4o-mini"] * costs["openai/gpt-4o"]) ** 0.5
    write_config(chatroute_home, configured, pool=pool, extra=f"[budget]\ndaily_usd = {cap:.12f}\n")
    configured.script("gpt-4o-mini", Fault(status=429))
    configured.script("gpt-4o", Reply(text="an answer past the cap", input_tokens=1000, output_tokens=1000))

    code, answer = ask_json(capsys, "--no-cache", QUESTION)
    assert code == 1 and answer["status"] == "error" and "429" in answer["error"]
    assert answer["route"]["reroutes"] == []
    assert [r.model for r in configured.requests] == ["gpt-4o-mini"]


def test_a_cache_hit_past_the_cap_still_counts_what_it_saved(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path) -> None:
    """Past the cap no model is routed to, so the saving had no price and was stored as NULL:
    `costs` showed "cache saved $0.00" for hits that spared a paid answer."""
    configured.script("gpt-4o-mini", Reply(text="100 degrees Celsius at sea level."))
    code, first = ask_json(capsys, QUESTION)
    assert code == 0 and first["cache"] != "hit"
    write_config(chatroute_home, configured, extra=f"[budget]\ndaily_usd = {CAP}\n")
    _spend(capsys, configured)
    code, hit = ask_json(capsys, QUESTION)
    assert code == 0 and hit["cache"] == "hit" and hit["cost_usd"] == 0
    with Store.open(resolve_paths().database) as store:
        [saved] = [t.saved_usd for c in store.list_conversations() for t in store.turns(c.id)
                   if t.cache_status == "hit"]
    assert saved is not None and saved > 0


def test_a_budget_decision_says_the_budget_in_its_why(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path) -> None:
    """The badge's why is the decision's reason in a few words. A turn sent past the cap with
    --over-budget had none (kind routed, why ''), so its badge read like an unexplained pick;
    and under the cap, with every dearer model excluded by what is left, it said 'the only model
    available', naming no budget."""
    write_config(chatroute_home, configured, extra="[budget]\ndaily_usd = 0.01\n")
    _spend(capsys, configured, tokens=(1000, 680))  # $0.0093 of $0.01: the dearer models cost more than is left
    code, out, err = run_cli(capsys, "route", "--json", QUESTION)
    assert code == 0, err
    decided = json.loads(out)
    assert decided["model"] == "openai/gpt-4o-mini"
    assert decided["why"] == "the only model within the budget"
    assert "the only model within the budget ($0.0007 left)" in decided["reason"]

    write_config(chatroute_home, configured, extra=f"[budget]\ndaily_usd = {CAP}\n")
    code, answer = ask_json(capsys, "--over-budget", QUESTION)
    assert code == 0 and answer["route"]["kind"] == "routed"
    assert answer["route"]["why"] == "over the daily budget, sent as you asked"


def test_a_zero_cap_is_named_with_its_spend_in_the_warning_and_in_costs(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path) -> None:
    # A cap of 0 means "spend nothing": reached from the start, and said with its figures like
    # any other cap (before, the warning ended at its colon, naming neither spend nor cap).
    write_config(chatroute_home, configured, extra="[budget]\ndaily_usd = 0\n")
    configured.script("gpt-4o-mini", Reply(text="spent", input_tokens=1000, output_tokens=100))
    code, out, err = run_cli(capsys, "ask", "-m", "gpt-4o-mini", "--no-cache", "a pinned turn")
    assert code == 0
    [warning] = [ln for ln in err.splitlines() if "warning" in ln]
    # This very turn was sent without asking: the warning says which turns wait (it said "a new
    # paid turn waits for your yes", right after one that had not).
    assert "a new routed paid turn waits for your yes" in warning
    assert warning.endswith("a model you name (-m, @model, a pin) is sent without asking: $0.00021 of $0.00 today")
    code, out, err = run_cli(capsys, "costs")
    assert code == 0 and out.rstrip().splitlines()[-1].endswith(": $0.00021 of $0.00 today")


def test_compare_past_the_cap_says_so_on_stderr_as_ask_does(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path) -> None:
    # The models of a compare are the user's choice, so a cap does not stop it; but it spends on
    # every one of them at once, and it said nothing of the budget it was spending past.
    write_config(chatroute_home, configured, extra=f"[budget]\ndaily_usd = {CAP}\n")
    configured.script("gpt-4o", Reply(text="one", input_tokens=1000, output_tokens=1000))
    configured.script("claude-haiku-4-5", Reply(text="two", input_tokens=1000, output_tokens=1000))
    code, out, err = run_cli(capsys, "compare", "-m", "gpt-4o", "-m", "claude-haiku-4-5", QUESTION)
    assert code == 0 and "one" in out and "two" in out
    [warning] = [ln for ln in err.splitlines() if "warning" in ln]
    assert warning.startswith("chatroute: warning: budget reached") and "today" in warning
    # --json keeps stdout a JSON document; the warning is on stderr there too.
    configured.script("gpt-4o", Reply(text="one", input_tokens=10, output_tokens=10))
    configured.script("claude-haiku-4-5", Reply(text="two", input_tokens=10, output_tokens=10))
    code, out, err = run_cli(capsys, "compare", "--json", "-m", "gpt-4o", "-m", "claude-haiku-4-5", QUESTION)
    assert code == 0 and len(json.loads(out)) == 2
    assert "chatroute: warning: budget reached" in err


def test_just_under_the_cap_the_route_note_never_reads_100_percent(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path) -> None:
    # At 99.7% nothing is reached (paid models are still routed to), but the route's note said
    # "budget 100% used" (the why panel, `route`, `ask --json`'s route.notes).
    # A spend whose 0.3% still pays for a short turn on gpt-4o-mini.
    spent = _spend(capsys, configured, model="gpt-4o-mini", tokens=(1_000_000, 100_000), prompt="warm-up")["cost_usd"]
    write_config(chatroute_home, configured, extra=f"[budget]\ndaily_usd = {spent / 0.997:.12f}\n")
    code, out, err = run_cli(capsys, "route", "--json", "Say hello.")
    assert code == 0, err
    [note] = [n for n in json.loads(out)["notes"] if n.startswith("budget")]
    assert note.startswith("budget 99% used: cost weight x")


def test_past_the_cap_a_model_with_no_known_price_is_not_taken_for_free(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path) -> None:
    # A hosted model the price table does not list costs money, only not a known amount ("n/a",
    # never $0). Past the cap the router took it for free: every routed turn went to it, with no
    # --over-budget and nothing counted against the cap, while the warning said paid turns wait.
    unpriced = "anthropic/claude-mystery-9"
    write_config(chatroute_home, configured, pool=[unpriced], extra=f"[budget]\ndaily_usd = {CAP}\n")
    configured.script("gpt-4o", Reply(text="spent", input_tokens=1000, output_tokens=1000))
    code, _, err = run_cli(capsys, "ask", "-m", "openai/gpt-4o", "--no-cache", "a pricey turn")
    assert code == 0 and "budget reached" in err
    n = len(configured.requests)
    configured.script("claude-mystery-9", Reply(text="an answer of unknown cost", input_tokens=500, output_tokens=500))
    code, out, err = run_cli(capsys, "ask", QUESTION)
    assert code == 2 and out == "", (out, err)
    assert "the daily budget cap is reached" in err and "no model with a known price" in err
    assert len(configured.requests) == n
    # Named with -m, it is the user's choice, as any model is.
    code, out, err = run_cli(capsys, "ask", "-m", unpriced, QUESTION)
    assert code == 0 and "an answer of unknown cost" in out


def test_the_budget_figures_say_the_turns_whose_cost_is_unknown(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path) -> None:
    # A turn with no known price spent money the cap cannot count: the spend against the cap
    # read as if it were all there ('$0.013 of $0.0001 today'), where `costs` marks the same
    # period '(+1 n/a)'.
    write_config(chatroute_home, configured, pool=["openai/gpt-4o-mini", "anthropic/claude-mystery-9"],
                 extra=f"[budget]\ndaily_usd = {CAP}\n")
    configured.script("claude-mystery-9", Reply(text="unknown cost", input_tokens=500, output_tokens=500))
    code, _, err = run_cli(capsys, "ask", "-m", "anthropic/claude-mystery-9", "--no-cache", "an unpriced turn")
    assert code == 0, err
    configured.script("gpt-4o", Reply(text="spent", input_tokens=1000, output_tokens=1000))
    code, _, err = run_cli(capsys, "ask", "-m", "openai/gpt-4o", "--no-cache", "a pricey turn")
    assert code == 0
    [warning] = [ln for ln in err.splitlines() if "warning: budget" in ln]
    assert warning.endswith(" (+1 n/a) of $0.0001 today"), warning
    code, out, _ = run_cli(capsys, "costs", "--format", "json")
    budget = json.loads(out)["budget"]
    assert budget["unknown_cost_turns_today"] == 1 and budget["unknown_cost_turns_month"] == 1
