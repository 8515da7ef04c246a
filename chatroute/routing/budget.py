"""Budget state for the router: today's and this month's spend against the configured caps,
and what a client needs to ask the user before spending past a cap."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from chatroute.accounting import cap_spend
from chatroute.format import short_model
from chatroute.money import usd
from chatroute.routing.policy import BudgetState, NoRouteError, RouteCandidate

# The exclusion reason policy.Router.decide gives a paid model once a cap is used up.
CAP_REACHED = "budget cap reached"


def budget_state(store: Any, budget_cfg: Any, *, now: datetime | None = None) -> BudgetState | None:
    """Spend so far (UTC day and month) against `budget.daily_usd` / `budget.monthly_usd`.

    None when no cap is configured, so the router skips the budget logic entirely."""
    spend = cap_spend(store, budget_cfg, now=now)
    return None if spend is None else BudgetState(**asdict(spend))


@dataclass(frozen=True)
class BudgetBlock:
    """A turn the router refused because a cap is used up; the user may still allow it.

    `cheapest_model` is the model the turn runs on when the user says yes (None when no
    pool model has a known price, so nothing can be offered)."""

    period: str  # "daily" | "monthly": the cap that is used up (daily first when both are)
    cap_usd: float
    spent_usd: float
    cheapest_model: str | None
    expected_cost_usd: float | None = None

    @property
    def summary(self) -> str:
        """`Daily budget $2.00 reached (spent $2.13).`"""
        return f"{self.period.capitalize()} budget {usd(self.cap_usd)} reached (spent {usd(self.spent_usd)})."

    def question(self) -> str:
        """The TUI's confirmation: `... Send anyway on gpt-4o-mini?`"""
        if self.cheapest_model is None:
            return f"{self.summary} No model with a known price can take this turn."
        cost = f" (about {usd(self.expected_cost_usd)})" if self.expected_cost_usd else ""
        return f"{self.summary} Send anyway on {short_model(self.cheapest_model)}{cost}?"


class BudgetExceeded(NoRouteError):
    """Raised by Engine.run_turn before anything is stored when a cap is used up and the
    caller did not pass `allow_over_budget=True`. Exit code 2: the way out is the user's."""

    def __init__(self, block: BudgetBlock, candidates: list[RouteCandidate] | None = None) -> None:
        # Keeps the router's "budget cap is reached" wording that scripts may already match.
        super().__init__(f"the {block.period} budget cap is reached ({usd(block.spent_usd)} spent of "
                         f"{usd(block.cap_usd)})", candidates or [])
        self.block = block


def is_budget_refusal(exc: BaseException) -> bool:
    """True when the router found no model only because the budget cap excluded them."""
    return isinstance(exc, NoRouteError) and any(c.excluded == CAP_REACHED for c in exc.candidates)


def block_from_refusal(state: BudgetState, exc: NoRouteError) -> BudgetBlock:
    """Which cap is used up, and the cheapest model the cap excluded (by this turn's expected cost)."""
    period, cap, spent = "daily", state.daily_cap_usd, state.daily_spent_usd
    daily_used = state.daily_cap_usd is not None and (
        state.daily_spent_usd >= state.daily_cap_usd if state.daily_cap_usd > 0 else True)
    if not daily_used and state.monthly_cap_usd is not None:
        period, cap, spent = "monthly", state.monthly_cap_usd, state.monthly_spent_usd
    blocked = [c for c in exc.candidates if c.excluded == CAP_REACHED and c.expected_cost_usd is not None]
    cheapest = min(blocked, key=lambda c: (c.expected_cost_usd, c.model), default=None)
    return BudgetBlock(
        period=period, cap_usd=float(cap or 0.0), spent_usd=float(spent),
        cheapest_model=cheapest.model if cheapest else None,
        expected_cost_usd=cheapest.expected_cost_usd if cheapest else None,
    )
