"""The question-pair builders (ComQA clusters, NQ-open answers) on a small git repository made
here, in those files' layouts: duplicates come from one cluster, a near-duplicate is the nearest
question with another answer, never from one cluster or one that shares an answer, and the
pairs run through eval_cache.py with their part shown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.gitrepo import commit_all
from tests.scripts_module import load_script

comqa = load_script("build_comqa_pairs")
builder = load_script("build_paraphrase_data")

# Written for this test; not taken from any corpus.
_TRAIN = [
    {"cluster_id": "c1", "questions": ["who painted the ceiling of the sistine chapel?",
                                       "the sistine chapel ceiling was painted by whom?",
                                       "which artist painted the sistine chapel ceiling?"],
     "answers": ["michelangelo"]},
    {"cluster_id": "c2", "questions": ["when was the sistine chapel ceiling painted?"], "answers": ["1508-1512"]},
    {"cluster_id": "c3", "questions": ["who designed the sistine chapel ceiling?"], "answers": ["michelangelo"]},
    {"cluster_id": "c4", "questions": ["how do bees make honey?"], "answers": ["nectar"]},
]
_DEV = [{"cluster_id": "d1", "questions": ["when was the sistine chapel ceiling finished?"], "answers": ["1512"]}]
_NQ = [
    {"question": "who sang the song hotel california", "answer": ["Eagles"]},
    {"question": "who wrote the song hotel california", "answer": ["Don Felder", "Don Henley"]},
    {"question": "who performed hotel california live first", "answer": ["the eagles"]},
]


def _repo(tmp: Path, files: dict[str, str]) -> tuple[Path, str]:
    for rel, text in files.items():
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp / rel).write_text(text, encoding="utf-8")
    return tmp / ".git", commit_all(tmp)


@pytest.fixture(scope="module")
def comqa_pairs(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    git_dir, head = _repo(tmp_path_factory.mktemp("comqa"), {comqa.FILES["train"]: json.dumps(_TRAIN),
                                                            comqa.FILES["dev"]: json.dumps(_DEV)})
    pinned, comqa.COMMIT = comqa.COMMIT, head
    try:
        clusters = comqa.read_clusters(git_dir)
    finally:
        comqa.COMMIT = pinned
    return list(comqa.duplicate_pairs(clusters) + comqa.near_pairs(clusters))


def _texts(p: dict) -> frozenset[str]:
    return frozenset((p["cached"]["prompt"], p["new"]["prompt"]))


def test_true_duplicates_are_disjoint_pairs_of_one_cluster(comqa_pairs: list[dict]) -> None:
    dups = [p for p in comqa_pairs if p["label"] == "hit"]
    assert [_texts(p) for p in dups] == [frozenset(_TRAIN[0]["questions"][:2])]  # three questions: one pair
    assert all(p["category"] == "paraphrase" and p["source"] == "comqa-train" for p in dups)


def test_near_duplicates_ask_another_question_with_another_answer(comqa_pairs: list[dict]) -> None:
    near = {_texts(p) for p in comqa_pairs if p["label"] == "miss"}
    assert frozenset(("who painted the ceiling of the sistine chapel?",
                      "when was the sistine chapel ceiling painted?")) in near
    for pair in near:
        # never one cluster, never a cluster sharing the answer (c3), never across train and dev
        assert not pair <= set(_TRAIN[0]["questions"])
        assert "who designed the sistine chapel ceiling?" not in pair or not pair & set(_TRAIN[0]["questions"])
        assert "when was the sistine chapel ceiling finished?" not in pair
        assert "how do bees make honey?" not in pair  # below the cache's neighbour floor


def test_eval_cache_reports_each_part(comqa_pairs: list[dict], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    from scripts import eval_cache

    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in comqa_pairs), encoding="utf-8")
    assert eval_cache.main(["--pairs", str(path), "--no-sweep"]) == 0
    out = capsys.readouterr().out
    assert "comqa-train / near_duplicate" in out and "comqa-train / paraphrase" in out
    assert "threshold sweep" not in out


def test_nq_near_duplicates_share_no_answer(tmp_path: Path) -> None:
    lines = "".join(json.dumps(r) + "\n" for r in _NQ)
    files = {path: (lines if split == "train" else "") for split, paths in builder.NQ_SOURCES.items()
             for path in paths}
    git_dir, head = _repo(tmp_path, files)
    pinned, builder.NQ_COMMIT = builder.NQ_COMMIT, head
    try:
        rows = builder.nq_rows(git_dir)
    finally:
        builder.NQ_COMMIT = pinned
    pairs = {frozenset((str(r["a"]), str(r["b"]))) for r in rows}
    assert frozenset(("who sang the song hotel california", "who wrote the song hotel california")) in pairs
    # "Eagles" and "the eagles" are one answer: that pair is not another question.
    assert frozenset(("who sang the song hotel california", "who performed hotel california live first")) not in pairs
    assert all(r["kind"] == "nq-near" and r["label"] == "miss" and r["split"] == "train" for r in rows)
