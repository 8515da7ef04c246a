"""The graded rows' multi-model difficulty label (scripts/router_models.graded_difficulty) and the
soft-label rows it is fitted with (soft_rows)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")
from scripts import router_models as rm  # noqa: E402

MODELS = ("m-strong", "m-mid", "m-weak")


def _row(i: int, ds: str, scores: dict[str, float]) -> dict:
    return {"id": f"{ds}-{i}", "dataset": ds, "turns": [f"prompt {i}"], "scores": scores}


def test_a_prompt_most_models_fail_is_the_hardest_and_other_sources_get_none() -> None:
    rows = [
        _row(0, "arena_bench_v1", {"m-strong": 1.0, "m-mid": 1.0, "m-weak": 0.9}),  # easy for all
        _row(1, "arena_bench_v1", {"m-strong": 0.9, "m-mid": 0.2, "m-weak": 0.0}),  # hard for most
        _row(2, "arena_bench_v1", {"m-strong": 0.9, "m-mid": 0.8}),  # one model missing
        _row(3, "mmlu", {"m-strong": 1.0, "m-weak": 0.0}),
    ]
    p = rm.graded_difficulty(rows, np.arange(4))
    assert np.isnan(p[3])
    assert p[1] > p[2] > p[0]
    assert np.all((p[:3] > 0) & (p[:3] < 1))


def test_the_label_is_per_model_centred_so_a_missing_harsh_grader_does_not_decide() -> None:
    """Row 1 lacks the weak model, which grades low everywhere; it is the one prompt where the
    strong model stumbles, so it is the hardest. A plain mean of the grades would rank it below
    row 0, only because the harsh grader is absent."""
    rows = [
        _row(0, "arena_bench_v1", {"m-strong": 1.0, "m-weak": 0.0}),
        _row(1, "arena_bench_v1", {"m-strong": 0.55}),
        _row(2, "arena_bench_v1", {"m-strong": 1.0, "m-weak": 0.2}),
    ]
    p = rm.graded_difficulty(rows, np.arange(3))
    assert p[1] > p[0] > p[2]


def test_soft_rows_enter_twice_with_weights_summing_to_one() -> None:
    keep = np.array([10, 11, 12])
    y = np.array([1.0, 0.0, 1.0])
    p = np.array([np.nan, 0.8, np.nan])
    idx, yy, ww = rm.soft_rows(keep, y, p)
    assert sorted(idx.tolist()) == [10, 11, 11, 12]
    hard = idx != 11
    assert yy[hard].tolist() == [1.0, 1.0] and ww[hard].tolist() == [1.0, 1.0]
    assert sorted(zip(yy[~hard].tolist(), ww[~hard].round(6).tolist(), strict=True)) == [(0.0, 0.2), (1.0, 0.8)]
