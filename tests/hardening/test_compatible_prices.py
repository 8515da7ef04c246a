"""What hosted OpenAI-compatible services cost, as chatroute prices and says it: OpenRouter
configured as it is hosted (https://openrouter.ai, so priced as OpenRouter), its requests sent to
the fake server through an HTTP proxy. Real `chatroute` commands."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.engine.helpers import run_cli, write_config
from tests.fakeserver import FakeServer, Reply

PROMPT = "Summarise the plot of Hamlet in two lines."
SONNET = "openrouter/anthropic/claude-sonnet-4.5"


def _openrouter(home: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch, pool: list[str]) -> None:
    """OpenRouter at its own host (plain http, so a proxy can stand in for it) beside OpenAI
    and Anthropic, whose own models the catalogue lists too."""
    monkeypatch.setenv("TEST_OPENROUTER_KEY", "sk-or-v1-test")
    monkeypatch.setenv("HTTP_PROXY", server.openai_base_url.rsplit("/v1", 1)[0])
    monkeypatch.setenv("NO_PROXY", "")
    write_config(home, server, pool=pool, extra="""
[providers.openrouter]
base_url = "http://openrouter.ai/api/v1"
api_key_env = "TEST_OPENROUTER_KEY"
""")


def _suggested(line: str) -> list[str]:
    return line.split("did you mean ", 1)[1].split("?", 1)[0].split(", ") if "did you mean " in line else []


def test_a_name_openrouter_does_not_price_is_never_suggested_another_providers_model(
        configured: FakeServer, chatroute_home: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """`openrouter/anthropic/claude-sonet-4.5` was answered 'did you mean
    anthropic/claude-sonnet-4-5, anthropic/claude-sonnet-5, …': Anthropic's own models, another
    provider with another key, not a name to write under OpenRouter."""
    typo, llama = "openrouter/anthropic/claude-sonet-4.5", "openrouter/meta-llama/llama-3.3-70b-instruct"
    _openrouter(chatroute_home, configured, monkeypatch, ["openai/gpt-4o-mini", typo, llama, SONNET])
    code, _, err = run_cli(capsys, "models")
    assert code == 0, err
    said = {ref: line for line in err.splitlines() for ref in (typo, llama)
            if line.startswith(f"chatroute: warning: router.pool: '{ref}' is not in the price table for 'openrouter'")}
    assert set(said) == {typo, llama}, err
    assert _suggested(said[typo]) == [SONNET], said[typo]  # the pool's priced OpenRouter Sonnet, listed after it
    assert _suggested(said[llama]) == [], said[llama]  # nothing OpenRouter prices is close
    # A name given on the command line that OpenRouter does not price: its suggestions too.
    code, _, err = run_cli(capsys, "ask", "-m", "openrouter/anthropic/claude-sonnet-4.7", PROMPT)
    [line] = [line for line in err.splitlines() if line.startswith("chatroute: error:")]
    assert code == 2 and "for provider 'openrouter'" in line, line
    assert _suggested(line) and all(s.startswith("openrouter/") for s in _suggested(line)), line
    assert configured.requests == []


LLAMA = "openrouter/meta-llama/llama-3.3-70b-instruct"  # a name the price table does not list
OTHER = "Who wrote Hamlet, and when?"


def _cache_saved(capsys: pytest.CaptureFixture[str]) -> tuple[str, dict[str, Any], str, str]:
    """The `all` row's cache-saved cell of `costs`, its JSON period, and `cache stats`' saved line
    and JSON (as text)."""
    code, out, err = run_cli(capsys, "costs")
    assert code == 0, err
    [row] = [line for line in out.splitlines() if line.startswith("all ")]
    cell = re.split(r"\s{2,}", row)[-1]
    code, out, err = run_cli(capsys, "costs", "--format", "json")
    period = json.loads(out)["periods"]["all"]
    code, out, err = run_cli(capsys, "cache", "stats")
    [saved] = [line.split(None, 1)[1] for line in out.splitlines() if line.startswith("saved ")]
    code, stats, err = run_cli(capsys, "cache", "stats", "--json")
    return cell, period, saved, stats


def _answer_twice(capsys: pytest.CaptureFixture[str], prompt: str) -> dict[str, Any]:
    code, out, err = run_cli(capsys, "ask", "--json", prompt)
    assert code == 0 and json.loads(out)["cache"] == "miss", err
    code, out, err = run_cli(capsys, "ask", "--json", prompt)
    hit = json.loads(out)
    assert code == 0 and hit["cache"] == "hit", err
    return hit


def test_a_hit_whose_saving_cannot_be_priced_reads_na_not_nothing(
        configured: FakeServer, chatroute_home: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A model with no known price whose provider reports no cost: a hit of its answer saved an
    unknown amount. `costs` and `cache stats` said the cache saved $0.00, as if it saved nothing."""
    _openrouter(chatroute_home, configured, monkeypatch, [LLAMA])
    configured.script("meta-llama/llama-3.3-70b-instruct", Reply(text="Hamlet avenges his father; all die."))
    hit = _answer_twice(capsys, PROMPT)
    assert hit["saved_usd"] is None
    cell, period, saved, stats = _cache_saved(capsys)
    assert (cell, period["cache_hits"], period["cache_unpriced_hits"]) == ("n/a", 1, 1), cell
    assert saved == "n/a" and json.loads(stats)["unpriced_hits"] == 1, saved
    code, out, err = run_cli(capsys, "costs")
    assert "What the cache's 1 hit saved is not known (no known price)." in out, out
    assert "n/a: what 1 cache hit saved is unknown" in out, out


def test_a_hit_of_an_answer_the_provider_priced_saves_that_cost(
        configured: FakeServer, chatroute_home: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """OpenRouter reports what each answer cost (usage.cost), which prices the turn of a model
    the table does not know. A hit of that answer saves what asking the model again would cost:
    about that. An answer it did not price is still counted apart, n/a."""
    _openrouter(chatroute_home, configured, monkeypatch, [LLAMA])
    configured.script("meta-llama/llama-3.3-70b-instruct", Reply(text="Hamlet avenges his father; all die.",
                                                                 cost=0.0012))
    hit = _answer_twice(capsys, PROMPT)
    assert hit["saved_usd"] == pytest.approx(0.0012)
    configured.script("meta-llama/llama-3.3-70b-instruct", Reply(text="Shakespeare, around 1600."))
    assert _answer_twice(capsys, OTHER)["saved_usd"] is None
    cell, period, saved, stats = _cache_saved(capsys)
    assert cell == "≈$0.0012 (+1 n/a)" and (period["cache_hits"], period["cache_unpriced_hits"]) == (2, 1), cell
    assert period["cache_saved_usd"] == pytest.approx(0.0012)
    assert saved == cell, saved  # as costs writes it, ≈ and all (since 7d5cf1a)
    code, out, err = run_cli(capsys, "costs")
    assert "The cache saved a further ≈$0.0012 (+1 hit with no known price)." in out, out


async def test_the_costs_screen_says_the_unpriced_hits_apart(
        configured: FakeServer, chatroute_home: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The costs screen (F5) said 'the cache saved $0.00' under the same hits."""
    from textual.widgets import Static

    from chatroute.engine import Engine
    from chatroute.tui.app import ChatrouteApp
    from tests.tui.helpers import settle

    _openrouter(chatroute_home, configured, monkeypatch, [LLAMA, "openai/gpt-4o"])
    for prompt, cost in ((PROMPT, 0.0012), (OTHER, None)):
        configured.script("meta-llama/llama-3.3-70b-instruct", Reply(text=f"answer to {prompt}", cost=cost))
        # The CLI's own event loop, beside this test's.
        await asyncio.to_thread(run_cli, capsys, "ask", "-m", LLAMA, prompt)
        code, out, err = await asyncio.to_thread(run_cli, capsys, "ask", "--json", "-m", LLAMA, prompt)
        assert code == 0 and json.loads(out)["cache"] == "hit", err
    app = ChatrouteApp(Engine.open())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f5")
        await settle(pilot, app)
        said = str(app.screen.query_one("#baseline", Static).render())
    # b65186d: the screen goes on, as the CLI does, to name the turn its figures leave out.
    assert "the cache saved ≈$0.0012 (+1 n/a). 1 turn with no known price is left out" in said, said


GPT4O = "openrouter/openai/gpt-4o"  # priced from OpenAI's own entry in the table


def test_a_turn_priced_at_the_providers_reported_cost_is_not_dated_as_the_table(
        configured: FakeServer, chatroute_home: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """OpenRouter said what the answer cost (usage.cost), and that is the turn's cost; ask --json
    still gave the price table's date as the date of the price used."""
    from chatroute.catalog.prices import load_bundled

    _openrouter(chatroute_home, configured, monkeypatch, [GPT4O])
    configured.script("openai/gpt-4o", Reply(text="Hamlet avenges his father; all die.", cost=0.0031))
    code, out, err = run_cli(capsys, "ask", "--json", "--no-cache", PROMPT)
    answer = json.loads(out)
    assert code == 0 and answer["cost_usd"] == pytest.approx(0.0031), err
    assert (answer["price_as_of"], answer["price_source"]) == (None, "provider"), answer
    # A turn priced from the table says which one, and as of when.
    configured.script("openai/gpt-4o", Reply(text="Hamlet avenges his father; all die."))
    code, out, err = run_cli(capsys, "ask", "--json", "--no-cache", PROMPT)
    answer = json.loads(out)
    assert (answer["price_as_of"], answer["price_source"]) == (load_bundled().as_of, "bundled"), answer
    # compare --json says it as ask does.
    configured.script("openai/gpt-4o", Reply(text="one", cost=0.002))
    configured.script("gpt-4o-mini", Reply(text="two"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # OpenAI's own gpt-4o-mini is on the fake server itself
    code, out, err = run_cli(capsys, "compare", "--json", "-m", GPT4O, "-m", "openai/gpt-4o-mini", PROMPT)
    assert code == 0, err
    by = {a["model"]: a for a in json.loads(out)}
    assert (by[GPT4O]["price_as_of"], by[GPT4O]["price_source"]) == (None, "provider"), by[GPT4O]
