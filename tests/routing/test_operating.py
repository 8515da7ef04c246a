"""Preset operating points: each preset's price of quality comes from a need quantile, so the
dearer model is bought on the needier prompts whatever the pool's quality spread."""

from __future__ import annotations

import numpy as np
import pytest

from chatroute.routing.operating import PRESET_NEED_QUANTILE, preset_price
from chatroute.routing.policy import Router, RouteRequest

from .conftest import make_model


class NeedStub:
    """A quality model whose need g is read from the prompt ("g=1.5"), with a fixed IRT curve."""

    quantiles = np.linspace(-3.0, 3.0, 41)  # need at quantile p: -3 + 6p

    def need_at(self, q: float) -> float:
        return float(np.interp(q, np.linspace(0, 1, 41), self.quantiles))

    def curve(self, g: float, abilities):  # type: ignore[no-untyped-def]
        th = (np.asarray(abilities, dtype=float) - 0.3) * 3.0
        a = max(0.05, 0.4 + 0.3 * g)
        return 1 / (1 + np.exp(-(1.0 - 0.2 * g + th * a)))

    def ability(self, m):  # type: ignore[no-untyped-def]
        return m.ability

    def predict(self, features, models):  # type: ignore[no-untyped-def]
        g = float(features.text.split("g=")[1])
        return {m.id: float(p) for m, p in zip(models, self.curve(g, [m.ability for m in models]), strict=True)}


POOL = [make_model("openai/gpt-4o-mini", 0.15, 0.6, 0.54), make_model("openai/gpt-4o", 2.5, 10.0, 0.61)]


def pick(preset: str, g: float) -> str:
    return Router(preset=preset, quality_model=NeedStub()).decide(RouteRequest(f"question g={g}", pool=POOL)).model


@pytest.mark.parametrize("preset", ["best", "balanced", "frugal"])
def test_the_dearer_model_is_bought_exactly_above_the_presets_need(preset: str) -> None:
    g_star = -3.0 + 6.0 * PRESET_NEED_QUANTILE[preset]
    assert pick(preset, g_star + 0.2) == "openai/gpt-4o"
    assert pick(preset, g_star - 0.2) == "openai/gpt-4o-mini"


def test_presets_order_the_share_of_strong_calls() -> None:
    needs = np.linspace(-3, 3, 61)
    share = {p: np.mean([pick(p, g) == "openai/gpt-4o" for g in needs]) for p in ("best", "balanced", "frugal")}
    assert share["best"] >= 0.85 and share["frugal"] <= 0.25
    assert share["best"] > share["balanced"] > share["frugal"]
    assert share["balanced"] <= 0.6


def test_explicit_cost_weight_still_prices_in_dollars() -> None:
    r = Router(preset="best", quality_model=NeedStub(), cost_weight=1e6)
    assert r.decide(RouteRequest("question g=3", pool=POOL)).model == "openai/gpt-4o-mini"


def test_no_price_spread_means_no_operating_point() -> None:
    same = [make_model("a/x", 1.0, 1.0, 0.4), make_model("b/y", 1.0, 1.0, 0.6)]
    assert preset_price(NeedStub(), "balanced", [(0.4, 0.01), (0.6, 0.01)]) is None
    assert Router(quality_model=NeedStub()).decide(RouteRequest("question g=0", pool=same)).model == "b/y"


def test_a_dearer_model_predicted_no_better_gets_the_presets_fixed_price() -> None:
    # Equal abilities (e.g. the user set both): a zero price would buy the dearer model on a tie.
    assert preset_price(NeedStub(), "balanced", [(0.05, 0.001), (0.05, 0.03)]) is None
    assert preset_price(NeedStub(), "balanced", [(0.6, 0.001), (0.4, 0.03)]) is None


def test_shipped_model_under_balanced_routes_some_prompts_to_the_dearer_model() -> None:
    """The defect: with gpt-4o-mini + gpt-4o under balanced, nothing went to gpt-4o."""
    from tests.routing.test_generalisation import DEMANDING, LIGHT

    r = Router(preset="balanced")
    hard = [r.decide(RouteRequest(p, pool=POOL)).model for p in DEMANDING]
    light = [r.decide(RouteRequest(p, pool=POOL)).model for p in LIGHT]
    assert hard.count("openai/gpt-4o") > light.count("openai/gpt-4o")
    assert hard.count("openai/gpt-4o") >= len(DEMANDING) // 2
    assert r.decide(RouteRequest("What is the capital of Italy?", pool=POOL)).model == "openai/gpt-4o-mini"


# A mid-priced model rated close to the dearest at a fraction of its price: the dearest model's
# break-even alone priced quality so low that this one won every prompt, the trivial ones too.
MID_POOL = [make_model("openai/gpt-4o-mini", 0.15, 0.6, 0.54), make_model("anthropic/claude-haiku-4-5", 1.0, 5.0, 0.60),
            make_model("openai/gpt-4o", 2.5, 10.0, 0.61)]


@pytest.mark.parametrize("preset", ["balanced", "frugal"])
def test_no_dearer_model_is_bought_below_the_presets_need(preset: str) -> None:
    g_star = -3.0 + 6.0 * PRESET_NEED_QUANTILE[preset]
    router = Router(preset=preset, quality_model=NeedStub())
    for g in (g_star - 0.2, g_star - 1.0, -3.0):
        assert router.decide(RouteRequest(f"question g={g}", pool=MID_POOL)).model == "openai/gpt-4o-mini"
    assert router.decide(RouteRequest(f"question g={g_star + 0.2}", pool=MID_POOL)).model != "openai/gpt-4o-mini"


def test_best_buys_the_strongest_model_above_its_need() -> None:
    """Quality first: the mid-priced model is the better buy at every need, yet above best's
    operating point the strongest model answers (the old rule, and the cost-first one, chose the
    mid-priced model for every prompt)."""
    g_star = -3.0 + 6.0 * PRESET_NEED_QUANTILE["best"]
    router = Router(preset="best", quality_model=NeedStub())
    for g in (g_star + 0.2, 1.0, 3.0):
        assert router.decide(RouteRequest(f"question g={g}", pool=MID_POOL)).model == "openai/gpt-4o"
    assert router.decide(RouteRequest(f"question g={g_star - 0.2}", pool=MID_POOL)).model != "openai/gpt-4o"


def test_the_price_is_the_best_buy_among_the_paid_models() -> None:
    stub = NeedStub()
    priced = [(0.54, 0.001), (0.60, 0.004), (0.61, 0.01)]
    g = stub.need_at(PRESET_NEED_QUANTILE["balanced"])
    p = stub.curve(g, [a for a, _ in priced])
    expected = max((p[k] - p[0]) / (priced[k][1] - priced[0][1]) for k in (1, 2))
    assert preset_price(stub, "balanced", priced) == pytest.approx(expected)
    g_best = stub.need_at(PRESET_NEED_QUANTILE["best"])
    b = stub.curve(g_best, [a for a, _ in priced])
    closest = min((b[2] - b[k]) / (priced[2][1] - priced[k][1]) for k in (0, 1))
    assert preset_price(stub, "best", priced) == pytest.approx(closest)
    # A free model in the pool does not set the price (any gain per dollar against it is huge);
    # with a single paid model it is the only reference there is.
    assert preset_price(stub, "balanced", [(0.05, 0.0), *priced]) == pytest.approx(expected)
    one_paid = [(0.05, 0.0), (0.61, 0.01)]
    q = stub.curve(g, [0.05, 0.61])
    assert preset_price(stub, "balanced", one_paid) == pytest.approx((q[1] - q[0]) / 0.01)
