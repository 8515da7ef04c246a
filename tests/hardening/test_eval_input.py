"""`chatroute eval` on hostile input files: each is one line on
stderr and exit 2, run as a real process; a good file still scores."""

from __future__ import annotations

import gzip
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


def _good_rows() -> list[dict[str, object]]:
    return [{**GOOD, "turns": [f"question {i}: " + "why " * i], "scores": {"weak": i % 2, "strong": 1}}
            for i in range(8)]


def _gzipped(rows: list[dict[str, object]]) -> bytes:
    return gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode())


def test_damaged_gzip_is_one_line_exit_2(tmp_path: Path) -> None:
    data = bytearray(_gzipped(_good_rows() * 40))
    data[100:110] = bytes(10)  # the compressed stream, past the header
    path = tmp_path / "rows.jsonl.gz"
    path.write_bytes(bytes(data))
    child = run_subprocess("eval", str(path))
    err = child.stderr.decode()
    assert child.returncode == 2 and "Traceback" not in err and err.count("\n") == 1, err
    assert err.startswith(f"chatroute: error: not a labelled routing file: {path}: damaged gzip data"), err


def test_gzip_is_read_by_its_bytes_and_standard_input_by_dash(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"  # compressed, though the name says otherwise
    path.write_bytes(_gzipped(_good_rows()))
    child = run_subprocess("eval", "--json", str(path))
    assert child.returncode == 0, child.stderr.decode()
    assert json.loads(child.stdout)["mmlu"]["n"] == 8
    piped = run_subprocess("eval", "--json", "-", stdin=_gzipped(_good_rows()))
    assert piped.returncode == 0, piped.stderr.decode()
    assert json.loads(piped.stdout) == json.loads(child.stdout)


@pytest.mark.parametrize(("args", "says"), [
    (["--weak", "nope"], "--weak 'nope': no row of the file scores that model (it scores: strong, weak)"),
    (["--strong", "gpt-5"], "--strong 'gpt-5': no row of the file scores that model (it scores: strong, weak)"),
    (["--weak", "strong", "--strong", "strong"], "--weak and --strong are both 'strong': name two different models"),
], ids=["unknown-weak", "unknown-strong", "same-twice"])
def test_a_model_the_file_does_not_score_is_one_line_exit_2(tmp_path: Path, args: list[str], says: str) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in _good_rows()))
    child = run_subprocess("eval", *args, str(path))
    assert child.returncode == 2 and child.stderr.decode() == f"chatroute: error: {says}\n"


def test_a_folder_and_bytes_that_are_not_utf8_are_said_plainly(tmp_path: Path) -> None:
    child = run_subprocess("eval", str(tmp_path))
    assert child.returncode == 2
    said = f"chatroute: error: {tmp_path}: is a folder; give a labelled JSONL or JSONL.gz file\n"
    assert child.stderr.decode() == said
    path = tmp_path / "rows.jsonl"
    path.write_bytes(json.dumps(GOOD).encode() + b"\n" + b'{"turns": ["caf\xe9"]}\n')
    child = run_subprocess("eval", str(path))
    assert child.returncode == 2
    assert child.stderr.decode() == f"chatroute: error: not a labelled routing file: {path}:2: not UTF-8 text\n"


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
    assert err == (f"chatroute: error: not a labelled routing file: {path}:4: the score of 'strong' "
                   f"{says} (scores are finite, within ±1,000,000)\n")
    assert child.stdout == b""


def test_a_file_where_nothing_can_be_scored_is_exit_2(tmp_path: Path) -> None:
    """One labelled row: the report said "fewer than two prompts scored" and the command exited
    0, as if it had measured something."""
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(GOOD) + "\n")
    for args in ((), ("--json",)):
        child = run_subprocess("eval", *args, str(path))
        err = child.stderr.decode()
        assert child.returncode == 2 and "Traceback" not in err, err
        assert "no dataset had two prompts scored for both models" in err
        assert b"fewer than two prompts scored" in child.stdout  # the report still says why


def test_a_dataset_with_one_scored_model_is_reported_and_the_others_are_scored(tmp_path: Path) -> None:
    """README: each dataset is scored on its own, and rows lacking a score for either model are
    skipped and counted. One row with no dataset (so in `all`) scoring a single model refused the
    whole file: `not a labelled routing file (need at least two scored models)`, exit 2."""
    path = tmp_path / "rows.jsonl"
    stray = {"turns": ["What is 3 + 3?"], "scores": {"strong": 1.0}}
    path.write_text("".join(json.dumps(r) + "\n" for r in [*_good_rows(), stray]))
    child = run_subprocess("eval", str(path))
    out, err = child.stdout.decode(), child.stderr.decode()
    assert child.returncode == 0, err
    assert "mmlu: weak weak vs strong strong  (n=8, skipped 0)" in out and "router" in out
    assert "all: weak strong vs strong strong  (n=0, skipped 1)" in out
    assert "only one model is scored here (strong): a weak and a strong one are needed" in out
    child = run_subprocess("eval", "--json", str(path))
    report = json.loads(child.stdout)
    assert child.returncode == 0 and report["mmlu"]["n"] == 8 and "error" not in report["mmlu"]
    assert report["all"]["skipped"] == 1 and "only one model" in report["all"]["error"]
