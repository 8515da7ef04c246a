"""Calibration of P(good): the fitted curve matches observed rates (scripts/train_router.py)."""

from __future__ import annotations

import numpy as np
import pytest

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
    b, a = calib[0] + calib[1] * 2.0, calib[2] + calib[3] * 2.0
    b0, a0 = calib[0], calib[2]
    assert a > a0 and b < b0


def test_shipped_weights_are_calibrated_out_of_fold() -> None:
    from chatroute.routing.quality import get_quality_model

    rel = get_quality_model().meta["calibration"]["oof_reliability"]
    assert len(rel) == 5
    for row in rel:
        assert abs(row["pred_weak"] - row["obs_weak"]) < 0.05
        assert abs(row["pred_strong"] - row["obs_strong"]) < 0.05
