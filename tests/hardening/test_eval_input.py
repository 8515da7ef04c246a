"""`chatroute eval` on hostile input files: each is one line on
stderr and exit 2, run as a real process; a good file still scores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.engine.helpers import run_subprocess

GOOD = {"dataset": "mmlu", "turns": ["What is 2 + 2?"], "scores": {"weak": 0.0, "strong": 1.0}}


@pytest.mark.parametrize(("content", "says"), [
    ('{"turns": ' + "[" * 5000 + "]" * 5000 + ', "scores": {}}\n', "nested too deeply"),
    ('[["What is 2 + 2?"], {"weak": 0, "strong": 1}]\n', "must be a JSON object, not a list"),
    ('"What is 2 + 2?"\n', "must be a JSON object, not a string"),
    (json.dumps({**GOOD, "scores": {"weak": {"x": 1}, "strong": 1}}) + "\n", "is an object, not a number"),
    (json.dumps(GOOD) + '\n{"turns": ["q"], "scores": {"weak": NaN, "strong": 1}}\n', "non-finite"),
    ("", "no labelled rows"),
    ("\n  \n", "no labelled rows"),
], ids=["nested-5000", "list-line", "string-line", "object-score", "nan-score", "empty", "blank-lines"])
def test_hostile_eval_input_is_one_line_exit_2(tmp_path: Path, content: str, says: str) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text(content)
    child = run_subprocess("eval", str(path))
    err = child.stderr.decode()
    assert child.returncode == 2, err
    assert "Traceback" not in err and err.count("\n") == 1 and err.startswith("chatroute: error: "), err
    assert says in err and str(path) in err
    assert child.stdout == b""


def test_good_eval_file_still_scores(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    rows = [{**GOOD, "turns": [f"question {i}: " + "why " * i], "scores": {"weak": i % 2, "strong": 1}}
            for i in range(8)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    child = run_subprocess("eval", "--json", str(path))
    assert child.returncode == 0, child.stderr.decode()
    assert json.loads(child.stdout)["mmlu"]["n"] == 8


@pytest.mark.parametrize(("score", "says"), [
    ("1" + "0" * 400, "is 10000000000000000000… (401 digits), out of range"),
    ("-" + "9" * 400, "is -9999999999999999999… (400 digits), out of range"),
    ("1e400", "is infinite (a number beyond the float range), out of range"),
    ("-1e400", "is infinite (a number beyond the float range), out of range"),
    ("2e6", "is 2e+06, out of range"),
], ids=["400-digit", "400-digit negative", "1e400", "-1e400", "2e6"])
def test_a_score_out_of_range_is_one_line_exit_2(tmp_path: Path, score: str, says: str) -> None:
    rows = [json.dumps({**GOOD, "turns": [f"question {i}"], "scores": {"weak": i % 2, "strong": 1}})
            for i in range(8)]
    rows.insert(3, json.dumps({**GOOD, "scores": {"weak": 0, "strong": "@"}}).replace('"@"', score))
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(rows) + "\n")
    child = run_subprocess("eval", str(path))
    err = child.stderr.decode()
    assert child.returncode == 2, err
    assert err == (f"chatroute: error: {path}: not a labelled routing file ({path}:4: the score of 'strong' "
                   f"{says} (scores are finite, within ±1,000,000))\n")
    assert child.stdout == b""
