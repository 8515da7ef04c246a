"""`chatroute costs` marks with ≈ each figure part of which is estimated: the rows of `--by day`,
`model`, `conversation` and `client` that hold a turn priced without a usage report (here an
interrupted stream), and in the totals the baseline and the savings resting on one, and the
cache's saving, which is always an estimate. CSV and JSON say it per row (`estimated_turns`).

Before, only the totals' spend carried the ≈: a row read as exact with an estimate in it."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chatroute.store import Store, TurnRecord
from chatroute.store.spend import OWN_CHAT
from tests.engine.helpers import ask_json, run_cli
from tests.fakeserver import Drop, FakeServer, Reply

pytestmark = pytest.mark.usefixtures("configured")

MINI, GPT4O = "openai/gpt-4o-mini", "openai/gpt-4o"
EDITOR = "my-editor"


def _exact_and_interrupted(capsys: pytest.CaptureFixture[str], server: FakeServer) -> tuple[str, str]:
    """One turn with the server's usage report, one stream cut before its report (estimated).
    Returns their conversation ids."""
    server.script("gpt-4o-mini", Reply(text="an answer with its usage", input_tokens=120, output_tokens=30))
    code, exact = ask_json(capsys, "--no-cache", "-m", MINI, "a question answered in full")
    assert code == 0 and exact["tokens"]["estimated"] is False
    server.script("gpt-4o", Drop(after_chunks=3, text="this answer will be cut off in the middle of a sentence"))
    code, cut = ask_json(capsys, "--no-cache", "-m", GPT4O, "a question whose answer is cut off")
    assert code == 1 and cut["status"] == "interrupted" and cut["tokens"]["estimated"] is True
    assert cut["cost_usd"] > 0
    return exact["conversation_id"], cut["conversation_id"]


def _other_turns(conversation_id: str) -> None:
    """Yesterday's turn of the exact conversation, and a request a client of `serve` sent:
    both with reported usage."""
    yesterday = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT12:00:00.000Z")
    with Store.open() as store:
        for conv, client, at in ((conversation_id, None, yesterday), (None, EDITOR, None)):
            store.add_turn(TurnRecord(conversation_id=conv, message_id=None, model=MINI, provider="openai",
                                      input_tokens=80, output_tokens=20, cost_usd=0.00002, client=client,
                                      **({"created_at": at} if at else {})))


def _json_rows(capsys: pytest.CaptureFixture[str], by: str) -> list[dict[str, Any]]:
    code, out, err = run_cli(capsys, "costs", "--by", by, "--format", "json")
    assert code == 0, err
    return json.loads(out)["rows"]  # type: ignore[no-any-return]


def _table_costs(capsys: pytest.CaptureFixture[str], by: str, labels: list[str]) -> dict[str, str]:
    """The cost cell of each row of the `--by` table, by its label."""
    code, out, err = run_cli(capsys, "costs", "--by", by)
    assert code == 0, err
    rows = out.split("\n\n")[1].splitlines()  # the periods' table, then the rows'
    assert rows[0].split()[0] == by and rows[0].split()[-1] == "cost"
    cells = {}
    for label in labels:
        [line] = [r for r in rows[2:] if r.startswith(label + " ")]
        cells[label] = " ".join(line[len(label):].split()[4:])  # after turns, input, output, cached
    return cells


def _csv_rows(capsys: pytest.CaptureFixture[str], by: str) -> dict[str, dict[str, str]]:
    code, out, err = run_cli(capsys, "costs", "--by", by, "--format", "csv")
    assert code == 0, err
    return {r[by]: r for r in csv.DictReader(io.StringIO(out))}


def _assert_marked(capsys: pytest.CaptureFixture[str], by: str, estimated: dict[str, int]) -> None:
    """`estimated`: each row's label (as the table and the CSV show it) -> its estimated turns."""
    rows = {(r["label"] or r["key"]) if by in ("conversation", "client") else r["key"]: r
            for r in _json_rows(capsys, by)}
    assert {label: r["estimated_turns"] for label, r in rows.items()} == estimated, by
    cells = _table_costs(capsys, by, list(estimated))
    for label, n in estimated.items():
        assert cells[label].startswith("≈") == bool(n), (by, label, cells[label])
        assert cells[label].lstrip("≈").startswith("$"), cells[label]
    assert {label: int(r["estimated_turns"]) for label, r in _csv_rows(capsys, by).items()} == estimated, by


def test_each_row_holding_an_estimated_turn_is_marked(capsys: pytest.CaptureFixture[str],
                                                      configured: FakeServer) -> None:
    exact_conv, cut_conv = _exact_and_interrupted(capsys, configured)
    _other_turns(exact_conv)
    today = datetime.now(UTC).date()

    _assert_marked(capsys, "day", {today.isoformat(): 1, (today - timedelta(days=1)).isoformat(): 0})
    _assert_marked(capsys, "model", {GPT4O: 1, MINI: 0})
    titles = {r["key"]: r["label"] for r in _json_rows(capsys, "conversation")}
    _assert_marked(capsys, "conversation", {titles[cut_conv]: 1, titles[exact_conv]: 0, titles[None]: 0})
    _assert_marked(capsys, "client", {OWN_CHAT: 1, EDITOR: 0})


def test_an_estimated_turn_with_no_known_price_marks_no_n_a(capsys: pytest.CaptureFixture[str],
                                                            configured: FakeServer) -> None:
    """≈ goes on an amount: a row whose every cost is unknown shows n/a, not ≈n/a."""
    with Store.open() as store:
        conv = store.create_conversation("unpriced")
        store.add_turn(TurnRecord(conversation_id=conv.id, message_id=None, model="local/qwen", provider="local",
                                  input_tokens=10, output_tokens=5, cost_usd=None, usage_estimated=True,
                                  status="interrupted"))
    assert [r["estimated_turns"] for r in _json_rows(capsys, "model")] == [1]
    assert _table_costs(capsys, "model", ["local/qwen"]) == {"local/qwen": "n/a (+1 n/a)"}


def _totals_row(capsys: pytest.CaptureFixture[str], name: str) -> list[str]:
    code, out, err = run_cli(capsys, "costs", "--baseline", GPT4O)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["period", "turns", "spent", "on", GPT4O, "routing", "saved", "your", "picks",
                                "saved", "cache", "saved"]
    [row] = [line.split() for line in lines[2:6] if line.split()[0] == name]
    return row[2:]


def _routed(capsys: pytest.CaptureFixture[str], server: FakeServer, prompt: str, reply: Reply) -> dict[str, Any]:
    model = json.loads(run_cli(capsys, "route", "--json", prompt)[1])["model"]
    assert model != GPT4O
    server.script(model.split("/", 1)[1], reply)
    code, out = ask_json(capsys, prompt)
    assert code == 0 and out["route"]["kind"] == "routed"
    return out


def _cut(capsys: pytest.CaptureFixture[str], server: FakeServer, model: str) -> None:
    """A turn whose model the user named, cut before its usage report: estimated."""
    server.script(model.split("/", 1)[1], Drop(after_chunks=3, text="this answer will be cut off in the middle"))
    code, cut = ask_json(capsys, "--no-cache", "-m", model, f"a question {model} answers only in part")
    assert code == 1 and cut["tokens"]["estimated"] is True and cut["cost_usd"] > 0


def test_the_baseline_and_the_savings_are_marked_where_they_rest_on_an_estimate(
        capsys: pytest.CaptureFixture[str], configured: FakeServer) -> None:
    """The baseline prices the same token counts, an estimated turn's too, and the saving is
    the difference; a cache hit's saving is the price of an answer nobody asked for, counted by
    a tokenizer: always an estimate."""
    prompt = "What is the capital of Italy?"
    first = _routed(capsys, configured, prompt, Reply(text="Rome.", input_tokens=1000, output_tokens=100))
    assert first["tokens"]["estimated"] is False
    code, hit = ask_json(capsys, prompt)
    assert code == 0 and hit["cache"] == "hit" and hit["saved_usd"] > 0
    assert _totals_row(capsys, "all") == [ANY_EXACT, ANY_EXACT, ANY_EXACT, "–", ANY_ESTIMATE]

    # On the baseline model itself: the spend and the baseline rest on an estimate, the saving
    # does not (a turn saves exactly $0 against its own model).
    _cut(capsys, configured, GPT4O)
    assert _totals_row(capsys, "all") == [ANY_ESTIMATE, ANY_ESTIMATE, ANY_EXACT, "$0.00", ANY_ESTIMATE]
    _cut(capsys, configured, MINI)
    assert _totals_row(capsys, "all") == [ANY_ESTIMATE, ANY_ESTIMATE, ANY_EXACT, ANY_ESTIMATE, ANY_ESTIMATE]
    routed = _routed(capsys, configured, "Write a haiku about the sea.", Reply(text="Waves fold.", omit_usage=True))
    assert routed["tokens"]["estimated"] is True
    assert _totals_row(capsys, "all") == [ANY_ESTIMATE] * 5

    code, out, err = run_cli(capsys, "costs", "--baseline", GPT4O, "--format", "json")
    everything = json.loads(out)["periods"]["all"]
    assert (everything["estimated_turns"], everything["estimated_baseline_turns"], everything["estimated_chosen_turns"],
            everything["estimated_routed_turns"]) == (3, 3, 1, 1)
    assert "cache saved is always an estimate" in run_cli(capsys, "costs")[1]


def _verdict(capsys: pytest.CaptureFixture[str]) -> str:
    code, out, err = run_cli(capsys, "costs", "--baseline", GPT4O, "--format", "json")
    assert code == 0, err
    return str(json.loads(out)["verdict"])


def test_the_verdict_marks_what_rests_on_an_estimate(capsys: pytest.CaptureFixture[str],
                                                      configured: FakeServer) -> None:
    """The sentence under the tables says the same as the cells above it: before, it said
    'routing saved $0.0012' of a saving the table marked ≈."""
    _routed(capsys, configured, "What is the capital of Italy?", Reply(text="Rome.", input_tokens=1000,
                                                                       output_tokens=100))
    assert "≈" not in _verdict(capsys)
    _cut(capsys, configured, MINI)  # a pick, on another model than the baseline, estimated
    said = _verdict(capsys)
    assert "On the turns it routed, routing saved $" in said and "whose model you chose" in said
    assert "(pins, overrides, compare) saved ≈$" in said
    _routed(capsys, configured, "Write a haiku about the sea.", Reply(text="Waves fold.", omit_usage=True))
    assert "On the turns it routed, routing saved ≈$" in _verdict(capsys)
    code, hit = ask_json(capsys, "What is the capital of Italy?")
    assert hit["cache"] == "hit"
    assert "The cache saved a further ≈$" in _verdict(capsys)


class _Amount:
    def __init__(self, estimated: bool) -> None:
        self.estimated = estimated

    def __eq__(self, cell: object) -> bool:
        return isinstance(cell, str) and cell.startswith("≈$" if self.estimated else "$")

    def __repr__(self) -> str:
        return "≈$…" if self.estimated else "$…"


ANY_EXACT, ANY_ESTIMATE = _Amount(False), _Amount(True)


def test_an_older_database_counts_its_estimated_turns_when_upgraded(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Turns written by the previous schema (7), the estimated one among them, are counted
    into the rows' marks by the first open of this version."""
    import chatroute.store.db as db

    with monkeypatch.context() as m:
        m.setattr(db, "SCHEMA_VERSION", 7)  # the release before the rows counted estimates
        m.setattr(db, "MIGRATIONS", db.MIGRATIONS[:7])
        to_row = TurnRecord.to_row  # the turns of schema 7 have no price_source (schema 9)
        m.setattr(TurnRecord, "to_row", lambda r: {k: v for k, v in to_row(r).items() if k != "price_source"})
        exact_conv, cut_conv = _exact_and_interrupted(capsys, configured)
        _other_turns(exact_conv)
        with Store.open(chatroute_home / "chatroute.db") as old:
            assert old.schema_version() == 7
    with Store.open(chatroute_home / "chatroute.db") as new:
        assert new.schema_version() == db.SCHEMA_VERSION
    _assert_marked(capsys, "model", {GPT4O: 1, MINI: 0})
    titles = {r["key"]: r["label"] for r in _json_rows(capsys, "conversation")}
    _assert_marked(capsys, "conversation", {titles[cut_conv]: 1, titles[exact_conv]: 0, titles[None]: 0})
    _assert_marked(capsys, "client", {OWN_CHAT: 1, EDITOR: 0})
    today = datetime.now(UTC).date()
    _assert_marked(capsys, "day", {today.isoformat(): 1, (today - timedelta(days=1)).isoformat(): 0})
