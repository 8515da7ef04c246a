from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from chatroute.routing import evaluate as ev

W, S = "weak-model", "strong-model"
# p1 gains 1, p2 both right, p3 both wrong, p4 gains 1. Weak mean 0.25, strong mean 0.75.
FIXTURE = [
    {"id": "t-1", "dataset": "toy", "turns": ["ccc"], "scores": {W: 0.0, S: 1.0}},
    {"id": "t-2", "dataset": "toy", "turns": ["aaaaaaaaaaaa"], "scores": {W: 1.0, S: 1.0}},
    {"id": "t-3", "dataset": "toy", "turns": ["bbbbbbb"], "scores": {W: 0.0, S: 0.0}},
    {"id": "t-4", "dataset": "toy", "turns": ["d"], "scores": {W: 0.0, S: 1.0}},
]
ROUTER_SCORES = {"t-1": 0.9, "t-2": 0.1, "t-3": 0.5, "t-4": 0.8}


def fixed_router(rows, weak, strong):  # type: ignore[no-untyped-def]
    return np.array([ROUTER_SCORES[r["id"]] for r in rows])


def write(tmp_path: Path, rows: list[dict], gz: bool = True) -> Path:
    p = tmp_path / ("f.jsonl.gz" if gz else "f.jsonl")
    data = "".join(json.dumps(r) + "\n" for r in rows)
    if gz:
        with gzip.open(p, "wt", encoding="utf-8") as fh:
            fh.write(data)
    else:
        p.write_text(data)
    return p


def test_hand_computed_fixture(tmp_path: Path) -> None:
    # Router order p1, p4, p3, p2: perf 0.25, 0.5, 0.75, 0.75, 0.75 at 0..100% strong calls.
    # PGR 0, .5, 1, 1, 1 -> trapezoid area = .25 * (.25 + .75 + 1 + 1) = 0.75.
    # CPT50: perf 0.5 at 25%. CPT80: 0.65 between 25% (0.5) and 50% (0.75) -> 40%.
    # 95% of strong = 0.7125 -> 25% + 0.85 * 25% = 46.25% strong calls, saving 53.75%.
    res = ev.evaluate_file(write(tmp_path, FIXTURE), router=fixed_router)["toy"]
    assert res["weak"] == W and res["strong"] == S and res["n"] == 4
    r = res["router"]
    assert r["apgr"] == pytest.approx(0.75)
    assert r["cpt50"] == pytest.approx(25.0)
    assert r["cpt80"] == pytest.approx(40.0)
    assert r["strong_calls_at_95"] == pytest.approx(46.25)
    assert r["cost_saving_at_95"] == pytest.approx(53.75)
    # Length order p2, p3, p1, p4: PGR 0, 0, 0, .5, 1 -> .25 * (0 + 0 + .25 + .75) = 0.25.
    assert res["length"]["apgr"] == pytest.approx(0.25)
    assert res["random"]["apgr"] == pytest.approx(0.5)
    assert res["random"]["cpt50"] == pytest.approx(50.0)
    assert res["random"]["cpt80"] == pytest.approx(80.0)
    assert res["oracle"]["apgr"] == pytest.approx(0.75)
    json.dumps(res)  # --json ready
    text = ev.format_table({"toy": res})
    assert "router" in text and "0.750" in text


def test_cost_ratio_and_plain_jsonl(tmp_path: Path) -> None:
    res = ev.evaluate_file(write(tmp_path, FIXTURE, gz=False), router=fixed_router, cost_ratio=0.1)["toy"]
    f = 0.4625
    assert res["router"]["cost_saving_at_95"] == pytest.approx(100 * (1 - (f + (1 - f) * 0.1)))


def test_ties_are_averaged() -> None:
    s = np.array([1.0, 0.0, 1.0, 0.0])
    w = np.array([0.0, 0.0, 0.0, 1.0])
    m = ev.curve_metrics(np.zeros(4), s, w)
    assert m["apgr"] == pytest.approx(0.5)


def test_default_pair_and_explicit_pair() -> None:
    rows = [dict(r, scores={**r["scores"], "mid": 0.5}) for r in FIXTURE]
    assert ev.default_pair(rows) == (W, S)
    res = ev.evaluate_rows(rows, weak="mid", strong=S, router=fixed_router)
    assert res["toy"]["weak"] == "mid"


def test_eleven_threshold_apgr_matches_definition() -> None:
    rng = np.random.default_rng(0)
    w = (rng.random(400) < 0.5).astype(float)
    s = np.maximum(w, (rng.random(400) < 0.6).astype(float))
    score = (s - w) + rng.random(400)
    coarse = ev.apgr_thresholds(score, s, w)
    fine = ev.curve_metrics(score, s, w)["apgr"]
    assert abs(coarse - fine) < 0.05


def test_reference_length_baseline_if_data_present() -> None:
    """README of shared/data/routing: length APGR (11 thresholds) mmlu 0.576, gsm8k 0.591."""
    path = Path(__file__).resolve().parents[3] / "shared" / "data" / "routing" / "train.jsonl.gz"
    if not path.exists():
        pytest.skip("developer data not present")
    rows = [r for r in ev.load_rows(path) if r["dataset"] == "gsm8k"]
    s = np.array([r["scores"]["gpt-4-1106-preview"] for r in rows])
    w = np.array([r["scores"]["mistralai/Mixtral-8x7B-Instruct-v0.1"] for r in rows])
    assert ev.apgr_thresholds(ev.length_score(rows), s, w) == pytest.approx(0.591, abs=0.002)


def test_bad_file(tmp_path: Path) -> None:
    p = tmp_path / "bad.jsonl"
    p.write_text('{"turns": ["x"], "scores": {}}\nnot json\n')
    with pytest.raises(ValueError, match="bad.jsonl:2"):
        ev.load_rows(p)


def test_turns_as_chat_messages_or_one_string(tmp_path: Path) -> None:
    p = tmp_path / "chat.jsonl"
    p.write_text(
        '{"id": "a", "turns": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},'
        ' {"role": "user", "content": "and 2+2?"}], "scores": {"w": 0, "s": 1}}\n'
        '{"id": "b", "turns": "just one prompt", "scores": {"w": 1, "s": 1}}\n'
    )
    rows = ev.load_rows(p)
    assert rows[0]["turns"] == ["hi", "and 2+2?"]
    assert rows[1]["turns"] == ["just one prompt"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"turns": [{"role": "user"}], "scores": {}}\n')
    with pytest.raises(ValueError, match="bad.jsonl:1"):
        ev.load_rows(bad)
