"""Cost arithmetic against hand-computed cases."""

from __future__ import annotations

import pytest

from chatroute.catalog.cost import estimate_cost, turn_cost
from chatroute.catalog.models import ModelInfo
from chatroute.money import usd
from chatroute.providers.base import UsageReport


def info(inp, out, cached=None, write=None, source="bundled") -> ModelInfo:
    return ModelInfo(
        id="p/m", provider="p", name="m", input_cost_per_mtok=inp, output_cost_per_mtok=out,
        cached_input_cost_per_mtok=cached, cache_write_cost_per_mtok=write, price_source=source,
    )


GPT_4O = info(2.50, 10.00, cached=1.25)
SONNET = info(3.00, 15.00, cached=0.30, write=3.75)


def test_openai_cached_tokens_are_a_subset_of_input() -> None:
    # 1000 prompt tokens of which 400 cached, 200 output:
    # 600 * 2.50 + 400 * 1.25 + 200 * 10.00 = 1500 + 500 + 2000 = 4000 per 1e6 -> $0.004
    usage = UsageReport(input_tokens=1000, output_tokens=200, cached_input_tokens=400)
    assert turn_cost(GPT_4O, usage) == pytest.approx(0.004)


def test_openai_without_cache() -> None:
    # 1234 * 2.5 + 56 * 10 = 3085 + 560 = 3645 -> $0.003645
    usage = UsageReport(input_tokens=1234, output_tokens=56)
    assert turn_cost(GPT_4O, usage) == pytest.approx(0.003645)


def test_anthropic_cache_read_and_write_billed_on_top() -> None:
    # input 100 (excludes cache), read 2000 @0.30, write 1000 @3.75, output 500 @15:
    # 300 + 600 + 3750 + 7500 = 12150 -> $0.01215
    usage = UsageReport(
        input_tokens=100, output_tokens=500, cached_input_tokens=2000,
        cache_write_tokens=1000, input_includes_cached=False,
    )
    assert turn_cost(SONNET, usage) == pytest.approx(0.01215)


def test_missing_cache_rates_fall_back_to_input_rate() -> None:
    m = info(1.0, 2.0)
    openai_style = UsageReport(input_tokens=1000, output_tokens=0, cached_input_tokens=500)
    assert turn_cost(m, openai_style) == pytest.approx(0.001)  # no discount assumed
    anthropic_style = UsageReport(
        input_tokens=10, output_tokens=0, cached_input_tokens=20, cache_write_tokens=30,
        input_includes_cached=False,
    )
    assert turn_cost(m, anthropic_style) == pytest.approx(60 / 1e6)


def test_reported_cost_wins() -> None:
    usage = UsageReport(input_tokens=1000, output_tokens=200, reported_cost_usd=0.0123)
    assert turn_cost(GPT_4O, usage) == 0.0123
    assert turn_cost(info(None, None, source="unknown"), usage) == 0.0123


def test_unknown_price_is_none_never_zero() -> None:
    unknown = info(None, None, source="unknown")
    usage = UsageReport(input_tokens=10, output_tokens=10)
    assert turn_cost(unknown, usage) is None
    assert estimate_cost(unknown, 10, 10) is None
    assert turn_cost(info(1.0, None), usage) is None  # half a price is no price
    assert usd(turn_cost(unknown, usage)) == "n/a"


def test_local_costs_zero() -> None:
    local = info(0.0, 0.0, 0.0, 0.0, source="local")
    usage = UsageReport(input_tokens=5000, output_tokens=5000, cached_input_tokens=100)
    assert turn_cost(local, usage) == 0.0
    assert usd(0.0) == "$0.00"


def test_estimate_cost() -> None:
    # 2000 in (500 cached) + 300 out on gpt-4o: 1500*2.5 + 500*1.25 + 300*10 = 3750+625+3000
    assert estimate_cost(GPT_4O, 2000, 300, cached_tokens=500) == pytest.approx(7375 / 1e6)
    assert estimate_cost(GPT_4O, 2000, 300) == pytest.approx(8000 / 1e6)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "n/a"),
        (float("nan"), "n/a"),
        (0, "$0.00"),
        (12.345, "$12.35"),
        (1234.5, "$1,234.50"),
        (0.25, "$0.25"),
        (0.0123, "$0.012"),
        (0.05, "$0.05"),
        (0.00042, "$0.00042"),
        (0.0042, "$0.0042"),
        (0.000004321, "$0.0000043"),
        (1e-9, "<$0.000001"),
        # Amounts that round up into the next range are written by its rule: $0.09995 was "$0.1".
        (0.09995, "$0.10"),
        (0.0999999, "$0.10"),
        (0.0099996, "$0.01"),
        (0.999999, "$1.00"),
        (-0.09995, "-$0.10"),
    ],
)
def test_money_format(value, text) -> None:
    assert usd(value) == text
