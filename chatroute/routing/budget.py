"""Budget state for the router: today's and this month's spend against the configured caps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chatroute.routing.policy import BudgetState


def budget_state(store: Any, budget_cfg: Any, *, now: datetime | None = None) -> BudgetState | None:
    """Spend so far (UTC day and month) against `budget.daily_usd` / `budget.monthly_usd`.

    None when no cap is configured, so the router skips the budget logic entirely."""
    daily = getattr(budget_cfg, "daily_usd", None)
    monthly = getattr(budget_cfg, "monthly_usd", None)
    if daily is None and monthly is None:
        return None
    now = now or datetime.now(UTC)
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    month_start = day_start.replace(day=1)

    def spent(since: datetime) -> float:
        try:
            row = store.spend_totals(since=since)
        except Exception:  # noqa: BLE001 - a spend query must never block routing
            return 0.0
        return float(row.cost_usd or 0.0)

    return BudgetState(
        daily_spent_usd=spent(day_start) if daily is not None else 0.0,
        daily_cap_usd=daily,
        monthly_spent_usd=spent(month_start) if monthly is not None else 0.0,
        monthly_cap_usd=monthly,
    )
