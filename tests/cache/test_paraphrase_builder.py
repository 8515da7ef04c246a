"""The verifier's data builder on a small git repository made here, in the layout of the Stack
Exchange duplicate sets: titles come out of the HTML, duplicates of one master are one cluster,
a cluster never straddles the split, and a near neighbour that no link joins is a near-duplicate."""

from __future__ import annotations

import pytest

from tests.gitrepo import commit_all
from tests.scripts_module import load_script

builder = load_script("build_paraphrase_data")

# Written for this test; not taken from any corpus.
_ROWS = [
    ("duplicate", "How do I reset my router password?<p>I forgot it.</p>",
     "Forgot the router admin password<p>Help</p>"),
    ("duplicate", "Forgot the router admin password<p>Help</p>", "Router password lost, how to recover?<p>x</p>"),
    ("non-duplicate", "How do I reset my router password?<p>x</p>", "Which houseplants need little light?<p>y</p>"),
    ("duplicate", "Why is my kettle so loud?<h1>Q</h1>", "Kettle makes a loud noise when boiling<p>z</p>"),
    ("non-duplicate", "How do I change my router password?<p>q</p>", "Best soil for cactus &amp; succulents?<p>r</p>"),
]


def test_title_is_the_text_before_the_body_unescaped():
    assert builder.se_title("Best soil for cactus &amp; succulents?<p>r</p>") == "Best soil for cactus & succulents?"
    assert builder.se_title("  spaced   title  <p>b</p>") == "spaced title"


def test_duplicates_of_one_master_form_one_cluster():
    root = builder._clusters(["a", "b", "c", "d", "e"], [("a", "b"), ("c", "b"), ("d", "e")])
    assert root["a"] == root["b"] == root["c"] != root["d"] == root["e"]


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    repo = tmp_path_factory.mktemp("se")
    rel = builder.SE_DUP_SOURCES["askubuntu-dups"]
    (repo / rel).parent.mkdir(parents=True)
    (repo / rel).write_text("".join("\t".join(r) + "\n" for r in _ROWS), encoding="utf-8")
    other = builder.SE_DUP_SOURCES["meta-se-dups"]
    (repo / other).parent.mkdir(parents=True)
    (repo / other).write_text("", encoding="utf-8")
    head = commit_all(repo)
    pinned = builder.SE_DUP_COMMIT
    builder.SE_DUP_COMMIT = head
    try:
        return builder.se_dup_rows(repo / ".git")
    finally:
        builder.SE_DUP_COMMIT = pinned


def test_rows_carry_titles_labels_and_one_split_per_cluster(rows):
    dups = [r for r in rows if r["kind"] == "se-dup"]
    assert {(r["a"], r["b"]) for r in dups} >= {("Why is my kettle so loud?", "Kettle makes a loud noise when boiling")}
    assert all(r["label"] == "hit" and "<" not in str(r["a"]) + str(r["b"]) for r in dups)
    router = [r["split"] for r in dups if "outer" in str(r["a"])]
    assert len(router) == 2 and len(set(router)) == 1  # the three router titles are one cluster
    assert all(r["label"] == "miss" for r in rows if r["kind"] in ("se-unrelated", "mined-near"))


def test_a_close_title_no_link_joins_is_a_mined_near_duplicate(rows):
    mined = {frozenset((str(r["a"]), str(r["b"]))) for r in rows if r["kind"] == "mined-near"}
    # "change" vs "reset" the router password: same topic, no duplicate link, another question.
    assert any("How do I change my router password?" in pair for pair in mined)
    # Titles of one cluster are never paired as near-duplicates.
    assert frozenset(("How do I reset my router password?", "Forgot the router admin password")) not in mined


def test_phrase_swaps_move_whole_phrases_and_keep_every_word():
    """Written for this test. A relation word between two phrases: a miss that moves a phrase of
    several words with its determiner; a bare "and" between two phrases: a hit."""
    import random

    [(label, a, b)] = builder.phrase_swap_pairs("How do I get a job at Google after college?", random.Random(0))
    assert label == "miss" and a != b
    assert sorted(a.rstrip("?").split()) == sorted(b.rstrip("?").split()) and b.endswith("?")
    [(label, _, b)] = builder.phrase_swap_pairs("I like the red car and the blue bike.", random.Random(0))
    assert (label, b) == ("hit", "I like the blue bike and the red car.")
    assert builder.phrase_swap_pairs("Hello there.", random.Random(0)) == []
