"""Budget state for the router: today's and this month's spend against the configured caps,
and what a client needs to ask the user before spending past a cap."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from chatroute.accounting import cap_spend
from chatroute.format import short_model
from chatroute.money import usd
from chatroute.routing.decision import BUDGET_CAP_REACHED, is_budget_exclusion
from chatroute.routing.policy import BudgetState, NoRouteError, RouteCandidate

# The exclusion reason policy.Router.decide gives a paid model once a cap is used up.
CAP_REACHED = BUDGET_CAP_REACHED


def budget_state(store: Any, budget_cfg: Any, *, now: datetime | None = None,
                 pending_usd: float = 0.0) -> BudgetState | None:
    """Spend so far (UTC day and month) against `budget.daily_usd` / `budget.monthly_usd`,
    with `pending_usd` (turns still streaming, at their expected cost) counted as spent.

    None when no cap is configured, so the router skips the budget logic entirely."""
    spend = cap_spend(store, budget_cfg, now=now)
    if spend is None:
        return None
    return BudgetState(**{**asdict(spend), "daily_spent_usd": spend.daily_spent_usd + pending_usd,
                          "monthly_spent_usd": spend.monthly_spent_usd + pending_usd, "pending_usd": pending_usd})


@dataclass(frozen=True)
class BudgetBlock:
    """A turn the router refused because a cap is used up; the user may still allow it.

    `cheapest_model` is the model the turn runs on when the user says yes (None when no
    model the budget excluded has a known price, so nothing can be offered). A cap not used
    up yet blocks a turn whose expected cost on every model is more than is left of it."""

    period: str  # "daily" | "monthly": the cap that is used up (daily first), else the one with least left
    cap_usd: float
    spent_usd: float  # in the ledger
    cheapest_model: str | None
    expected_cost_usd: float | None = None
    reached: bool = True  # False: some of the cap is left, less than this turn would cost
    reserved_usd: float = 0.0  # by turns still streaming, in every process: counted, not yet spent

    @property
    def summary(self) -> str:
        """`Daily budget $2.00 reached (spent $2.13).`, or what is left when that is too little."""
        reserved = f", {usd(self.reserved_usd)} reserved by turns in progress" if self.reserved_usd else ""
        if self.reached:
            return (f"{self.period.capitalize()} budget {usd(self.cap_usd)} reached "
                    f"(spent {usd(self.spent_usd)}{reserved}).")
        held = f" ({usd(self.reserved_usd)} reserved by turns in progress)" if self.reserved_usd else ""
        return (f"{self.period.capitalize()} budget {usd(self.cap_usd)}: {usd(self.left_usd)} left{held}, "
                "less than this turn would cost.")

    @property
    def left_usd(self) -> float:
        return max(0.0, self.cap_usd - self.spent_usd - self.reserved_usd)

    def figures(self) -> str:
        """`$0.13 spent of $2.00`, or with what turns in progress hold: `$0.13 spent and $1.90
        reserved by turns in progress, of $2.00`."""
        if not self.reserved_usd:
            return f"{usd(self.spent_usd)} spent of {usd(self.cap_usd)}"
        return (f"{usd(self.spent_usd)} spent and {usd(self.reserved_usd)} reserved by turns in progress, "
                f"of {usd(self.cap_usd)}")

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
        spent = block.figures()
        left = f"{';' if block.reserved_usd else ','} {usd(block.left_usd)} left"
        message = (f"the {block.period} budget cap is reached ({spent})" if block.reached else
                   f"this turn would exceed the {block.period} budget ({spent}{left})")
        super().__init__(message, candidates or [])
        self.block = block


def is_budget_refusal(exc: BaseException) -> bool:
    """True when the router found no model because the budget excluded them (the cap is used
    up, or what is left of it is less than the turn would cost)."""
    return isinstance(exc, NoRouteError) and any(is_budget_exclusion(c.excluded) for c in exc.candidates)


def block_from_refusal(state: BudgetState, exc: NoRouteError) -> BudgetBlock:
    """Which cap blocks the turn, and the cheapest model the budget excluded (by this turn's
    expected cost)."""
    caps = [(period, float(cap), float(spent)) for period, cap, spent in
            (("daily", state.daily_cap_usd, state.daily_spent_usd),
             ("monthly", state.monthly_cap_usd, state.monthly_spent_usd)) if cap is not None]
    reached = any(c.excluded == CAP_REACHED for c in exc.candidates)
    used_up = [cap for cap in caps if cap[2] >= cap[1]]
    if used_up:
        period, cap, spent = used_up[0]
    elif caps:
        period, cap, spent = min(caps, key=lambda cap: cap[1] - cap[2])
    else:
        period, cap, spent = "daily", 0.0, 0.0
    blocked = [c for c in exc.candidates if is_budget_exclusion(c.excluded) and c.expected_cost_usd is not None]
    cheapest = min(blocked, key=lambda c: (c.expected_cost_usd, c.model), default=None)
    # The spend the router weighed counts the turns in progress; the ledger's is told apart.
    reserved = state.pending_usd if caps else 0.0
    return BudgetBlock(
        period=period, cap_usd=cap, spent_usd=max(0.0, spent - reserved) if reserved else spent,
        cheapest_model=cheapest.model if cheapest else None,
        expected_cost_usd=cheapest.expected_cost_usd if cheapest else None,
        reached=reached or bool(used_up), reserved_usd=reserved,
    )
