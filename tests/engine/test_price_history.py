"""A price refresh never reprices history: turns keep what they cost, and the baseline's own
turns are not made to save or lose against themselves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.catalog.helpers import make_feed, write_json
from tests.engine.helpers import ask_json, run_cli
from tests.fakeserver import FakeServer, Reply


def _raise_gpt4o(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """`prices update` with gpt-4o at twice its bundled price ($5 / $20 per Mtok)."""
    feed = make_feed()
    feed["gpt-4o"].update(input_cost_per_token=5e-6, output_cost_per_token=2e-5)
    code, out, err = run_cli(capsys, "prices", "update", "--from", str(write_json(tmp_path / "feed.json", feed)))
    assert code == 0 and "1 repriced" in out, err


def test_turns_answered_by_the_baseline_model_do_not_save_against_it_after_a_price_change(
        configured: FakeServer, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The baseline priced every old turn again at today's rate, its own model's turns too: after
    gpt-4o's price doubled, a turn gpt-4o had answered 'saved' its own cost against gpt-4o
    ('The 1 turn whose model you chose … saved $0.0035 against gpt-4o')."""
    configured.script("gpt-4o", Reply(text="old", input_tokens=1000, output_tokens=100))
    code, turn = ask_json(capsys, "-m", "openai/gpt-4o", "A question answered before the refresh")
    assert code == 0 and turn["cost_usd"] == pytest.approx(0.0035)
    _raise_gpt4o(capsys, tmp_path)
    code, out, err = run_cli(capsys, "costs", "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    everything = report["periods"]["all"]
    assert everything["cost_usd"] == pytest.approx(0.0035)  # not repriced
    assert everything["baseline_cost_usd"] == pytest.approx(0.0035)
    assert everything["chosen_saved_usd"] == 0 and everything["routing_saved_usd"] == 0
    assert "cost the same as gpt-4o" in report["verdict"]


def test_a_feed_that_drops_a_model_of_the_pool_says_what_it_is_priced_at_now(
        configured: FakeServer, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        chatroute_home: Path) -> None:
    """A newer feed without a model the pool uses was installed as '2 removed', nothing more:
    gpt-4o went quietly back to the bundled snapshot's older price, and a model only the last
    refresh had listed was routed to unpriced."""
    from tests.engine.helpers import write_config

    write_config(chatroute_home, configured, pool=["openai/gpt-4o-mini", "openai/gpt-4o", "anthropic/claude-new-9"])
    feed = make_feed()
    feed["gpt-4o"].update(input_cost_per_token=5e-6)
    feed["claude-new-9"] = {**feed["claude-haiku-4-5"]}
    run_cli(capsys, "prices", "update", "--from", str(write_json(tmp_path / "first.json", feed)))
    del feed["gpt-4o"], feed["claude-new-9"]
    code, out, err = run_cli(capsys, "prices", "update", "--from", str(write_json(tmp_path / "second.json", feed)))
    assert code == 0, err
    assert "2 removed" in out
    assert "openai/gpt-4o: not in the new prices; priced from the bundled snapshot" in err
    assert ("anthropic/claude-new-9: not in the new prices; it has no known price now "
            '(give it under [models."anthropic/claude-new-9"])') in err
    assert "gpt-4o-mini" not in err
