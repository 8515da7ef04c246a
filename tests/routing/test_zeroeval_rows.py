"""scripts/build_zeroeval_rows.py and scripts/difficulty_ceiling.py on data written here, in
ZeroEval's layout: each model's output is graded against the key, the rows read back as a source
loso_router scores but never trains on, and the GSM8K ceiling joins them to labelled rows by text."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scripts import build_zeroeval_rows as ze
from scripts import difficulty_ceiling as dc
from scripts import loso_router as lo
from tests.gitrepo import commit_all

ROOT = Path(__file__).resolve().parents[2]


def _output(answer: str) -> list[str]:
    body = json.dumps({"reasoning": "worked it out", "answer": answer}, indent=4)
    return [f"Here is my answer:\n\n```json\n{body}\n```"]


def _record(i: int, question: str, key: str, answer: str | None) -> dict:
    history = f"\n## Question: \n\n{question}\n\n\n## Instruction \n\nPlease answer in json."
    return {"id": i, "chat_history": [history], "answer": key,
            "output": _output(answer) if answer is not None else ["I am not sure."]}


# Written for these tests; not taken from MATH, CRUXEval or GSM8K.
_MATH = [("What is 3/6 in lowest terms?", "\\frac{1}{2}"), ("Find x if 2x = 10.", "5"),
         ("What is the square root of 2 squared times 2?", "2\\sqrt{2}")]
_MATH_ANSWERS: dict[str, list[str | None]] = {"weak-model": ["0.5", "x = 4", None],
                                              "strong-model": ["$\\dfrac12$", "\\boxed{5}", "2\\sqrt2"]}


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("zeroeval")
    math_dir = repo / "result_dirs" / "math-l5"
    math_dir.mkdir(parents=True)
    for model, answers in _MATH_ANSWERS.items():
        recs = [_record(i, q, k, a) for i, ((q, k), a) in enumerate(zip(_MATH, answers, strict=True))]
        (math_dir / f"{model}.json").write_text(json.dumps(recs))
    crux = repo / "result_dirs" / "crux"
    crux.mkdir(parents=True)
    (crux / "Mixtral-8x7B-Instruct-v0.1.json").write_text(json.dumps([
        _record(0, "def f(s): return s[::-1]\nassert f('ab') == ??", "'ba'", "ba"),
        _record(1, "def f(x): return [x]\nassert f(1) == ??", "[1]", "[1, 1]")]))
    commit_all(repo)
    return repo


def test_math_answers_are_graded_in_any_spelling_of_the_key(mirror: Path) -> None:
    rows = {r["turns"][0]: r["scores"] for r in ze.build(mirror / ".git", "math-l5")}
    assert rows["What is 3/6 in lowest terms?"] == {"weak-model": 1.0, "strong-model": 1.0}
    assert rows["Find x if 2x = 10."] == {"weak-model": 0.0, "strong-model": 1.0}
    assert rows["What is the square root of 2 squared times 2?"] == {"weak-model": 0.0, "strong-model": 1.0}


def test_a_plain_directory_reads_as_the_git_mirror_does(mirror: Path) -> None:
    assert ze.build(mirror, "math-l5") == ze.build(mirror / ".git", "math-l5")


def test_code_answers_are_compared_as_python_values_under_the_shared_model_names(mirror: Path) -> None:
    rows = ze.build(mirror / ".git", "crux")
    assert [r["scores"] for r in rows] == [{lo.WEAK: 1.0}, {lo.WEAK: 0.0}]
    assert rows[0]["turns"] == ["def f(s): return s[::-1]\nassert f('ab') == ??"]  # no answer-format instruction


@pytest.mark.parametrize(("answer", "key", "right"), [
    ("18", "Janet makes #### 18", True), ("$18.00", "# 18", True), ("1,000", "# 1000", True),
    ("17", "# 18", False), (None, "# 18", False), ("no idea", "# 18", False)])
def test_gsm8k_answers_are_graded_by_their_last_number(answer: str | None, key: str, right: bool) -> None:
    assert ze.grade_number(answer, key) is right


@pytest.mark.parametrize(("answer", "key", "right"), [
    ("'ba'", "'ba'", True), ("ba", "'ba'", True), ("(1, 'a')", "(1, 'a')", True), ("True", "True", True),
    ("1", "True", False), ("[1, 2]", "[1,2]", True), ("'  '", "'   '", False), ("None", "None", True)])
def test_code_answers_are_python_literals(answer: str, key: str, right: bool) -> None:
    assert ze.grade_literal(answer, key) is right


def test_the_answer_is_the_last_json_answer_field() -> None:
    assert ze.answer_of(["draft: \"answer\": \"1\" ... final:\n{\"answer\": \"2\"}"]) == "2"
    assert ze.answer_of(["{\"answer\": 42}"]) == "42"
    assert ze.answer_of(["no json at all"]) is None
    assert ze.answer_of(None) is None


def test_the_cli_writes_rows_loso_scores_but_never_trains_on(mirror: Path, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "scripts/build_zeroeval_rows.py", str(mirror / ".git"), "--out-dir",
                           str(tmp_path), "--task", "crux"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "crux: 2 problems, 1 models" in done.stdout
    crux = lo.load_rows([tmp_path / "zeroeval_crux.jsonl.gz"])
    assert {r["dataset"] for r in crux} == {"zeroeval_crux"}
    rows = _trainable() + crux
    splits = {s.name: s for s in lo.make_splits(rows)}
    scored = splits["zeroeval_crux (never trained on)"]
    assert scored.pairs == lo.PAIRS_OF["zeroeval_crux"]
    for split in splits.values():
        lo.check_no_leak(split, rows)
        assert not any(rows[i]["dataset"] == "zeroeval_crux" for i in split.train)


def test_a_missing_mirror_is_a_clear_error(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "scripts/build_zeroeval_rows.py", str(tmp_path / "nowhere")], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 2 and "not a directory" in done.stderr and "Traceback" not in done.stderr


def _trainable() -> list[dict]:
    rows = []
    for i in range(12):
        for ds in ("mmlu", "gsm8k", "arena_bench_v1"):
            rows.append({"id": f"{ds}-{i}", "dataset": ds, "turns": [f"{ds} question {i} " + "w" * i],
                         "scores": {lo.STRONG: float(i % 3 > 0), lo.WEAK: float(i % 2 == 0)}})
    return rows


# --------------------------------------------------------------------------- the GSM8K ceiling


def _ceiling_rows(n: int = 40) -> tuple[list[dict], list[dict]]:
    """Labelled rows whose label follows a hidden difficulty, and a ZeroEval-like file in which
    other models fail exactly the hard questions; the label models' own ZeroEval scores say
    the opposite, so only leaving them out gives the difficulty."""
    rng = np.random.default_rng(0)
    hard = rng.random(n) < 0.4
    labelled, zeroeval = [], []
    for i in range(n):
        q = f"Question {i}: how many apples are left?"
        labelled.append({"id": f"gsm8k-{i}", "dataset": "gsm8k", "turns": [q],
                         "scores": {dc.WEAK: 0.0 if hard[i] else 1.0, dc.STRONG: 1.0}})
        others = {f"model-{k}": 0.0 if hard[i] else 1.0 for k in range(3)}
        zeroeval.append({"id": f"z{i}", "dataset": "zeroeval_gsm8k", "turns": [q.upper() + "  "],
                         "scores": {**others, dc.WEAK: 1.0 if hard[i] else 0.0, "gpt-4o-2024-05-13": 1.0}})
    labelled.append({"id": "gsm8k-x", "dataset": "gsm8k", "turns": ["not asked by ZeroEval"],
                     "scores": {dc.WEAK: 0.0, dc.STRONG: 1.0}})
    return labelled, zeroeval


def test_the_ceiling_joins_by_text_and_leaves_the_label_models_out_of_the_difficulty() -> None:
    labelled, zeroeval = _ceiling_rows()
    j = dc.joined(labelled, zeroeval)
    assert len(j["rows"]) == 40 and j["models"] == ["model-0", "model-1", "model-2"]
    hard = np.array([r["scores"][dc.WEAK] == 0.0 for r in j["rows"]])
    assert np.array_equal(j["difficulty"] == 1.0, hard)
    assert dc.run_agreement(j) == 0.0  # the weak model's other run says the opposite here
    table = dc.ceiling(j)
    oracle = table["oracle (the label itself)"]
    assert table["difficulty across models"][0] == pytest.approx(oracle[0])  # it is the label here
    assert table["the weak model's other run failed"][0] < 0.5 < table["difficulty across models"][0]


def test_the_ceiling_cli_prints_its_table(tmp_path: Path) -> None:
    labelled, zeroeval = _ceiling_rows()
    for name, rows in (("rows.jsonl.gz", labelled), ("ze.jsonl.gz", zeroeval)):
        with gzip.open(tmp_path / name, "wt", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in rows)
    done = subprocess.run([sys.executable, "scripts/difficulty_ceiling.py", "--rows", str(tmp_path / "rows.jsonl.gz"),
                           "--zeroeval", str(tmp_path / "ze.jsonl.gz")], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "40 questions joined; difficulty from 3 other models" in done.stdout
    cells = {line.split(" | ")[0].strip("| "): line.split(" | ")[1] for line in done.stdout.splitlines()
             if line.startswith("| ") and " | " in line}
    assert cells["difficulty across models"] == cells["oracle (the label itself)"]
    assert float(cells["length"]) < float(cells["difficulty across models"])
    missing = subprocess.run([sys.executable, "scripts/difficulty_ceiling.py", "--zeroeval", str(tmp_path / "no")],
                             cwd=ROOT, capture_output=True, text=True)
    assert missing.returncode == 2 and "build_zeroeval_rows" in missing.stderr


def test_mmlu_rows_join_by_their_question_stem() -> None:
    rows = [{"id": f"mmlu-{i}", "dataset": "mmlu", "turns": [f"Which gas is number {i}?\nA. x\nB. y\nAnswer:"],
             "scores": {dc.WEAK: float(i % 2), dc.STRONG: 1.0}} for i in range(6)]
    by_text = {dc.question_key(f"Which gas is number {i}?"): {"model-a": float(i % 2), dc.WEAK: 1.0}
               for i in range(4)}
    j = dc.joined(rows, [], dataset="mmlu", by_text=by_text)
    assert [r["id"] for r in j["rows"]] == ["mmlu-0", "mmlu-1", "mmlu-2", "mmlu-3"]
    assert j["models"] == ["model-a"] and j["difficulty"].tolist() == [1.0, 0.0, 1.0, 0.0]
    assert dc.run_agreement(j) == 0.5


def test_the_ability_table_is_checked_against_graded_accuracy_over_the_models_it_knows() -> None:
    rising = {"gpt-3.5-turbo-0125": 0.2, "claude-3-haiku-20240307": 0.4, "gpt-4o-2024-05-13": 0.9,
              "mystery-model": 0.99}  # an unknown name is left out of the check
    assert ze.ability_agreement(rising) == (3, pytest.approx(1.0))
    falling = {"gpt-3.5-turbo-0125": 0.9, "claude-3-haiku-20240307": 0.4, "gpt-4o-2024-05-13": 0.2}
    assert ze.ability_agreement(falling) == (3, pytest.approx(-1.0))
    assert ze.ability_agreement({"gpt-4o-2024-05-13": 0.5}) is None


def test_crux_can_be_made_trainable_while_math_stays_scored_only() -> None:
    crux = [{"id": f"zeroeval-crux-{i}", "dataset": "zeroeval_crux", "turns": [f"def f(x): return x * {i}"],
             "scores": {lo.WEAK: float(i % 2), lo.STRONG_OF["zeroeval_crux"]: 1.0}} for i in range(8)]
    maths = [{"id": f"zeroeval-math-l5-{i}", "dataset": "zeroeval_math_l5", "turns": [f"Find x if {i}x = 3."],
              "scores": {"claude-3-haiku-20240307": 0.0, "gemini-1.5-pro": 1.0}} for i in range(4)]
    rows = _trainable() + crux + maths
    sources = (*lo.TRAINABLE, "zeroeval_crux")
    splits = {s.name: s for s in lo.make_splits(rows, sources)}
    left_out = splits["zeroeval_crux"]
    assert left_out.pairs == ((lo.WEAK, "gpt-4-turbo-2024-04-09"),)
    assert any(rows[i]["dataset"] == "zeroeval_crux" for i in splits["gsm8k"].train)
    assert "zeroeval_math_l5 (never trained on)" in splits
    for split in splits.values():
        lo.check_no_leak(split, rows, sources)
        assert not any(rows[i]["dataset"] == "zeroeval_math_l5" for i in split.train)
    keep, y = lo.pair_labels(rows, left_out.test)
    assert len(keep) == 8 and y.tolist() == [float(i % 2 == 0) for i in range(8)]


def test_difficulty_ends_show_which_end_a_stronger_model_gains_on() -> None:
    # The strong model solves the middle problems the weak one fails; both fail the hardest,
    # both solve the easiest. Three other models set each problem's difficulty.
    rows = []
    for i, (weak, strong, others) in enumerate([(1, 1, (1, 1, 1)), (0, 1, (1, 1, 0)), (0, 1, (1, 0, 0)),
                                                 (0, 0, (0, 0, 0)), (0, 0, (0, 0, 0))]):
        rows.append({"id": str(i), "turns": [f"problem {i}"], "scores": {
            "weak": float(weak), "strong": float(strong), **{f"m{k}": float(v) for k, v in enumerate(others)}}})
    ends = dc.difficulty_ends(rows, "weak", "strong")
    assert (ends["n"], ends["others"]) == (5.0, 3.0)
    assert ends["easiest first"] > 0.5 > ends["hardest first"]
    assert ends["oracle"] >= ends["easiest first"]
