"""Honest accounting: what was spent, what the baseline model would have cost, and budgets.

The baseline prices the very same token counts on one model the user names ("what if every
turn had gone to gpt-4o"). Because prices are linear in tokens, the baseline is computed from
per-model token sums in SQL, which keeps it fast on years of history. Saving from routing
and saving from the cache are reported apart, and a negative routing saving is said plainly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from chatroute.errors import UsageError
from chatroute.format import short_model
from chatroute.money import marked_usd, usd

if TYPE_CHECKING:
    from chatroute.catalog import Catalog, ModelInfo
    from chatroute.config import BudgetConfig
    from chatroute.engine_api import StoreAPI
    from chatroute.store import SpendRow, Store

WARN_FRACTION = 0.8


@dataclass(frozen=True)
class PeriodSummary:
    turns: int
    cost_usd: float
    unknown_cost_turns: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    # Both over the turns a model answered at a known cost (unknown_cost_turns are left out).
    baseline_cost_usd: float | None  # None when the baseline model has no known price
    routing_saved_usd: float | None  # baseline - actual, over every turn
    cache_saved_usd: float  # what cache hits would have cost on the model that would have answered
    cache_hits: int
    # Part of turns / cost_usd whose usage was estimated, not reported: stopped or killed
    # streams, servers that send no counts.
    estimated_turns: int = 0
    estimated_cost_usd: float = 0.0
    # routing_saved_usd split by who chose the model: the router (routed turns, the default, a
    # recovered stream) or the user (a pin, an override, a compare answer). Whether routing
    # paid off is the first: a pin of a cheap model is the user's saving, not the router's.
    routed_saved_usd: float | None = None
    chosen_saved_usd: float | None = None
    chosen_turns: int = 0  # of the turns with a known cost, those whose model the user chose
    routed_turns: int = 0  # and the others (cache hits among them, which cost nothing either way)
    # Of the turns the baseline covers, those whose usage was estimated: it prices their
    # estimated counts (a baseline model's own turn at its estimated cost).
    estimated_baseline_turns: int = 0
    # Of chosen_turns and routed_turns, those estimated on another model than the baseline: the
    # saving on them is an estimate (a turn on the baseline model saves exactly $0 against it).
    estimated_chosen_turns: int = 0
    estimated_routed_turns: int = 0
    # Of cache_hits, those whose saving is unknown (no known price for the model that would have
    # answered, and no cost its provider reported): left out of cache_saved_usd, never $0.
    cache_unpriced_hits: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def period_starts(now: datetime | None = None) -> dict[str, date | None]:
    """UTC starts of today, this ISO week, this month, and all time."""
    today = (now or datetime.now(UTC)).date()
    return {
        "today": today,
        "week": today - timedelta(days=today.weekday()),
        "month": today.replace(day=1),
        "all": None,
    }


def parse_since(value: str | None, now: datetime | None = None) -> date | None:
    if value is None:
        return None
    named = period_starts(now)
    if value in named:
        return named[value]
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--since {value!r}: use YYYY-MM-DD, today, week or month") from None
    today = named["today"] or day  # always set: only "all" has no start
    if day > today + timedelta(days=1):  # a day's slack: the user's today may be UTC's tomorrow
        raise UsageError(f"--since {value}: that date is in the future, so no turn can be counted")
    return day


def percent_used(fraction: float) -> int:
    """A cap's use in whole percent, never rounded up onto a threshold it has not reached:
    99.7% reads 99%, not the 100% of a cap reached (nor 79.6% the 80% that warns)."""
    pct = round(fraction * 100)
    for threshold in (100, round(WARN_FRACTION * 100)):
        if pct == threshold and fraction < threshold / 100:
            return threshold - 1
    return pct


@dataclass(frozen=True)
class CapSpend:
    """Spend so far against the configured caps (None = no cap). routing.policy.BudgetState
    extends it for the router; it lives here so the costs report does not import the router
    (and numpy with it)."""

    daily_spent_usd: float = 0.0
    daily_cap_usd: float | None = None
    monthly_spent_usd: float = 0.0
    monthly_cap_usd: float | None = None
    # Turns with no known price in each period: they spent what no cap can count ("n/a").
    daily_unknown_turns: int = 0
    monthly_unknown_turns: int = 0

    def used_fraction(self) -> float:
        fr = []
        for cap, spent in ((self.daily_cap_usd, self.daily_spent_usd), (self.monthly_cap_usd, self.monthly_spent_usd)):
            if cap is None:
                continue
            # A cap of 0 means "spend nothing": fully used from the start.
            fr.append(spent / cap if cap > 0 else 1.0)
        return max(fr) if fr else 0.0


def unknown_mark(turns: int) -> str:
    """` (+2 n/a)` after a spend that leaves out turns with no known price, as `costs` marks them."""
    return f" (+{turns} n/a)" if turns else ""


def cap_spend(store: Any, budget_cfg: Any, *, now: datetime | None = None, every_period: bool = False
              ) -> CapSpend | None:
    """Spend so far (UTC day and month) against `budget.daily_usd` / `budget.monthly_usd`.

    None when no cap is configured, so the router skips the budget logic entirely. With
    `every_period`, both spends are summed, capped or not (for reports: "today: $0.07")."""
    daily = getattr(budget_cfg, "daily_usd", None)
    monthly = getattr(budget_cfg, "monthly_usd", None)
    if daily is None and monthly is None and not every_period:
        return None
    now = now or datetime.now(UTC)
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    month_start = day_start.replace(day=1)

    def spent(since: datetime) -> tuple[float, int]:
        try:
            row = store.spend_totals(since=since)
        except Exception:  # noqa: BLE001 - a spend query must never block routing
            return 0.0, 0
        return float(row.cost_usd or 0.0), int(row.unknown_cost_turns or 0)

    day = spent(day_start) if daily is not None or every_period else (0.0, 0)
    month = spent(month_start) if monthly is not None or every_period else (0.0, 0)
    return CapSpend(
        daily_spent_usd=day[0],
        daily_cap_usd=daily,
        monthly_spent_usd=month[0],
        monthly_cap_usd=monthly,
        daily_unknown_turns=day[1],
        monthly_unknown_turns=month[1],
    )


def budget_report(store: StoreAPI, budget: BudgetConfig, now: datetime | None = None) -> dict[str, Any]:
    """Spend against the caps, with the warning the UI shows at 80% and at 100%."""
    state = cap_spend(store, budget, now=now, every_period=True)
    assert state is not None  # every_period: always a spend
    fraction = state.used_fraction()
    level = "over" if fraction >= 1 else "warn" if fraction >= WARN_FRACTION else "ok"
    message = None
    if level != "ok":
        parts = []
        # `is not None`: a cap of 0 (spend nothing) is a cap, reached from the start.
        if state.daily_cap_usd is not None:
            parts.append(f"{usd(state.daily_spent_usd)}{unknown_mark(state.daily_unknown_turns)} of "
                         f"{usd(state.daily_cap_usd)} today")
        if state.monthly_cap_usd is not None:
            parts.append(f"{usd(state.monthly_spent_usd)}{unknown_mark(state.monthly_unknown_turns)} of "
                         f"{usd(state.monthly_cap_usd)} this month")
        # Named turns are the user's choice and never wait: the warning printed right after an
        # `ask -m` had said that very turn would have waited.
        head = ("budget reached — a new routed paid turn waits for your yes (the TUI asks; `ask` needs "
                "--over-budget); a model you name (-m, @model, a pin) is sent without asking"
                if level == "over" else (
            "budget at 80% — the router is stepping down to cheaper models"))
        message = f"{head}: " + ", ".join(parts)
    return {"daily_usd": state.daily_cap_usd, "monthly_usd": state.monthly_cap_usd,
            "spent_today": state.daily_spent_usd, "spent_month": state.monthly_spent_usd,
            "unknown_cost_turns_today": state.daily_unknown_turns,
            "unknown_cost_turns_month": state.monthly_unknown_turns,
            "fraction": fraction, "level": level, "message": message}


def baseline_cost(rows: list[SpendRow], catalog: Catalog, baseline: ModelInfo) -> float | None:
    """The same token counts priced on `baseline` at today's prices, as `turn_cost` prices a turn;
    the baseline model's own turns at what they cost. Stored input is every prompt token sent,
    for every provider, of which `cached` were cache reads and `cache_write` cache writes
    (schema 4 restated older Anthropic turns). The rows must be the turns the actual cost covers
    (Store.known_cost_usage), or the saving counts a turn with no known price as free."""
    from chatroute.catalog.cost import turn_cost
    from chatroute.providers.base import UsageReport

    if not baseline.price_known:
        return None
    total = 0.0
    for row in rows:
        if row.key == baseline.id and row.cost_usd is not None:
            # What always using the baseline would have cost on these turns is what they did:
            # priced again after a price change, they saved (or lost) against themselves.
            total += row.cost_usd
            continue
        usage = UsageReport(input_tokens=row.input_tokens, output_tokens=row.output_tokens,
                            cached_input_tokens=row.cached_tokens, cache_write_tokens=row.cache_write_tokens)
        total += turn_cost(baseline, usage, one_request=False) or 0.0
    return total


def summarize(store: Store, catalog: Catalog, baseline: ModelInfo | None, since: date | None = None) -> PeriodSummary:
    totals = store.spend_totals(since=since)
    hits = store.cache_hits(since=since)
    unpriced_hits = store.cache_unpriced_hits(since=since) if hits else 0
    estimated_turns, estimated_cost = store.estimated_spend(since=since)
    base = routed_saved = chosen_saved = None
    turns_by: dict[bool, int] = {False: 0, True: 0}
    estimated_by: dict[bool, int] = {False: 0, True: 0}
    estimated_base = 0
    if baseline is not None:
        # The turns with a known cost, like `actual`: a turn with no known price is in neither.
        saved: dict[bool, float | None] = {}
        for chosen in (False, True):
            priced = [r for r in store.known_cost_usage(since=since, chosen=chosen) if r.key and r.turns]
            part = baseline_cost(priced, catalog, baseline)
            saved[chosen] = None if part is None else part - sum(r.cost_usd or 0.0 for r in priced)
            base = part if base is None or part is None else base + part
            turns_by[chosen] = sum(r.turns for r in priced)
            estimated_base += sum(r.estimated_turns for r in priced)
            estimated_by[chosen] = sum(r.estimated_turns for r in priced if r.key != baseline.id)
        # A difference of sums of the same figures: what is left under a nano-dollar is the
        # floats' rounding, not money ("your picks cost <$0.000001 more" than themselves).
        routed_saved, chosen_saved = (None if v is None else _no_dust(v) for v in (saved[False], saved[True]))
    actual = totals.cost_usd or 0.0
    return PeriodSummary(
        turns=totals.turns,
        cost_usd=actual,
        unknown_cost_turns=totals.unknown_cost_turns,
        input_tokens=totals.input_tokens,
        output_tokens=totals.output_tokens,
        cached_tokens=totals.cached_tokens,
        baseline_cost_usd=base,
        routing_saved_usd=None if base is None else _no_dust(base - actual),
        cache_saved_usd=totals.saved_usd or 0.0,
        cache_hits=hits,
        estimated_turns=estimated_turns,
        estimated_cost_usd=estimated_cost or 0.0,
        routed_saved_usd=routed_saved,
        chosen_saved_usd=chosen_saved,
        chosen_turns=turns_by[True],
        routed_turns=turns_by[False],
        estimated_baseline_turns=estimated_base,
        estimated_chosen_turns=estimated_by[True],
        estimated_routed_turns=estimated_by[False],
        cache_unpriced_hits=unpriced_hits,
    )


def _no_dust(amount: float) -> float:
    return 0.0 if abs(amount) < 1e-9 else amount


def verdict(summary: PeriodSummary, baseline_id: str, since: date | None = None) -> str:
    """One plain sentence on whether routing paid off, each amount with ≈ where part of it rests
    on estimated usage, as the table above it marks it. `summary` covers the turns from `since`."""
    name = short_model(baseline_id)
    if summary.turns == 0:
        # From a date, older turns may be in the table above: "yet" would deny them.
        return f"No turns since {since.isoformat()}." if since else "No turns yet."
    if summary.baseline_cost_usd is None:
        return f"The baseline {baseline_id} has no known price, so savings cannot be computed."
    base = summary.baseline_cost_usd
    # A cache hit's saving is always counted, never reported: it carries ≈ wherever it is shown.
    cache = f" The cache saved a further ≈{usd(summary.cache_saved_usd)}" if summary.cache_saved_usd else ""
    if k := summary.cache_unpriced_hits:
        hits = f"{k:,} hit{'s' if k != 1 else ''}"
        cache = (f"{cache} (+{hits} with no known price)" if cache
                 else f" What the cache's {hits} saved is not known (no known price)")
    cache += "." if cache else ""
    n = summary.unknown_cost_turns
    if n:
        cache += (f" {n:,} turn{'s' if n != 1 else ''} with no known price "
                  f"{'are' if n != 1 else 'is'} left out of both figures.")
    if summary.chosen_turns:
        # The user's own picks are not the router's doing: say each apart.
        routed = summary.routed_saved_usd or 0.0
        picks = summary.chosen_saved_usd or 0.0
        k = summary.chosen_turns
        est = summary.estimated_chosen_turns
        outcome = (f"saved {marked_usd(picks, estimated=est)} against {name}" if picks > 0
                   else f"cost {marked_usd(-picks, estimated=est)} more than {name} would have" if picks < 0
                   else f"cost the same as {name}")
        mine = f" The {k:,} turn{'s' if k != 1 else ''} whose model you chose (pins, overrides, compare) {outcome}."
        if not summary.routed_turns:
            return f"No turn was routed.{mine}{cache}"
        est = summary.estimated_routed_turns
        if routed > 0:
            return (f"On the turns it routed, routing saved {marked_usd(routed, estimated=est)} against always "
                    f"using {name}.{mine}{cache}")
        if routed < 0:
            return (f"On the turns it routed, routing cost {marked_usd(-routed, estimated=est)} more than always "
                    f"using {name} would have.{mine}{cache}")
        return f"On the turns it routed, routing cost the same as always using {name}.{mine}{cache}"
    saved = summary.routing_saved_usd or 0.0
    est = summary.estimated_routed_turns + summary.estimated_chosen_turns
    if saved > 0:
        pct = f" ({saved / base:.0%})" if base else ""
        return f"Routing saved {marked_usd(saved, estimated=est)}{pct} against always using {name}.{cache}"
    if saved < 0:
        return f"Routing cost {marked_usd(-saved, estimated=est)} more than always using {name} would have.{cache}"
    return f"Routing cost the same as always using {name}.{cache}"


def cache_saving(amount: float | None, hits: int, unpriced_hits: int, *, mark: str = "≈") -> str:
    """The cache's saving as the costs table writes a spend: `mark` on an amount (it is always
    counted, never reported), and the hits whose saving is unknown apart, `(+n n/a)`, as turns
    with no known price are; `n/a` alone when no hit's saving is known."""
    if unpriced_hits and unpriced_hits >= hits:
        return "n/a"
    amount = amount or 0.0
    text = (mark if amount > 0 else "") + usd(amount)
    return text + (f" (+{unpriced_hits:,} n/a)" if unpriced_hits else "")


def _as_dict(row: SpendRow) -> dict[str, Any]:
    # SpendRow.to_dict without dataclasses.asdict's recursive deep copy: the fields are plain
    # values, and by conversation there is a row per conversation (thousands, where asdict is
    # slow, and so is asking dataclasses.fields() for each). Its __dict__ holds them in order.
    return dict(vars(row))


def cost_report(
    store: Store,
    catalog: Catalog,
    *,
    baseline: str,
    budget: BudgetConfig,
    by: str = "day",
    since: date | None = None,
    now: datetime | None = None,
    days: int = 30,
) -> dict[str, Any]:
    """Everything the costs screen and `chatroute costs` show, as JSON-ready data, read from
    one snapshot of the database: while turns are written, a report from separate reads gave
    today 314 turns and all time 311."""
    with store.snapshot():
        return _cost_report(store, catalog, baseline=baseline, budget=budget, by=by, since=since, now=now,
                            days=days)


def _cost_report(store: Store, catalog: Catalog, *, baseline: str, budget: BudgetConfig, by: str,
                 since: date | None, now: datetime | None, days: int) -> dict[str, Any]:
    base_info = catalog.baseline(baseline)
    starts = period_starts(now)
    # `--since` is often one of the periods (none = "all", today, week, month): summed once.
    summaries = {start: summarize(store, catalog, base_info, start) for start in {*starts.values(), since}}
    periods = {name: summaries[start].to_dict() for name, start in starts.items()}
    selected = summaries[since]
    rows = [_as_dict(r) for r in store.spend(by=by, since=since)]  # type: ignore[arg-type]
    today = starts["today"]
    assert today is not None
    first_day = today - timedelta(days=days - 1)
    spent = {r.key: r.cost_usd or 0.0 for r in store.spend(by="day", since=first_day)}
    daily = [
        {"day": (first_day + timedelta(days=i)).isoformat(),
         "cost_usd": spent.get((first_day + timedelta(days=i)).isoformat(), 0.0)}
        for i in range(days)
    ]
    return {
        "baseline_model": baseline,
        "baseline_price_known": bool(base_info and base_info.price_known),
        "since": since.isoformat() if since else None,
        "by": by,
        "selected": selected.to_dict(),
        "periods": periods,
        "rows": rows,
        "daily": daily,
        "budget": budget_report(store, budget, now),
        "verdict": verdict(selected, baseline, since),
        "prices": [{"kind": t.kind, "source": t.source, "as_of": t.as_of} for t in catalog.price_tables],
    }
