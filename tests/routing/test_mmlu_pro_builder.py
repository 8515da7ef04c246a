"""scripts/build_mmlu_pro_rows.py on a small git repository made here, in MMLU-Pro's layout:
questions taken from MMLU are dropped, each model's answer is scored against the key, and the
rows read back through loso_router with GPT-4o as their stronger model."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from scripts import build_mmlu_pro_rows as builder
from scripts import loso_router as lo
from tests.gitrepo import commit_all

# Written for this test; not taken from MMLU-Pro.
_QUESTIONS = [
    {"question_id": "7", "question": "A ball is dropped from 20 m. How long until it lands?",
     "options": "['1 s', '2 s', '3 s', '4 s']", "answer": "B", "category": "physics", "src": "stemez-Physics"},
    {"question_id": "12", "question": "Which organelle makes ATP?", "options": ["Nucleus", "Mitochondrion", "Ribosome"],
     "answer": "B", "category": "biology", "src": "ori_mmlu-college_biology"},
    {"question_id": "30", "question": "Evaluate the integral of 2x from 0 to 3.", "options": "['6', '9', '3']",
     "answer": "B", "category": "math", "src": "theoremQA-Math"},
]
MIXTRAL_PREDS = {"7": "B", "12": "B", "30": None}  # no answer extracted counts as wrong
GPT4O_PREDS = {"7": "B", "12": "A", "30": "B"}


def _records(preds: dict[str, str | None]) -> list[dict]:
    return [{**q, "pred": preds[q["question_id"]]} for q in _QUESTIONS]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], Path]:
    repo = tmp_path_factory.mktemp("mmlu-pro")
    results = repo / "eval_results"
    (results / "gpt4o").mkdir(parents=True)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("model_outputs_Mixtral-8x7B-Instruct-v0.1_5shots.json",
                   json.dumps(_records(MIXTRAL_PREDS) + ["a stray line"]))
    (results / "model_outputs_Mixtral-8x7B-Instruct-v0.1_5shots.zip").write_bytes(buf.getvalue())
    by_subject: dict[str, list[dict]] = {}
    for rec in _records(GPT4O_PREDS):
        by_subject.setdefault(rec["category"], []).append(rec)
    for subject in builder.SUBJECTS:
        name = subject.replace("_", " ")
        (results / "gpt4o" / f"{name}_result.json").write_text(json.dumps(by_subject.get(name, [])))
    head = commit_all(repo)
    pinned = builder.ZIP_COMMIT, builder.GPT4O_COMMIT
    builder.ZIP_COMMIT = builder.GPT4O_COMMIT = head
    try:
        out = repo / "rows.jsonl.gz"
        done = subprocess.run([sys.executable, "-c", (
            "import sys; from scripts import build_mmlu_pro_rows as b; "
            f"b.ZIP_COMMIT = b.GPT4O_COMMIT = {head!r}; sys.argv = ['b', {str(repo / '.git')!r}, '--out', "
            f"{str(out)!r}]; raise SystemExit(b.main())")], cwd=Path(__file__).resolve().parents[2],
            capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return builder.build(repo / ".git"), out
    finally:
        builder.ZIP_COMMIT, builder.GPT4O_COMMIT = pinned


def test_questions_taken_from_mmlu_are_dropped(built: tuple[list[dict], Path]) -> None:
    rows, _ = built
    assert [r["id"] for r in rows] == ["mmlu_pro-7", "mmlu_pro-30"]
    assert all(r["dataset"] == "mmlu_pro" for r in rows)


def test_answers_are_scored_against_the_key_under_the_shared_model_names(built: tuple[list[dict], Path]) -> None:
    rows, _ = built
    by_id = {r["id"]: r["scores"] for r in rows}
    assert by_id["mmlu_pro-7"] == {lo.WEAK: 1.0, lo.GPT4O: 1.0}
    assert by_id["mmlu_pro-30"] == {lo.WEAK: 0.0, lo.GPT4O: 1.0}


def test_the_prompt_is_written_as_the_mmlu_rows_are(built: tuple[list[dict], Path]) -> None:
    rows, _ = built
    assert rows[0]["turns"] == ["A ball is dropped from 20 m. How long until it lands?\nA. 1 s\nB. 2 s\nC. 3 s\n"
                                "D. 4 s\nAnswer:"]


def test_the_written_file_reads_back_with_gpt4o_as_the_stronger_model(built: tuple[list[dict], Path]) -> None:
    rows, out = built
    with gzip.open(out, "rt", encoding="utf-8") as fh:
        assert [json.loads(line)["id"] for line in fh] == [r["id"] for r in rows]
    loaded = lo.load_rows([out])
    keep, y = lo.pair_labels(loaded, np.arange(len(loaded)))
    assert [loaded[i]["id"] for i in keep] == ["mmlu_pro-7", "mmlu_pro-30"] and y.tolist() == [0.0, 1.0]
