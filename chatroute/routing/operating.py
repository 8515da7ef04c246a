"""Each preset's price of quality, set from an operating point on the router's need scale.

A fixed "quality points per dollar" cannot work across pools: between gpt-4o-mini and gpt-4o the
predicted quality gap is a few points on almost every prompt, so a fixed price either always
or never buys the dearer model. Instead each preset names a quantile of the need g(x) over the
training prompts (PRESET_NEED_QUANTILE). For the turn's pool, the price λ is set so that the
dearest and the cheapest priced candidates break even exactly at that need:

    λ = [P(good | g*, dearest) − P(good | g*, cheapest)] / (cost_dearest − cost_cheapest)

A prompt needier than g* then buys the dearer model, a less needy one does not; with two models
the share of strong calls is about 1 − quantile on prompts like the training set's. Models in
between pay the same λ per dollar.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# Set from the targets, on the training prompts' need distribution: best buys the dearer model
# unless a prompt is among the 10% least needy (>= 98% of its quality); balanced for the needier
# 58% (<= 60% strong calls with a margin); frugal for the neediest 16% (<= 20% with a margin).
PRESET_NEED_QUANTILE: dict[str, float] = {"best": 0.10, "balanced": 0.42, "frugal": 0.84}


def preset_price(quality_model: Any, preset: str, priced: Sequence[tuple[float, float]]) -> float | None:
    """λ (quality per USD) for `preset` over candidates given as (ability, expected cost USD);
    None when the model has no operating points, the pool has no price spread, or its dearest
    model is predicted no better than its cheapest."""
    q = PRESET_NEED_QUANTILE.get(preset)
    if q is None or not hasattr(quality_model, "need_at") or len(priced) < 2:
        return None
    lo = min(priced, key=lambda p: (p[1], -p[0]))
    hi = max(priced, key=lambda p: (p[1], p[0]))
    span = hi[1] - lo[1]
    if span <= 0:
        return None
    g_star = quality_model.need_at(q)
    p_hi, p_lo = quality_model.curve(g_star, [hi[0], lo[0]])
    if p_hi <= p_lo:
        # The dearest model is predicted no better: no break-even point, so the preset's fixed
        # price applies (a zero price would buy the dearest model on a tie).
        return None
    return float(p_hi - p_lo) / span
