"""scripts/preset_report: the quality any operating point of a ranking can keep (kept_at_share), and the
benchmark-mix stand-in it reports presets on."""

from __future__ import annotations

import numpy as np
import pytest

from scripts.preset_report import BENCH_MIX_PAIR, bench_mix_rows, kept_at_share

# Four prompts: the strong model helps only on the first two (the weak one fails them).
WEAK = np.array([0.0, 0.0, 1.0, 1.0])
STRONG = np.array([1.0, 1.0, 1.0, 1.0])


def test_the_oracle_order_keeps_everything_at_half_the_strong_calls() -> None:
    order = np.argsort(-(STRONG - WEAK), kind="stable")
    assert kept_at_share(order, WEAK, STRONG, 0.5) == pytest.approx(1.0)


def test_the_reverse_order_buys_nothing_with_the_same_calls() -> None:
    order = np.array([3, 2, 1, 0])
    assert kept_at_share(order, WEAK, STRONG, 0.5) == pytest.approx(0.5)
    assert kept_at_share(order, WEAK, STRONG, 1.0) == pytest.approx(1.0)
    assert kept_at_share(order, WEAK, STRONG, 0.0) == pytest.approx(0.5)


def _row(i: int, dataset: str, category: str | None = None, paired: bool = True) -> dict:
    weak, strong = BENCH_MIX_PAIR
    scores = {weak: 0.0, strong: 1.0} if paired else {strong: 1.0}
    return {"id": f"{dataset}-{i}", "dataset": dataset, "category": category, "turns": [f"q{i}"], "scores": scores}


def test_the_benchmark_mix_takes_equal_parts_of_rows_scored_for_its_pair() -> None:
    rows = ([_row(i, "zeroeval_math_l5") for i in range(40)]
            + [_row(i, "zeroeval_math_l5", paired=False) for i in range(40, 60)]
            + [_row(i, "mmlu_pro", "law") for i in range(100)] + [_row(i, "mmlu_pro", "biology") for i in range(30)]
            + [_row(i, "mmlu", None) for i in range(50)])
    mix = bench_mix_rows(rows, 300)
    assert len(mix) == 90  # 30 from each part: the smallest part decides
    kinds = [(r["dataset"], r["category"]) for r in mix]
    assert kinds.count(("zeroeval_math_l5", None)) == kinds.count(("mmlu_pro", "law")) == 30
    assert all(BENCH_MIX_PAIR[0] in r["scores"] for r in mix)
    law = [int(r["id"].split("-")[1]) for r in mix if r["category"] == "law"]
    assert law[0] == 0 and law[-1] >= 87  # spread over the part, not its first rows
    assert len(bench_mix_rows(rows, 30)) == 30
    assert bench_mix_rows([r for r in rows if r["category"] != "biology"], 300) == []
