"""Each preset's price of quality, set from an operating point on the router's need scale.

A fixed "quality points per dollar" cannot work across pools: between gpt-4o-mini and gpt-4o the
predicted quality gap is a few points on almost every prompt, so a fixed price either always
or never buys the dearer model. Instead each preset names a quantile of the need g(x) over the
training prompts (PRESET_NEED_QUANTILE). For the turn's pool, the price λ is set so that no
dearer candidate beats the cheapest below that need, and the best buy among them breaks even
exactly there:

    λ = max over dearer c of [P(good | g*, c) − P(good | g*, cheapest)] / (cost_c − cost_cheapest)

over the paid candidates when there are two or more (a free local model competes at that price).

A prompt needier than g* then buys a dearer model, a less needy one does not; with two models
the share of strong calls is about 1 − quantile on prompts like the training set's. Taking only
the dearest model's break-even let a mid-priced model whose gain per dollar is larger (one rated
close to the dearest at a third of its price) win on every prompt, the most trivial included.
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
    paid = [p for p in priced if p[1] > 0]
    # A free (local) model cannot set the price: any paid model's gain per dollar against it grows
    # without bound as that model gets cheaper. The paid models set λ; a free one competes at it.
    basis = paid if len(paid) >= 2 else list(priced)
    lo = min(basis, key=lambda p: (p[1], -p[0]))
    dearer = [p for p in basis if p[1] > lo[1]]
    if not dearer:
        return None
    g_star = quality_model.need_at(q)
    p_lo = float(quality_model.curve(g_star, [lo[0]])[0])
    gains = quality_model.curve(g_star, [p[0] for p in dearer])
    rates = [(float(g) - p_lo) / (p[1] - lo[1]) for g, p in zip(gains, dearer, strict=True)]
    best = max(rates)
    if best <= 0:
        # No dearer model is predicted better: no break-even point, so the preset's fixed price
        # applies (a zero price would buy the dearest model on a tie).
        return None
    return best
