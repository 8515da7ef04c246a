"""Turn costs from real usage, cost estimates, and how costs are shown.

Conventions (see UsageReport):
- The common footing every adapter reports (`input_includes_cached=True`): input is every
  prompt token sent; cache reads and writes are parts of it, so uncached = input - cached -
  writes, and reads and writes are billed at their own rates (writes are typically 1.25x input).
- Raw Anthropic figures (`input_includes_cached=False`): `input_tokens` excludes cache reads and
  writes, which are billed on top.
A missing cached or cache-write rate falls back to the plain input rate (no discount assumed).
Long-context prices (ModelInfo.price_tiers): a request whose prompt, cache reads and writes
included, is over a tier's threshold has all its tokens, output too, billed at that tier's rates,
as Google, OpenAI and Anthropic bill them; the threshold is one request's, so sums of turns
(the baseline) are priced at the base rates.
An unknown input or output price gives None ("n/a"), never 0. A cost the provider reports
itself (OpenRouter's usage.cost) wins over any computed figure.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chatroute.catalog.models import ModelInfo
    from chatroute.providers.base import UsageReport

_MTOK = 1_000_000


def _rates(info: ModelInfo, prompt_tokens: int | None = None) -> tuple[float, float, float, float] | None:
    """(input, output, cached, write) per Mtok; at the long-context tier `prompt_tokens` is in
    when given."""
    inp, out = info.input_cost_per_mtok, info.output_cost_per_mtok
    if inp is None or out is None:
        return None
    cached = info.cached_input_cost_per_mtok if info.cached_input_cost_per_mtok is not None else inp
    write = info.cache_write_cost_per_mtok if info.cache_write_cost_per_mtok is not None else inp
    tier = None
    if prompt_tokens is not None:
        tier = next((t for t in reversed(info.price_tiers) if prompt_tokens > t.above_tokens), None)
    if tier is None:
        return inp, out, cached, write
    return (
        tier.input_cost_per_mtok if tier.input_cost_per_mtok is not None else inp,
        tier.output_cost_per_mtok if tier.output_cost_per_mtok is not None else out,
        tier.cached_input_cost_per_mtok if tier.cached_input_cost_per_mtok is not None else cached,
        tier.cache_write_cost_per_mtok if tier.cache_write_cost_per_mtok is not None else write,
    )


def provider_cost(info: ModelInfo, usage: UsageReport) -> float | None:
    """The cost the provider reported for the turn (OpenRouter's usage.cost) when it is the
    turn's cost: sane, and no price of the user's own overrides it; else None."""
    # Precedence: a user's price override > the provider's reported cost > the feed, from the
    # most to the least deliberate statement of what this turn cost.
    reported = usage.reported_cost_usd
    if (
        reported is not None
        and math.isfinite(reported)
        and reported >= 0
        and info.price_source != "override"
    ):
        return float(reported)
    return None


def turn_cost(info: ModelInfo, usage: UsageReport, *, one_request: bool = True) -> float | None:
    """USD for one turn from the API's usage report; None when the price is unknown.
    `one_request=False`: the counts are a sum of requests, priced at the base rates (no
    long-context tier applies to a sum)."""
    reported = provider_cost(info, usage)
    if reported is not None:
        return reported
    cached = max(usage.cached_input_tokens, 0)
    writes = max(usage.cache_write_tokens, 0)
    if usage.input_includes_cached:
        uncached = max(usage.input_tokens - cached - writes, 0)
    else:
        uncached = max(usage.input_tokens, 0)
    rates = _rates(info, uncached + cached + writes if one_request else None)
    if rates is None:
        return None
    inp, out, cached_rate, write_rate = rates
    try:
        total = (
            uncached * inp
            + cached * cached_rate
            + writes * write_rate
            + max(usage.output_tokens, 0) * out
        )
    except OverflowError:  # counts beyond a float: the report is nonsense, the cost unknown
        return None
    return total / _MTOK if math.isfinite(total) else None


def estimate_cost(
    info: ModelInfo, input_tokens: int, output_tokens: int, cached_tokens: int = 0
) -> float | None:
    """USD estimate before a call; `cached_tokens` is the part of `input_tokens` expected cached."""
    rates = _rates(info, max(input_tokens, 0))
    if rates is None:
        return None
    inp, out, cached_rate, _ = rates
    cached = min(max(cached_tokens, 0), max(input_tokens, 0))
    return ((max(input_tokens, 0) - cached) * inp + cached * cached_rate + max(output_tokens, 0) * out) / _MTOK
