"""The LC-QuAD 2.0 pair builder on a small file in LC-QuAD 2.0's layout (rows written for this
test, not taken from the corpus): a row's two questions are a hit, unfilled templates and
paraphrases that repeat the question are dropped, a near-duplicate joins two questions of
different queries in one part, and a subject never sits in both parts."""

from __future__ import annotations

import json
from pathlib import Path

from tests.scripts_module import load_script

lcquad = load_script("lcquad_pairs")

CURIE, PORTUGAL, MONT_BLANC = "wd:Q7186", "wd:Q45", "wd:Q583"


def _row(question: object, paraphrase: object, sparql: str) -> dict[str, object]:
    return {"question": question, "paraphrased_question": paraphrase, "sparql_wikidata": sparql}


ROWS = [
    _row("Who was the spouse of Marie Curie?", "Whom did Marie Curie marry?",
         f"select distinct ?answer where {{ {CURIE} wdt:P26 ?answer}}"),
    _row("Who was the doctoral advisor of Marie Curie?", "Marie Curie's doctoral advisor was who?",
         f"select distinct ?answer where {{ {CURIE} wdt:P184 ?answer}}"),
    _row("Which award did Marie Curie receive in 1911?", "which award did Marie Curie receive in 1911",
         f"SELECT ?obj WHERE {{ {CURIE} p:P166 ?s . ?s ps:P166 ?obj . ?s pq:P585 ?x }}"),
    _row("What is the {capital} of {Portugal}", "What is the capital city of Portugal?",
         f"select distinct ?answer where {{ {PORTUGAL} wdt:P36 ?answer}}"),
    _row("What is the capital city of Portugal?", "[]",
         f"select distinct ?answer where {{ {PORTUGAL} wdt:P36 ?answer}}"),
    _row("What is the currency of Portugal?", "Which money do people use in Portugal?",
         f"select distinct ?answer where {{ {PORTUGAL} wdt:P38 ?answer}}"),
    _row(None, "What is the height of Mont Blanc?",
         f"select distinct ?answer where {{ {MONT_BLANC} wdt:P2044 ?answer}}"),
    _row("How tall is Mont Blanc?", "What is the elevation of Mont Blanc?",
         f"select distinct ?answer where {{ {MONT_BLANC} wdt:P2044 ?answer}}"),
]


def _rows(tmp_path: Path) -> list[dict[str, object]]:
    path = tmp_path / "lcquad_2_0.json"
    path.write_text(json.dumps(ROWS), encoding="utf-8")
    return lcquad.lcquad_rows(path, sample=1)


def test_each_rows_two_questions_are_a_hit_and_broken_ones_are_dropped(tmp_path: Path) -> None:
    hits = {(r["a"], r["b"]) for r in _rows(tmp_path) if r["kind"] == "lcquad-hit"}
    assert hits == {
        ("Who was the spouse of Marie Curie?", "Whom did Marie Curie marry?"),
        ("Who was the doctoral advisor of Marie Curie?", "Marie Curie's doctoral advisor was who?"),
        ("What is the currency of Portugal?", "Which money do people use in Portugal?"),
        ("How tall is Mont Blanc?", "What is the elevation of Mont Blanc?"),
    }
    assert all(r["label"] == "hit" for r in _rows(tmp_path) if r["kind"] == "lcquad-hit")


def test_near_duplicates_join_two_queries_of_one_part(tmp_path: Path) -> None:
    rows = _rows(tmp_path)
    queries = {lcquad._clean(r["question"]): str(r["sparql_wikidata"]) for r in ROWS if lcquad._clean(r["question"])}
    near = [r for r in rows if r["kind"] == "lcquad-near"]
    assert near, "two questions about Marie Curie's other properties are near neighbours"
    for r in near:
        assert r["label"] == "miss"
        a, b = queries[str(r["a"])], queries[str(r["b"])]
        assert a != b
        assert lcquad.split_of(a) == lcquad.split_of(b) == r["split"]
        assert "{" not in str(r["a"]) + str(r["b"])


def test_a_subject_never_sits_in_both_parts(tmp_path: Path) -> None:
    by_subject: dict[str, set[object]] = {}
    texts = {lcquad._clean(r["question"]): str(r["sparql_wikidata"]) for r in ROWS if lcquad._clean(r["question"])}
    for r in _rows(tmp_path):
        subject = texts[str(r["a"])].split("wd:")[1].split()[0]
        by_subject.setdefault(subject, set()).add(r["split"])
    assert all(len(parts) == 1 for parts in by_subject.values())
    assert {p for parts in by_subject.values() for p in parts} <= {"train", "lcquad-test"}
    # the same subject, other sparql, lands in the same part
    assert lcquad.split_of(ROWS[0]["sparql_wikidata"]) == lcquad.split_of(ROWS[1]["sparql_wikidata"])  # type: ignore[arg-type]


def test_sampling_keeps_whole_queries(tmp_path: Path) -> None:
    path = tmp_path / "lcquad_2_0.json"
    path.write_text(json.dumps(ROWS), encoding="utf-8")
    everything = lcquad.lcquad_rows(path, sample=1)
    sampled = lcquad.lcquad_rows(path, sample=3)
    assert {(r["a"], r["b"]) for r in sampled} <= {(r["a"], r["b"]) for r in everything}
    assert len(sampled) < len(everything)
