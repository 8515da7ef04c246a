"""Calibration of P(good): the fitted curve matches observed rates (scripts/train_router.py)."""

from __future__ import annotations

import numpy as np
import pytest

from chatroute.routing.quality import curve_params, get_quality_model, need_quantiles

pytest.importorskip("scipy")
from scripts import train_router as tr  # noqa: E402


def test_calibration_recovers_the_observed_rates() -> None:
    rng = np.random.default_rng(1)
    q = rng.random(20_000)
    p_weak = 1 / (1 + np.exp(-(2.0 - 2.5 * q)))
    p_strong = 1 / (1 + np.exp(-(2.5 - 1.0 * q)))
    yw = (rng.random(q.size) < p_weak).astype(float)
    ys = (rng.random(q.size) < p_strong).astype(float)
    calib = tr.calibration(q, yw, ys, -0.5, 0.5)
    table = tr.reliability(q, yw, ys, calib, -0.5, 0.5, bins=5)
    assert len(table) == 5
    for row in table:
        assert abs(row["pred_weak"] - row["obs_weak"]) < 0.03
        assert abs(row["pred_strong"] - row["obs_strong"]) < 0.03
    # A needier prompt: the weak model drops more than the strong one, so the gap grows.
    (b, a), (b0, a0) = curve_params(calib, tr.A_MIN, 1.0), curve_params(calib, tr.A_MIN, 0.0)
    assert a > a0 and b < b0


def test_the_extrapolated_curve_never_rises_with_the_need() -> None:
    # The strong anchor's observed rate falls much less steeply than the weak one's: extrapolated
    # straight in θ, a model above the strong anchor would be predicted better on needier prompts.
    rng = np.random.default_rng(2)
    q = rng.random(20_000)
    yw = (rng.random(q.size) < 1 / (1 + np.exp(-(2.0 - 2.0 * q)))).astype(float)
    ys = (rng.random(q.size) < 1 / (1 + np.exp(-(2.5 - 0.2 * q)))).astype(float)
    grid = np.linspace(0.0, 1.0, 101)

    def top_curve(calib: np.ndarray, theta: float) -> np.ndarray:
        b, a = curve_params(calib, tr.A_MIN, grid)
        return np.asarray(b + theta * a)

    free = tr.calibration(q, yw, ys, -0.5, 0.5)
    assert np.any(np.diff(top_curve(free, 1.5)) > 0)  # what the cap is for
    capped = tr.calibration(q, yw, ys, -0.5, 0.5, theta_top=1.5)
    for theta in np.linspace(-0.5, 1.5, 9):
        assert np.all(np.diff(top_curve(capped, float(theta))) <= 1e-12), theta
    # The weak anchor keeps its fitted curve.
    np.testing.assert_allclose(top_curve(capped, -0.5), top_curve(free, -0.5), atol=1e-9)
    # Fitted with a gap scale on some rows (one joint fit), the cap holds as well.
    gap = np.where(rng.random(q.size) < 0.5, 0.6, 1.0)
    assert np.any(np.diff(top_curve(tr.calibration(q, yw, ys, -0.5, 0.5, gap=gap), 1.5)) > 0)
    capped_gap = tr.calibration(q, yw, ys, -0.5, 0.5, theta_top=1.5, gap=gap)
    for theta in np.linspace(-0.5, 1.5, 9):
        assert np.all(np.diff(top_curve(capped_gap, float(theta))) <= 1e-9), theta


def test_the_curve_is_calibrated_with_the_gap_of_multiple_choice_in_place() -> None:
    """Half the rows list options and their gap between models is 0.6 of the others': one fit with
    that scale per row (QualityModel.gap) predicts both halves; with no scale it is the plain fit."""
    rng = np.random.default_rng(3)
    q = rng.random(40_000)
    gap = np.where(rng.random(q.size) < 0.5, 0.6, 1.0)
    b, a = 2.2 - 2.0 * q, 0.9 + 0.7 * q
    yw = (rng.random(q.size) < 1 / (1 + np.exp(-(b - 0.5 * a * gap)))).astype(float)
    ys = (rng.random(q.size) < 1 / (1 + np.exp(-(b + 0.5 * a * gap)))).astype(float)
    joint = tr.calibration(q, yw, ys, -0.5, 0.5, gap=gap)
    np.testing.assert_allclose(joint, [2.2, -2.0, 0.9, 0.7], atol=0.25)
    for part in (gap < 1, gap == 1):
        for row in tr.reliability(q[part], yw[part], ys[part], joint, -0.5, 0.5, gap[part], bins=5):
            assert abs(row["pred_weak"] - row["obs_weak"]) < 0.03
            assert abs(row["pred_strong"] - row["obs_strong"]) < 0.03
    # Fitted as if no row listed options, the rows that do are predicted too far apart.
    plain = tr.calibration(q, yw, ys, -0.5, 0.5)
    worst = max(abs(r["pred_weak"] - r["obs_weak"]) for r in tr.reliability(q[gap < 1], yw[gap < 1], ys[gap < 1],
                                                                             plain, -0.5, 0.5, bins=5))
    assert worst > 0.03
    np.testing.assert_allclose(tr.calibration(q, yw, ys, -0.5, 0.5, gap=np.ones_like(q)), plain)


def _binned_gap(g: np.ndarray, y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    edges = np.quantile(g, np.linspace(0, 1, bins + 1))
    k = np.clip(np.searchsorted(edges, g, side="right") - 1, 0, bins - 1)
    return max(abs(float(p[k == i].mean() - y[k == i].mean())) for i in range(bins))


def test_the_curve_is_fitted_on_the_need_quantile_not_the_raw_need() -> None:
    # A need with heavy tails whose observed rate is logistic in its rank: a straight logit in the
    # raw need misses the middle and the tails, one in the quantile does not.
    rng = np.random.default_rng(3)
    g = rng.standard_t(2, 30_000)
    g_quantiles = np.quantile(g, tr.QUANTILE_P)
    rank = np.argsort(np.argsort(g)) / (g.size - 1)
    y = (rng.random(g.size) < 1 / (1 + np.exp(-(2.0 - 3.0 * rank)))).astype(float)
    q = need_quantiles(g, g_quantiles, tr.QUANTILE_P)
    c0, c1 = tr.fit_curve(q, y)
    assert _binned_gap(g, y, 1 / (1 + np.exp(-(c0 + c1 * q)))) < 0.02
    r0, r1 = tr.fit_curve(g, y)
    assert _binned_gap(g, y, 1 / (1 + np.exp(-(r0 + r1 * g)))) > 0.05


def test_shipped_weights_are_calibrated_out_of_fold() -> None:
    rel = get_quality_model().meta["calibration"]["oof_reliability"]
    assert len(rel) == 5
    for row in rel:
        assert abs(row["pred_weak"] - row["obs_weak"]) < 0.05
        assert abs(row["pred_strong"] - row["obs_strong"]) < 0.05


def test_no_model_is_predicted_better_on_a_needier_prompt() -> None:
    # Not only the two labelled models the curve is fitted to: every ability the catalogue gives,
    # frontier models included, to which the curve is extrapolated.
    qm = get_quality_model()
    grid = np.linspace(qm.g_quantiles[0] - 1.0, qm.g_quantiles[-1] + 1.0, 400)
    for ability in np.linspace(0.0, 1.0, 21):
        p = qm.curve_many(grid, float(ability))
        assert np.all(np.diff(p) <= 1e-12), ability
    weak, strong = (qm.curve_many(grid, qm.ability(m)) for m in (tr.WEAK_MODEL, tr.STRONG_MODEL))
    assert np.all(strong > weak)


def test_shipped_weights_name_the_libraries_that_reproduce_them() -> None:
    # Retrained with these versions, train_router.py reproduces quality.npz byte for byte; other
    # scikit-learn or numpy versions move the weights (by up to 0.019 in APGR, measured).
    import json

    from chatroute.routing.quality import META
    from scripts.provenance import LIBRARIES, library_versions

    recorded = json.loads(META.read_text(encoding="utf-8"))["trained_with"]
    assert set(recorded) == {"python", *LIBRARIES}
    assert all(v and v[0].isdigit() for v in recorded.values())
    assert set(library_versions()) == set(recorded)
