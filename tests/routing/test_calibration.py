"""Calibration of P(good): the fitted curve matches observed rates (scripts/train_router.py)."""

from __future__ import annotations

import numpy as np
import pytest

from chatroute.routing.quality import curve_params, get_quality_model

pytest.importorskip("scipy")
from scripts import train_router as tr  # noqa: E402


def test_calibration_recovers_the_observed_rates() -> None:
    rng = np.random.default_rng(1)
    g = rng.normal(0, 1.5, 20_000)
    p_weak = 1 / (1 + np.exp(-(1.2 - 0.9 * g)))
    p_strong = 1 / (1 + np.exp(-(2.0 - 0.3 * g)))
    yw = (rng.random(g.size) < p_weak).astype(float)
    ys = (rng.random(g.size) < p_strong).astype(float)
    calib = tr.calibration(g, yw, ys, -0.5, 0.5)
    table = tr.reliability(g, yw, ys, calib, -0.5, 0.5, bins=5)
    assert len(table) == 5
    for row in table:
        assert abs(row["pred_weak"] - row["obs_weak"]) < 0.03
        assert abs(row["pred_strong"] - row["obs_strong"]) < 0.03
    # A needier prompt: the weak model drops more than the strong one, so the gap grows.
    (b, a), (b0, a0) = curve_params(calib, tr.A_MIN, 2.0), curve_params(calib, tr.A_MIN, 0.0)
    assert a > a0 and b < b0


def _binned_gap(g: np.ndarray, y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    edges = np.quantile(g, np.linspace(0, 1, bins + 1))
    k = np.clip(np.searchsorted(edges, g, side="right") - 1, 0, bins - 1)
    return max(abs(float(p[k == i].mean() - y[k == i].mean())) for i in range(bins))


def _logit(c: tuple[float, float, float], g: np.ndarray) -> np.ndarray:
    return c[0] + c[1] * g + c[2] * g * g


def test_a_rate_that_flattens_among_the_neediest_is_fitted() -> None:
    # The strong model's observed rate levels off among the neediest prompts; a straight logit
    # missed a quintile of the shipped training rows by 0.05.
    rng = np.random.default_rng(3)
    g = rng.uniform(-3, 3, 30_000)
    y = (rng.random(g.size) < 1 / (1 + np.exp(-(0.5 - 1.2 * g + 0.2 * g * g)))).astype(float)
    c = tr.fit_curve(g, y)
    assert _binned_gap(g, y, 1 / (1 + np.exp(-_logit(c, g)))) < 0.03
    straight = tr._logistic(np.stack([np.ones_like(g), g], axis=1), y)
    assert _binned_gap(g, y, 1 / (1 + np.exp(-(straight[0] + straight[1] * g)))) > 0.05


def test_the_fitted_rate_never_rises_with_the_need() -> None:
    # Observed rates that turn back up at the needy end (noise, or a mix of sources) must not
    # make a needier prompt look easier: the curve is pinned flat there instead.
    rng = np.random.default_rng(4)
    g = rng.uniform(-3, 3, 30_000)
    y = (rng.random(g.size) < 1 / (1 + np.exp(-(0.5 - 0.8 * g + 0.3 * g * g)))).astype(float)
    c = tr.fit_curve(g, y)
    assert np.all(np.diff(_logit(c, np.linspace(-3, 3, 241))) <= 1e-9)
    assert c[2] > 0  # still curved: flattened at the end, not forced straight


def test_shipped_weights_are_calibrated_out_of_fold() -> None:
    rel = get_quality_model().meta["calibration"]["oof_reliability"]
    assert len(rel) == 5
    for row in rel:
        assert abs(row["pred_weak"] - row["obs_weak"]) < 0.05
        assert abs(row["pred_strong"] - row["obs_strong"]) < 0.05


def test_shipped_weights_never_predict_better_on_a_needier_prompt() -> None:
    qm = get_quality_model()
    lo, hi = qm.g_quantiles[0], qm.g_quantiles[-1]
    grid = np.linspace(lo - 1.0, hi + 1.0, 400)  # beyond the training range g is clipped to it
    for model in qm.anchors:
        p = qm.curve_many(grid, qm.ability(model))
        assert np.all(np.diff(p) <= 1e-12), model
    weak, strong = (qm.curve_many(grid, qm.ability(m)) for m in (tr.WEAK_MODEL, tr.STRONG_MODEL))
    assert np.all(strong > weak)
