"""scripts/loso_router.py on a small fixture: every split leaves its source out of training."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from scripts import loso_router as lo

SUBJECTS = ["college_physics", "philosophy", "sociology", "nutrition"]


def _rows() -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(80):
        subject = SUBJECTS[i % 4]
        s, w = float(rng.random() < 0.8), float(rng.random() < 0.6)
        rows.append({"id": f"mmlu-{i}", "dataset": "mmlu", "turns": [f"{subject} question {i} " + "x" * (i % 13)],
                     "scores": {lo.STRONG: s, lo.WEAK: w},
                     "source": f"lm-sys/RouteLLM@0b64fda:routellm/evals/mmlu/responses/mmlu_{subject}.csv"})
    for i in range(30):
        rows.append({"id": f"gsm8k-{i}", "dataset": "gsm8k", "turns": [f"word problem {i} " + "y" * i],
                     "scores": {lo.STRONG: float(i % 3 > 0), lo.WEAK: float(i % 2)}, "source": "gsm8k.csv"})
    for i in range(20):
        rows.append({"id": f"arena-{i}", "dataset": "arena_bench_v1", "turns": [f"open-ended request {i}"],
                     "scores": {lo.STRONG: 0.9, lo.WEAK: 0.1 * (i % 7), lo.GPT35: 0.5}, "source": "arena"})
    # The same text under another id must not reach training when its twin is left out.
    rows.append({"id": "arena-dup", "dataset": "arena_bench_v1", "turns": ["word problem 3 yyy"],
                 "scores": {lo.STRONG: 1.0, lo.WEAK: 0.0}, "source": "arena"})
    for i in range(10):
        rows.append({"id": f"alpaca_eval-{i}", "dataset": "alpaca_eval", "turns": [f"instruction {i}"],
                     "scores": {lo.STRONG: 0.9, lo.GPT35: 0.2}, "source": "alpaca"})
    return rows


def test_subject_groups_come_from_the_source_path() -> None:
    groups = [lo.mmlu_group(r) for r in _rows()[:4]]
    assert groups == ["stem", "humanities", "social_sciences", "other"]
    assert lo.mmlu_group({"dataset": "gsm8k", "source": "x"}) is None


def test_left_out_rows_never_reach_training(tmp_path: Path) -> None:
    rows = _rows()
    path = tmp_path / "rows.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)
    rows = lo.load_rows([path])
    seen: dict[str, set[str]] = {}

    def spy(train: np.ndarray):  # type: ignore[no-untyped-def]
        ids = {rows[i]["id"] for i in train}

        def score(idx: np.ndarray, weak: str, strong: str) -> np.ndarray:
            seen[",".join(sorted(rows[i]["id"] for i in idx))] = ids
            return np.array([len(rows[i]["turns"][0]) for i in idx], dtype=float)

        return score

    results = lo.run(rows, {"spy": spy}, log=lambda _: None)
    names = {e["split"] for e in results}
    assert {"mmlu", "gsm8k", "arena_bench_v1", "mmlu:stem", "mmlu:humanities", "mmlu:social_sciences",
            "mmlu:other", "held-out split", "alpaca_eval (score only)"} <= names
    for test_ids, train_ids in seen.items():
        tested = set(test_ids.split(","))
        assert not tested & train_ids
        assert not any(i.startswith("alpaca_eval") for i in train_ids)  # score-only data is never trained on
    gsm = next(e for e in results if e["split"] == "gsm8k")
    assert gsm["apgr"]["spy"] == pytest.approx(gsm["apgr"]["length"])  # the spy scores by length
    splits = {s.name: s for s in lo.make_splits(rows)}
    train_ids = {rows[i]["id"] for i in splits["gsm8k"].train}
    assert "arena-dup" not in train_ids  # same text as a left-out gsm8k row
    assert {"arena-0", "mmlu-0"} <= train_ids
    stem_train = {rows[i]["id"] for i in splits["mmlu:stem"].train}
    assert "mmlu-0" not in stem_train and "mmlu-1" in stem_train


def test_check_no_leak_catches_a_leaking_split() -> None:
    rows = _rows()
    bad = lo.Split("bad", np.array([0, 1, 2]), np.array([2, 3]), ((lo.WEAK, lo.STRONG),))
    with pytest.raises(AssertionError):
        lo.check_no_leak(bad, rows)
    alpaca = lo.Split("alpaca", np.array([0, len(rows) - 1]), np.array([5]), ((lo.WEAK, lo.STRONG),))
    with pytest.raises(AssertionError):
        lo.check_no_leak(alpaca, rows)


def test_reference_baseline_runs_on_the_fixture() -> None:
    pytest.importorskip("sklearn")
    rows = _rows()
    fit = lo.tfidf_reference(rows)
    split = next(s for s in lo.make_splits(rows) if s.name == "gsm8k")
    scores = fit(split.train)(split.test, lo.WEAK, lo.STRONG)
    assert scores.shape == (len(split.test),) and np.all(np.isfinite(scores))


def test_a_model_scoring_below_chance_on_a_subject_loses_those_scores(tmp_path: Path) -> None:
    """Worse than guessing on four options: its answers were not read (load_rows drops them)."""
    rows = _rows()
    for i in range(24):
        rows.append({"id": f"mmlu-hsm-{i}", "dataset": "mmlu", "turns": [f"maths question {i}"],
                     "scores": {lo.STRONG: float(i == 0), lo.WEAK: float(i % 3 == 0)},
                     "source": "routellm/evals/mmlu/responses/mmlu_high_school_mathematics.csv"})
    path = tmp_path / "rows.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)
    loaded = {r["id"]: r for r in lo.load_rows([path])}
    assert lo.STRONG not in loaded["mmlu-hsm-0"]["scores"] and lo.WEAK in loaded["mmlu-hsm-0"]["scores"]
    # Other subjects, and the same subject when asked to keep everything, are untouched.
    assert lo.STRONG in loaded["mmlu-0"]["scores"]
    assert lo.STRONG in {r["id"]: r for r in lo.load_rows([path], keep_unparsed=True)}["mmlu-hsm-0"]["scores"]
    # No pair label, so the rows reach neither training nor scoring for that pair.
    idx = np.array([k for k, r in enumerate(lo.load_rows([path])) if r["id"].startswith("mmlu-hsm")])
    assert len(lo.pair_labels(lo.load_rows([path]), idx)[0]) == 0


def test_paired_bootstrap_separates_a_real_margin_from_none() -> None:
    rng = np.random.default_rng(1)
    sw = (rng.random(300) < 0.5).astype(float)
    ss = np.maximum(sw, (rng.random(300) < 0.6).astype(float))
    noise = rng.random(300)
    scores = {"length": noise, "oracle-like": (ss - sw) + 0.1 * noise, "same": noise.copy()}
    margins = lo.paired_intervals(scores, ss, sw, ["length"], repeats=100)
    low, high = margins["oracle-like"]["length"]
    assert 0.0 < low < high  # the labels' own order beats a random one on every resample
    assert margins["same"]["length"] == (0.0, 0.0)  # same rows, same scores: no margin at all
    assert "length" not in margins.get("length", {})


def test_run_reports_margins_over_length_when_asked() -> None:
    rows = _rows()
    results = lo.run(rows, {"length-again": lo.length_method(rows)}, log=lambda _: None, only={"gsm8k"},
                     bootstrap=20)
    (entry,) = results
    assert entry["margin_95"]["length-again"]["length"] == (0.0, 0.0)


def test_z_blend_weighs_two_scorers_on_one_scale() -> None:
    calls = []

    def base(train: np.ndarray) -> lo.Scorer:
        calls.append("base")
        return lambda idx, w, s: idx.astype(float) * 100.0  # large scale, rising with the row

    def other(train: np.ndarray) -> lo.Scorer:
        return lambda idx, w, s: -idx.astype(float)  # small scale, falling

    train, test = np.arange(10), np.arange(10, 20)
    base_once = lo.fitted_once(base)
    # share 0 and 1 keep one scorer's order; standardised, an equal share cancels the two exactly
    assert np.all(np.diff(lo.z_blend(base_once, other, 0.0)(train)(test, lo.WEAK, lo.STRONG)) > 0)
    assert np.all(np.diff(lo.z_blend(base_once, other, 1.0)(train)(test, lo.WEAK, lo.STRONG)) < 0)
    assert np.allclose(lo.z_blend(base_once, other, 0.5)(train)(test, lo.WEAK, lo.STRONG), 0.0)
    assert calls == ["base"]  # fitted once for the three blends on the same training rows


def _with_mmlu_pro() -> list[dict]:
    rows = _rows()
    for i in range(12):
        rows.append({"id": f"mmlu_pro-{i}", "dataset": "mmlu_pro", "turns": [f"science problem {i} " + "z" * i],
                     "scores": {lo.GPT4O: float(i % 4 > 0), lo.WEAK: float(i % 3 == 0)}, "source": "mmlu-pro"})
    return rows


def test_an_evaluation_only_source_is_scored_but_never_trained_on() -> None:
    rows = _with_mmlu_pro()
    splits = {s.name: s for s in lo.make_splits(rows)}
    pro = splits["mmlu_pro (never trained on)"]
    assert pro.pairs == ((lo.WEAK, lo.GPT4O),)  # its label compares Mixtral with GPT-4o
    assert {rows[i]["dataset"] for i in pro.test} == {"mmlu_pro"}
    assert {rows[i]["dataset"] for i in pro.train} == {"mmlu", "gsm8k", "arena_bench_v1"}
    for split in splits.values():
        lo.check_no_leak(split, rows)
        assert not any(rows[i]["dataset"] == "mmlu_pro" for i in split.train)
    results = lo.run(rows, {"length-again": lo.length_method(rows)}, log=lambda _: None,
                     only={"mmlu_pro (never trained on)"})
    assert [(e["strong"], e["n"]) for e in results] == [(lo.GPT4O, 12)]


def test_an_evaluation_only_source_can_be_made_trainable() -> None:
    rows = _with_mmlu_pro()
    sources = (*lo.TRAINABLE, "mmlu_pro")
    splits = {s.name: s for s in lo.make_splits(rows, sources)}
    assert "mmlu_pro (never trained on)" not in splits
    left_out = splits["mmlu_pro"]
    assert not any(rows[i]["dataset"] == "mmlu_pro" for i in left_out.train)
    assert any(rows[i]["dataset"] == "mmlu_pro" for i in splits["gsm8k"].train)
    keep, y = lo.pair_labels(rows, left_out.test)
    assert len(keep) == 12 and y.tolist() == [float(i % 4 > 0 and i % 3 != 0) for i in range(12)]
    with pytest.raises(AssertionError):  # trained on under the default sources: a leak
        lo.check_no_leak(splits["gsm8k"], rows)


def test_parts_are_scored_apart_by_the_same_fitted_models() -> None:
    rows = _rows()
    fits: list[int] = []

    def by_length(train: np.ndarray):  # type: ignore[no-untyped-def]
        fits.append(len(train))
        return lambda idx, weak, strong: np.array([len(rows[i]["turns"][0]) for i in idx], dtype=float)

    physics = np.array([r["dataset"] == "mmlu" and "college_physics" in r["source"] for r in rows])
    results = lo.run(rows, {"len": by_length}, log=lambda _: None, only={"mmlu"},
                     row_parts={"physics": physics, "rest": ~physics})
    assert len(fits) == 1  # one fit per split, whatever the parts
    (entry,) = results
    sub = entry["parts"]
    assert sub["physics"]["n"] == 20 and sub["rest"]["n"] == 60
    assert sub["physics"]["n"] + sub["rest"]["n"] == entry["n"]
    # A part is scored on its own rows: its APGR is the curve over those rows alone.
    idx = np.flatnonzero(physics)
    ss = np.array([rows[i]["scores"][lo.STRONG] for i in idx])
    sw = np.array([rows[i]["scores"][lo.WEAK] for i in idx])
    expected = lo.ev.curve_metrics(np.array([len(rows[i]["turns"][0]) for i in idx], dtype=float), ss, sw)["apgr"]
    assert sub["physics"]["apgr"]["len"] == pytest.approx(expected)
    assert sub["physics"]["apgr"]["len"] == pytest.approx(sub["physics"]["apgr"]["length"])


def _with_bench_mix() -> list[dict]:
    """The fixture plus the benchmark-mix stand-in's sources: competition maths, where the stronger
    model gains on every problem, and MMLU-Pro exams and biology, where it gains on none."""
    rows = _rows()
    l8, l70 = "Meta-Llama-3_1-8B-Instruct", "Meta-Llama-3_1-70B-Instruct"  # MMLU-Pro's names
    for i in range(10):
        rows.append({"id": f"zeroeval_math_l5-{i}", "dataset": "zeroeval_math_l5", "turns": [f"Find $x^{i}$."],
                     "scores": {lo._L8: 0.0, lo.GPT4O: 1.0, lo._L70: 1.0, lo._PHI: 0.0}, "source": "zeroeval"})
    for i in range(24):
        category = "biology" if i % 2 else "law"
        rows.append({"id": f"mmlu_pro-{i}", "dataset": "mmlu_pro", "category": category,
                     "turns": [f"{category} exam question {i} " + "w" * (40 + i)],
                     "scores": {l8: 1.0, lo.GPT4O: 1.0, l70: 1.0, lo._PHI: 1.0}, "source": "mmlu-pro"})
    lo.same_model_names(rows)
    return rows


def test_the_benchmark_mix_stand_in_is_scored_in_equal_parts_and_never_trained_on() -> None:
    rows = _with_bench_mix()
    assert all(lo._L8 in r["scores"] for r in rows if r["dataset"] == "mmlu_pro")  # one name per model
    trained: list[set[str]] = []

    def maths_first(train: np.ndarray):  # type: ignore[no-untyped-def]
        trained.append({rows[i]["dataset"] for i in train})
        return lambda idx, weak, strong: np.array(["$" in rows[i]["turns"][0] for i in idx], dtype=float)

    results = lo.bench_mix_entries(rows, {"maths first": maths_first}, log=lambda _: None)
    assert trained == [{"mmlu", "gsm8k", "arena_bench_v1"}]
    assert [(e["weak"], e["strong"]) for e in results] == list(lo.BENCH_MIX_PAIRS)
    entry = results[0]  # Phi-3-mini -> GPT-4o
    assert entry["n"] == 30  # 10 rows from each part: as many as the smallest part has
    assert entry["part_gain"] == [1.0, 0.0, 0.0]
    # Every gain is in the maths part, which "maths first" ranks above the rest and length below it.
    assert entry["part_rank"]["maths first"][0] > 0.6 > max(entry["part_rank"]["maths first"][1:])
    assert entry["part_rank"]["length"][0] < min(entry["part_rank"]["length"][1:])
    assert entry["apgr"]["maths first"] > entry["apgr"]["length"]
    assert entry["apgr"]["maths first"] == pytest.approx(entry["apgr"]["oracle"], abs=0.05)


def test_the_benchmark_mix_stand_in_needs_all_its_parts() -> None:
    rows = [r for r in _with_bench_mix() if r.get("category") != "biology"]
    assert lo.bench_mix_entries(rows, {"len": lo.length_method(rows)}, log=lambda _: None) == []
