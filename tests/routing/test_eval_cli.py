"""`chatroute eval` on a fixture small enough to compute by hand."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from chatroute.cli import main

# Longest prompt first is the length router's order: gains (strong - weak) 1, 0, 1, 0.
ROWS = [
    {"id": "toy-0", "dataset": "toy", "turns": ["dddd"], "scores": {"weak-m": 0.0, "strong-m": 1.0}},
    {"id": "toy-1", "dataset": "toy", "turns": ["ccc"], "scores": {"weak-m": 1.0, "strong-m": 1.0}},
    {"id": "toy-2", "dataset": "toy", "turns": ["bb"], "scores": {"weak-m": 0.0, "strong-m": 1.0}},
    {"id": "toy-3", "dataset": "toy", "turns": ["a"], "scores": {"weak-m": 0.0, "strong-m": 0.0}},
]


@pytest.fixture
def fixture_file(tmp_path: Path) -> Path:
    path = tmp_path / "toy.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n", encoding="utf-8")
    return path


def test_eval_json_matches_hand_computed_figures(fixture_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(fixture_file), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    toy = result["toy"]
    # Defaults: the lowest- and highest-scoring models of the dataset.
    assert (toy["weak"], toy["strong"]) == ("weak-m", "strong-m")
    # weak mean 0.25, strong 0.75. Length curve, normalised: 0, .5, .5, 1, 1 at 0, 25, 50, 75, 100%
    # strong calls -> trapezoid area 0.625; 50% of the gap at 25% calls; 80% at 65% calls.
    assert toy["length"]["apgr"] == pytest.approx(0.625)
    assert toy["length"]["cpt50"] == pytest.approx(25.0)
    assert toy["length"]["cpt80"] == pytest.approx(65.0)
    assert toy["random"]["apgr"] == pytest.approx(0.5)
    assert 0.0 <= toy["router"]["apgr"] <= 1.0


def test_eval_table_and_explicit_pair(fixture_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(fixture_file), "--weak", "weak-m", "--strong", "strong-m"]) == 0
    out = capsys.readouterr().out
    assert "toy" in out and "length" in out and "0.625" in out


def test_eval_bad_input_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(tmp_path / "missing.jsonl")]) == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n", encoding="utf-8")
    assert main(["eval", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 2


def test_eval_shows_progress_on_a_terminal_and_clears_it(
        fixture_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from chatroute.routing import evaluate

    monkeypatch.setattr(evaluate, "PROGRESS_CHUNK", 2)
    assert main(["eval", str(fixture_file), "--json"]) == 0
    assert "prompts scored" not in capsys.readouterr().err  # into a pipe or file: no progress line
    with monkeypatch.context() as m:
        m.setattr(type(sys.stderr), "isatty", lambda self: True)
        assert main(["eval", str(fixture_file), "--json"]) == 0
    captured = capsys.readouterr()
    assert "toy: 2 / 4 prompts scored" in captured.err and "toy: 4 / 4 prompts scored" in captured.err
    assert captured.err.endswith(f"\r{' ' * len('toy: 4 / 4 prompts scored')}\r")  # cleared before the result
    assert json.loads(captured.out)["toy"]["n"] == 4  # stdout holds the result alone


def test_progress_on_a_dumb_narrow_terminal_is_one_line_without_escape_codes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """TERM=dumb prints an erase sequence as text ('←[K'), and a line wider than the terminal
    wraps, so each rewrite left a new row: the line is overwritten with spaces and cut to fit."""
    from chatroute.routing import evaluate

    monkeypatch.setattr(evaluate, "PROGRESS_CHUNK", 1)
    monkeypatch.setenv("TERM", "dumb")
    monkeypatch.setenv("COLUMNS", "20")
    name = "a-long-dataset-name-from-the-file"
    path = tmp_path / "long.jsonl"
    path.write_text("\n".join(json.dumps({**r, "dataset": name}) for r in ROWS) + "\n", encoding="utf-8")
    with monkeypatch.context() as m:
        m.setattr(type(sys.stderr), "isatty", lambda self: True)
        assert main(["eval", str(path), "--json"]) == 0
    err = capsys.readouterr().err
    assert "\x1b" not in err
    rewrites = err.split("scoring long.jsonl …\n", 1)[1].split("\r")
    assert rewrites[0] == "" and rewrites[-1] == ""
    assert all(len(line) <= 19 for line in rewrites), rewrites
    assert [line.strip() for line in rewrites if line.strip()] == ["1 / 4", "2 / 4", "3 / 4", "4 / 4"]
    monkeypatch.setenv("COLUMNS", "40")
    with monkeypatch.context() as m:
        m.setattr(type(sys.stderr), "isatty", lambda self: True)
        assert main(["eval", str(path), "--json"]) == 0
    rewrites = capsys.readouterr().err.split("\r")
    assert "a-long-dataset-n…: 4 / 4 prompts scored" in rewrites and all(len(line) <= 39 for line in rewrites)


def test_names_from_the_file_never_put_escape_sequences_on_the_screen(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    hostile = "toy\x1b]0;pwned\x07\x1b[2J"
    path = tmp_path / "hostile.jsonl"
    path.write_text("\n".join(json.dumps({**r, "dataset": hostile}) for r in ROWS) + "\n", encoding="utf-8")
    with monkeypatch.context() as m:
        m.setattr(type(sys.stderr), "isatty", lambda self: True)
        assert main(["eval", str(path)]) == 0
    captured = capsys.readouterr()
    for stream in (captured.out, captured.err):
        assert "\x07" not in stream and "]0;" not in stream and "\x1b[2J" not in stream
    assert captured.out.startswith("toy: weak weak-m vs strong strong-m")
    assert main(["eval", str(path), "--json"]) == 0
    assert hostile in json.loads(capsys.readouterr().out)  # JSON keeps the name, escaped
