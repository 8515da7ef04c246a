"""scripts/preset_report.kept_at_share: the quality any operating point of a ranking can keep."""

from __future__ import annotations

import numpy as np
import pytest

from scripts.preset_report import kept_at_share

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
