"""Each preset's price of quality, set from an operating point on the router's need scale.

A fixed "quality points per dollar" cannot work across pools: between gpt-4o-mini and gpt-4o the
predicted quality gap is a few points on almost every prompt, so a fixed price either always
or never buys the dearer model. Instead each preset names a quantile of the need g(x) over the
training prompts (PRESET_NEED_QUANTILE), and the price λ is set for the turn's pool from the
candidates' predicted P(good) at that need g*, over the paid candidates when there are two or
more (a free local model competes at that price: any gain per dollar against a free model grows
without bound as the paid one gets cheaper, so it cannot set one).

`balanced` and `frugal` put cost first: no dearer candidate beats the cheapest below g*, and the
best buy among them breaks even exactly there,

    λ = max over dearer c of [P(g*, c) − P(g*, cheapest)] / (cost_c − cost_cheapest).

`best` puts quality first: above g* the strongest candidate beats every cheaper one,

    λ = min over cheaper c of [P(g*, strongest) − P(g*, c)] / (cost_strongest − cost_c).

With two models both are the same break-even, and the share of strong calls is about
1 − quantile on prompts like the training set's. With more they differ: a mid-priced model rated
close to the dearest at a third of its price is the best buy at every need, so the first rule
keeps trivial prompts on the cheapest model (taking the dearest model's break-even alone let the
mid-priced one win every prompt), and the second still buys the strongest for a hard one.
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
    None when the model has no operating points, the pool has no price spread, or no dearer
    candidate is predicted better than a cheaper one at the preset's need."""
    q = PRESET_NEED_QUANTILE.get(preset)
    if q is None or not hasattr(quality_model, "need_at") or len(priced) < 2:
        return None
    paid = [p for p in priced if p[1] > 0]
    basis = paid if len(paid) >= 2 else list(priced)
    g_star = quality_model.need_at(q)
    quality = [float(x) for x in quality_model.curve(g_star, [p[0] for p in basis])]
    if preset == "best":
        top = max(range(len(basis)), key=lambda k: (quality[k], -basis[k][1]))
        rates = [(quality[top] - quality[k]) / (basis[top][1] - basis[k][1])
                 for k in range(len(basis)) if basis[k][1] < basis[top][1] and quality[k] < quality[top]]
        price = min(rates) if rates else 0.0
    else:
        low = min(range(len(basis)), key=lambda k: (basis[k][1], -basis[k][0]))
        rates = [(quality[k] - quality[low]) / (basis[k][1] - basis[low][1])
                 for k in range(len(basis)) if basis[k][1] > basis[low][1]]
        price = max(rates) if rates else 0.0
    if price <= 0:
        # No dearer model is predicted better: no break-even point, so the preset's fixed price
        # applies (a zero price would buy the dearest model on a tie).
        return None
    return price
