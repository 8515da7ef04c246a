"""scripts/cross_encoder.py: the experimental judge never trains on a pair it is scored on."""

from __future__ import annotations

from collections import Counter

from scripts import cross_encoder as ce


def _rows() -> list[dict]:
    rows = []
    for i in range(400):
        kind = ["natural-hit", "natural-near", "swap-miss", "se-dup", "phrase-swap-miss"][i % 5]
        rows.append({"split": ["train", "train", "train", "test", "leftout"][i % 7 % 5], "kind": kind,
                     "label": "hit" if kind in ("natural-hit", "se-dup") else "miss",
                     "a": f"question {i} about topic {i % 11}", "b": f"another wording {i} of topic {i % 11}"})
    return rows


def test_training_pairs_leave_out_scored_pairs() -> None:
    rows = _rows()
    trained = {frozenset((a, b)) for a, b, _ in ce.training_pairs(rows)}
    for r in rows:
        key = frozenset((r["a"], r["b"]))
        if r["split"] != "train" or r["kind"] in ce.CE_EVAL_ONLY or ce.is_dev(r["a"], r["b"]):
            assert key not in trained, r
    assert trained  # and it does train on the rest


def test_dev_part_is_about_a_fifth() -> None:
    rows = _rows()
    marks = Counter(ce.is_dev(r["a"], r["b"]) for r in rows)
    assert 0.12 < marks[True] / len(rows) < 0.28


def test_caps_sample_derived_kinds_only() -> None:
    rows = [{"split": "train", "kind": "swap-miss", "label": "miss", "a": f"a{i}", "b": f"b{i}"} for i in range(3000)]
    rows += [{"split": "train", "kind": "natural-hit", "label": "hit", "a": f"c{i}", "b": f"d{i}"} for i in range(900)]
    kinds = Counter("swap" if a.startswith(("a", "b")) else "natural" for a, _, _ in ce.training_pairs(rows))
    assert kinds["swap"] <= ce.PER_KIND_CAP["swap-miss"]
    assert kinds["natural"] == sum(1 for r in rows[3000:] if not ce.is_dev(r["a"], r["b"]))
