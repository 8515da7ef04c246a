"""What a turn costs, from the usage each provider reports on the wire: figures worked by hand
from the bundled price snapshot, compared with what `ask`, its badge and `costs` say. Real
`chatroute` commands against the fake server, through the official SDKs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatroute.money import usd
from tests.engine.helpers import run_cli, write_config
from tests.fakeserver import Drop, FakeServer, Reply

PROMPT = "Summarise the plot of Hamlet in two lines."
XAI = "http://api.x.ai/v1"
OPENROUTER = "http://openrouter.ai/api/v1"
MOONSHOT = "http://api.moonshot.ai/v1"
GEMINI = "http://generativelanguage.googleapis.com/v1beta/openai"
PERPLEXITY = "http://api.perplexity.ai"


def _at_its_own_host(home: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch, provider: str,
                     base_url: str, pool: list[str]) -> None:
    """A provider at its real host over plain http, through the fake server as a proxy: the host
    is what prices it as that provider, and the fake server answers for it."""
    key_env = f"TEST_{provider.upper()}_KEY"
    monkeypatch.setenv(key_env, f"{provider}-test")
    monkeypatch.setenv("HTTP_PROXY", server.url)
    monkeypatch.setenv("NO_PROXY", "")
    write_config(home, server, pool=pool, extra=f"""
[providers.{provider}]
base_url = "{base_url}"
api_key_env = "{key_env}"
""")



def _costs_all(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    code, out, err = run_cli(capsys, "costs", "--format", "json")
    assert code == 0, err
    period: dict[str, object] = json.loads(out)["periods"]["all"]
    return period


def test_reasoning_tokens_xai_reports_apart_from_completion_tokens_are_billed(
        configured: FakeServer, chatroute_home: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """xAI counts a reasoning model's thinking outside completion_tokens (its total_tokens adds
    it: 10,120 + 1,499 + 2,809 = 14,428), and bills it as output. Grok 4.20 at $1.25 in, $0.20
    cached, $2.50 out per Mtok: (10,120 - 128) x 1.25 + 128 x 0.20 + (1,499 + 2,809) x 2.50
    = $0.0232856, not the $0.0162631 of the visible text alone."""
    _at_its_own_host(chatroute_home, configured, monkeypatch, "xai", XAI, ["xai/grok-4.20"])
    configured.script("grok-4.20", Reply(text="Hamlet avenges his father; all die.", input_tokens=10_120,
                                         output_tokens=1_499, cached_tokens=128, reasoning_tokens=2_809,
                                         reasoning_apart=True))
    code, out, err = run_cli(capsys, "ask", "--json", PROMPT)
    assert code == 0, err
    turn = json.loads(out)
    assert turn["model"] == "xai/grok-4.20"
    assert turn["tokens"]["output"] == 4_308 and turn["tokens"]["estimated"] is False, turn["tokens"]
    assert turn["cost_usd"] == pytest.approx(0.0232856), turn["cost_usd"]
    period = _costs_all(capsys)
    assert period["output_tokens"] == 4_308 and period["cost_usd"] == pytest.approx(0.0232856), period


def test_reasoning_tokens_openai_counts_inside_completion_tokens_are_billed_once(
        configured: FakeServer, chatroute_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """OpenAI's completion_tokens already holds the reasoning (total_tokens = prompt +
    completion): o4-mini, 1,000 in and 500 out of which 400 reasoning, at $1.10 / $4.40 per Mtok
    costs 1,000 x 1.10 + 500 x 4.40 = $0.0033, the reasoning not added again."""
    write_config(chatroute_home, configured, pool=["openai/o4-mini"])
    configured.script("o4-mini", Reply(text="Hamlet avenges his father; all die.", input_tokens=1_000,
                                       output_tokens=500, reasoning_tokens=400))
    code, out, err = run_cli(capsys, "ask", "--json", PROMPT)
    assert code == 0, err
    turn = json.loads(out)
    assert turn["tokens"]["output"] == 500, turn["tokens"]
    assert turn["cost_usd"] == pytest.approx(0.0033), turn["cost_usd"]


@pytest.mark.parametrize("step", [Reply(text="Hamlet avenges his father; all die.", omit_usage=True),
                                  Drop(after_chunks=3)], ids=["no usage report", "connection dropped"])
def test_a_cost_counted_from_an_estimate_is_marked_on_the_badge(
        configured: FakeServer, capsys: pytest.CaptureFixture[str], step: Reply | Drop) -> None:
    """A server that sends no usage (stream_options not honoured), or a stream cut before its
    report: the tokens and so the cost are estimated. `costs` wrote ≈$0.000043; the badge wrote
    the same turn's cost as exact, `$0.000043`, with ≈ only on the token counts (which a narrow
    chat leaves out first)."""
    configured.script("gpt-4o", step)
    code, out, err = run_cli(capsys, "ask", "-m", "openai/gpt-4o", PROMPT)
    [line] = [line for line in err.splitlines() if line.startswith("gpt-4o (override) · ")]
    cost = line.split(" · ")[1]
    assert cost.startswith("≈$"), line
    code, out, err = run_cli(capsys, "costs", "--format", "json")
    [row] = json.loads(out)["rows"]
    assert row["estimated_turns"] == 1 and cost == "≈" + usd(row["cost_usd"]), (cost, row)


# (model, reported usage, cost by hand from the snapshot's long-context prices)
LONG = [
    # GPT-5.4 over 272k: $5 in, $0.50 cached, $22.50 out per Mtok (base $2.50, $0.25, $15):
    # 200,000 x 5 + 100,000 x 0.50 + 2,000 x 22.50 = $1.095 (at the base rates, $0.555).
    ("openai/gpt-5.4", Reply(text="Done.", input_tokens=300_000, cached_tokens=100_000, output_tokens=2_000),
     1.095),
    # At 272,000 exactly the prompt is not over the threshold: base rates,
    # 172,000 x 2.50 + 100,000 x 0.25 + 2,000 x 15 = $0.485.
    ("openai/gpt-5.4", Reply(text="Done.", input_tokens=272_000, cached_tokens=100_000, output_tokens=2_000),
     0.485),
    # Claude Haiku 5.5 over 100k: Anthropic's input_tokens (20,000) leaves out the cache reads
    # (85,000) and writes (5,000): the prompt is 110,000, over the threshold. $0.50 in, $0.05
    # read, $0.625 write, $2.50 out per Mtok: 10,000 + 4,250 + 3,125 + 2,500 = $0.019875 (at the
    # base rates, or by input_tokens alone, $0.003975).
    ("anthropic/claude-haiku-5-5", Reply(text="Done.", input_tokens=20_000, cached_tokens=85_000,
                                         cache_write_tokens=5_000, output_tokens=1_000), 0.019875),
]


@pytest.mark.parametrize(("model", "reply", "expected"), LONG, ids=["gpt-5.4 over 272k", "gpt-5.4 at 272k",
                                                                    "haiku-5.5 over 100k with cache"])
def test_a_long_prompt_is_billed_at_the_long_context_price(
        configured: FakeServer, chatroute_home: Path, capsys: pytest.CaptureFixture[str],
        model: str, reply: Reply, expected: float) -> None:
    """Google, OpenAI and Anthropic bill a request whose prompt (cache reads and writes
    included) is over a size at higher rates, output too; the price table lists them
    (`input_cost_per_token_above_272k_tokens`, ...). chatroute billed every prompt at the base
    rates: a 300k-token GPT-5.4 turn read $0.555 where OpenAI bills $1.095."""
    write_config(chatroute_home, configured, pool=[model])
    configured.script(model.split("/", 1)[1], reply)
    code, out, err = run_cli(capsys, "ask", "--json", PROMPT)
    assert code == 0, err
    turn = json.loads(out)
    assert turn["model"] == model and turn["tokens"]["estimated"] is False, turn
    assert turn["cost_usd"] == pytest.approx(expected), turn["cost_usd"]
    configured.script(model.split("/", 1)[1], reply)
    code, out, err = run_cli(capsys, "ask", "Who wrote Hamlet, and when?")
    [badge] = [line for line in err.splitlines() if line.startswith(model.split("/", 1)[1] + " ")]
    assert f" · {usd(turn['cost_usd'])} · " in badge, badge
    period = _costs_all(capsys)
    assert period["cost_usd"] == pytest.approx(2 * expected), period


def test_the_baseline_prices_a_sum_of_turns_at_the_base_rates(
        configured: FakeServer, chatroute_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A long-context price is one request's: two turns of 150,000 tokens each are never a
    300,000-token prompt. Against a GPT-5.4 baseline they cost 2 x (150,000 x $2.50 + 100 x $15)
    per Mtok = $0.753, not the over-272k rates' $1.5045."""
    write_config(chatroute_home, configured, pool=["openai/gpt-4o-mini"])
    for prompt in (PROMPT, "Who wrote Hamlet, and when?"):
        configured.script("gpt-4o-mini", Reply(text="Done.", input_tokens=150_000, output_tokens=100))
        code, _, err = run_cli(capsys, "ask", prompt)
        assert code == 0, err
    code, out, err = run_cli(capsys, "costs", "--baseline", "openai/gpt-5.4", "--format", "json")
    assert code == 0, err
    period = json.loads(out)["periods"]["all"]
    assert period["turns"] == 2 and period["baseline_cost_usd"] == pytest.approx(0.753), period


ANSWER = "Hamlet feigns madness, kills Polonius, and dies avenging his father."


@pytest.mark.parametrize(("delta_usage", "tokens", "expected"), [
    # SGLang's Anthropic endpoint writes input_tokens 0 in message_delta (the input is
    # message_start's): 1,000 x $1 + 40 x $5 per Mtok = $0.0012, not $0.0002 for no input.
    ({"input_tokens": 0, "output_tokens": 40}, (1_000, 40, 0), 0.0012),
    # Anthropic restates its counts there, the input grown (a server tool's results):
    # 1,500 x $1 + 2,000 x $0.10 + 40 x $5 = $0.0019.
    ({"input_tokens": 1_500, "cache_read_input_tokens": 2_000, "cache_creation_input_tokens": 0,
      "output_tokens": 40}, (3_500, 40, 2_000), 0.0019),
], ids=["input written as 0", "input restated larger"])
def test_message_delta_usage_updates_but_never_erases_message_start(
        configured: FakeServer, capsys: pytest.CaptureFixture[str],
        delta_usage: dict[str, int], tokens: tuple[int, int, int], expected: float) -> None:
    """message_delta's counts are cumulative: a larger input there is the bill, a 0 is a server
    that does not restate it, not a free prompt."""
    cached = delta_usage.get("cache_read_input_tokens", 0)
    configured.script("claude-haiku-4-5", Reply(text=ANSWER, input_tokens=1_000, cached_tokens=cached,
                                                delta_usage=delta_usage))
    code, out, err = run_cli(capsys, "ask", "--json", "-m", "anthropic/claude-haiku-4-5", PROMPT)
    assert code == 0, err
    turn = json.loads(out)
    got = turn["tokens"]
    assert (got["input"], got["output"], got["cached"], got["estimated"]) == (*tokens[:2], cached, False), got
    assert turn["cost_usd"] == pytest.approx(expected), turn["cost_usd"]


def test_no_output_count_in_message_delta_is_estimated_not_one_token(
        configured: FakeServer, capsys: pytest.CaptureFixture[str]) -> None:
    """message_start's output_tokens is a placeholder (1); a server that reports no usage in
    message_delta has not said how long the answer was. It was billed as exactly 1 output token;
    the output is now counted from the text, and marked estimated."""
    configured.script("claude-haiku-4-5", Reply(text=ANSWER, input_tokens=1_000, delta_usage={}))
    code, out, err = run_cli(capsys, "ask", "--json", "-m", "anthropic/claude-haiku-4-5", PROMPT)
    assert code == 0, err
    turn = json.loads(out)
    got = turn["tokens"]
    assert got["input"] == 1_000 and got["output"] >= len(ANSWER.split()) and got["estimated"] is True, got
    assert turn["cost_usd"] == pytest.approx((1_000 * 1 + got["output"] * 5) / 1e6), turn["cost_usd"]



@pytest.mark.parametrize(("extra", "expected"), [
    # BYOK: usage.cost is OpenRouter's fee from the credits; the provider billed the user's own
    # key cost_details.upstream_inference_cost. Paid in all: $0.00021 + $0.0042.
    ({"is_byok": True, "cost_details": {"upstream_inference_cost": 0.0042}}, 0.00441),
    # On credits OpenRouter fills upstream_inference_cost too, the same money as cost: once.
    ({"is_byok": False, "cost_details": {"upstream_inference_cost": 0.00021}}, 0.00021),
], ids=["byok", "credits"])
def test_an_openrouter_byok_turn_costs_the_fee_and_the_providers_bill(
        configured: FakeServer, chatroute_home: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], extra: dict[str, object], expected: float) -> None:
    """With the user's own provider key (BYOK) OpenRouter's usage.cost is its 5% fee alone: the
    turn read $0.00021 as exact, where it cost $0.00441."""
    _at_its_own_host(chatroute_home, configured, monkeypatch, "openrouter", OPENROUTER,
                     ["openrouter/anthropic/claude-sonnet-4.5"])
    configured.script("anthropic/claude-sonnet-4.5", Reply(text=ANSWER, input_tokens=1_000, output_tokens=200,
                                                           cost=0.00021, usage_extra=extra))
    code, out, err = run_cli(capsys, "ask", "--json", PROMPT)
    assert code == 0, err
    turn = json.loads(out)
    assert turn["cost_usd"] == pytest.approx(expected) and turn["price_source"] == "provider", turn
    assert _costs_all(capsys)["cost_usd"] == pytest.approx(expected)



@pytest.mark.parametrize("in_choice", [False, True], ids=["usage chunk", "usage in the choice"])
def test_kimi_cache_hits_and_streamed_usage_are_read(
        configured: FakeServer, chatroute_home: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], in_choice: bool) -> None:
    """Kimi reports its cache hits as a top-level usage.cached_tokens (no prompt_tokens_details),
    and its stream puts the usage inside the finishing choice. Kimi K2.5, 10,000 in of which
    8,000 cached, 500 out, at $0.60 in, $0.10 cached, $3 out per Mtok: 2,000 x 0.60 + 8,000 x
    0.10 + 500 x 3 = $0.0035. The hits were billed as plain input ($0.0075); the usage in the
    choice was not read at all, so the turn was an estimate."""
    _at_its_own_host(chatroute_home, configured, monkeypatch, "moonshot", MOONSHOT, ["moonshot/kimi-k2.5"])
    configured.script("kimi-k2.5", Reply(text=ANSWER, input_tokens=10_000, output_tokens=500,
                                         usage_extra={"prompt_tokens_details": None, "cached_tokens": 8_000},
                                         usage_in_choice=in_choice))
    code, out, err = run_cli(capsys, "ask", "--json", PROMPT)
    assert code == 0, err
    turn = json.loads(out)
    got = turn["tokens"]
    assert (got["input"], got["cached"], got["output"], got["estimated"]) == (10_000, 8_000, 500, False), got
    assert turn["cost_usd"] == pytest.approx(0.0035), turn["cost_usd"]


def test_gemini_thinking_counted_only_in_total_tokens_is_billed(
        configured: FakeServer, chatroute_home: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Gemini's OpenAI-compatible endpoint counts a thinking model's thoughts in total_tokens
    alone: no reasoning_tokens, completion_tokens the visible text (prompt 1,000 + completion 200
    < total 1,900: 700 thought). Gemini bills the thoughts as output: Gemini 2.5 Flash at $0.30 in,
    $2.50 out per Mtok, 1,000 x 0.30 + 900 x 2.50 = $0.00255, not the $0.0008 of the text."""
    _at_its_own_host(chatroute_home, configured, monkeypatch, "gemini", GEMINI, ["gemini/gemini-2.5-flash"])
    configured.script("gemini-2.5-flash", Reply(text=ANSWER, input_tokens=1_000, output_tokens=200,
                                                usage_extra={"completion_tokens_details": None,
                                                             "total_tokens": 1_900}))
    code, out, err = run_cli(capsys, "ask", "--json", PROMPT)
    assert code == 0, err
    turn = json.loads(out)
    assert turn["model"] == "gemini/gemini-2.5-flash" and turn["tokens"]["output"] == 900, turn["tokens"]
    assert turn["cost_usd"] == pytest.approx(0.00255), turn["cost_usd"]


@pytest.mark.parametrize(("marker", "expected"), [(False, 1.095), (True, 0.555)],
                         ids=["refreshed by an earlier version", "refreshed without them"])
def test_a_table_refreshed_before_long_context_prices_were_kept_still_has_them(
        configured: FakeServer, chatroute_home: Path, capsys: pytest.CaptureFixture[str],
        marker: bool, expected: float) -> None:
    """`chatroute prices update` run by an earlier version trimmed the feed's long-context prices
    away, and its table, newer than the snapshot, prices the model: the 300k GPT-5.4 turn read
    $0.555 again. The snapshot's tiers stand in where the refreshed entry prices the model as
    the snapshot does. A table refreshed by this version that has none keeps none."""
    from chatroute.catalog.prices import LONG_CONTEXT_KEPT, TIER_FIELD, load_bundled

    models = {k: {f: v for f, v in e.items() if not TIER_FIELD.fullmatch(f)} for k, e in load_bundled().models.items()}
    meta: dict[str, object] = {"source": "test", "as_of": "2026-12-01", "models_in_source": 3883}
    if marker:
        meta[LONG_CONTEXT_KEPT] = True
    (chatroute_home / "prices.json").write_text(json.dumps({"meta": meta, "models": models}))
    write_config(chatroute_home, configured, pool=["openai/gpt-5.4"])
    configured.script("gpt-5.4", LONG[0][1])
    code, out, err = run_cli(capsys, "ask", "--json", PROMPT)
    assert code == 0, err
    turn = json.loads(out)
    assert turn["price_source"] == "refreshed" and turn["cost_usd"] == pytest.approx(expected), turn


def test_a_perplexity_turn_costs_its_request_fee_too(
        configured: FakeServer, chatroute_home: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Perplexity bills a fee per request (its web search) on top of the tokens, and reports the
    whole in usage.cost, an object whose total_cost is the bill. Sonar, 500 in and 300 out at $1
    per Mtok each, plus a $0.005 request fee: $0.0058. chatroute priced the tokens alone, $0.0008,
    as exact."""
    _at_its_own_host(chatroute_home, configured, monkeypatch, "perplexity", PERPLEXITY, ["perplexity/sonar"])
    cost = {"input_tokens_cost": 0.0005, "output_tokens_cost": 0.0003, "request_cost": 0.005, "total_cost": 0.0058}
    configured.script("sonar", Reply(text=ANSWER, input_tokens=500, output_tokens=300,
                                     usage_extra={"search_context_size": "low", "cost": cost}))
    code, out, err = run_cli(capsys, "ask", "--json", PROMPT)
    assert code == 0, err
    turn = json.loads(out)
    assert turn["model"] == "perplexity/sonar" and turn["cost_usd"] == pytest.approx(0.0058), turn
    assert turn["price_source"] == "provider"
    assert _costs_all(capsys)["cost_usd"] == pytest.approx(0.0058)
