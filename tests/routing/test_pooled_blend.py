"""The need model's blend (scripts/router_models.fit_need): a within-source fit plus a share of
one fitted on the right-or-wrong sources pooled, added as one linear model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")
from scripts import loso_router as lo  # noqa: E402
from scripts import router_models as rm  # noqa: E402

MATHS = ["How many apples are left if Tom eats {n} of {m}?", "A train travels {m} km in {n} hours; find its speed.",
         "If {n} pens cost {m} dollars, what do {m} pens cost?"]
FACTS = ["Which philosopher wrote about the social contract ({n})?", "Which river flows through city {n}?",
         "Who painted mural number {m}?"]
OPEN = ["Write a short poem about autumn number {n}.", "Describe a calm morning, version {m}."]


def _rows() -> list[dict]:
    """GSM8K-like rows: the stronger model wins more often than on MMLU-like rows (the between-
    source difference); arena rows: it wins almost always (a graded judgement on another scale)."""
    rng = np.random.default_rng(3)
    rows: list[dict] = []
    for i in range(240):
        n, m = int(rng.integers(2, 9)), int(rng.integers(10, 99))
        if i % 3 == 0:
            text, ds, p = MATHS[i % len(MATHS)].format(n=n, m=m), "gsm8k", 0.55
        elif i % 3 == 1:
            text, ds, p = FACTS[i % len(FACTS)].format(n=n, m=m), "mmlu", 0.15
        else:
            text, ds, p = OPEN[i % len(OPEN)].format(n=n, m=m), "arena_bench_v1", 0.9
        strong = float(rng.random() < p)
        rows.append({"id": f"{ds}-{i}", "dataset": ds, "turns": [text],
                     "scores": {lo.STRONG: strong, lo.WEAK: 0.0}})
    return rows


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], rm.Features, np.ndarray, np.ndarray]:
    rows = _rows()
    feats = rm.Features.build(rows, Path(tmp_path_factory.mktemp("features")))
    keep, y = lo.pair_labels(rows, np.arange(len(rows)))
    return rows, feats, keep, y


def test_blend_is_the_standardised_sum_of_its_parts(fitted) -> None:  # type: ignore[no-untyped-def]
    rows, feats, keep, y = fitted
    groups = rm.intercept_groups(rows, "source")
    assert groups is not None
    within = rm.fit_linear(feats, keep, y, ngram=True, emb=True, lex=True, groups=groups[keep])
    sub = np.array([rows[i]["dataset"] != "arena_bench_v1" for i in keep])
    pooled = rm.fit_linear(feats, keep[sub], y[sub], ngram=True, emb=True, lex=True, like=within)
    both = rm.blend([(within, 0.7), (pooled, 0.3)], feats, keep)

    def z(m: rm.LinearRouter) -> np.ndarray:
        d = m.decision(feats, keep)
        return (d - d.mean()) / d.std()

    np.testing.assert_allclose(both.decision(feats, keep), 0.7 * z(within) + 0.3 * z(pooled), atol=1e-4)
    # The same fit through fit_need, the trainer's entry point.
    np.testing.assert_allclose(rm.fit_need(feats, keep, y, rows, emb=True, lex=True, pooled_share=0.3)
                               .decision(feats, keep), both.decision(feats, keep), atol=1e-4)


def test_the_pooled_share_keeps_the_difference_between_kinds_of_request(fitted) -> None:  # type: ignore[no-untyped-def]
    rows, feats, keep, y = fitted
    ds = np.array([rows[i]["dataset"] for i in keep])

    def gap(share: float) -> float:
        d = rm.fit_need(feats, keep, y, rows, emb=True, lex=True, pooled_share=share).decision(feats, keep)
        d = (d - d.mean()) / d.std()
        return float(d[ds == "gsm8k"].mean() - d[ds == "mmlu"].mean())

    within_only, blended = gap(0.0), gap(0.5)
    # Per-source intercepts absorb "word problems need the stronger model more"; the pooled part
    # brings it back.
    assert blended > within_only + 0.3
    assert blended > 0.5


def test_graded_rows_stay_out_of_the_pooled_part(fitted) -> None:  # type: ignore[no-untyped-def]
    rows, feats, keep, y = fitted
    ds = np.array([rows[i]["dataset"] for i in keep])
    d = rm.fit_need(feats, keep, y, rows, emb=True, lex=True, pooled_share=1.0).decision(feats, keep)
    # Pooled with the arena rows (won 90% of the time) open-ended requests would rank neediest;
    # fitted on the right-or-wrong rows only, they rank below the word problems.
    assert d[ds == "arena_bench_v1"].mean() < d[ds == "gsm8k"].mean()
