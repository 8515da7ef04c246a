"""Costs: totals, a 30-day chart, tables by model/day/conversation, the baseline comparison and
budget status, all from `Engine.cost_report(since=None)`.

Expected dict shape (keys the screen reads; missing ones show as n/a):
    totals: {today, week, month, all: float}           turns: {today, week, month, all: int} (optional)
    daily_30: list[float]  (30 values, oldest first, ending today)
    by_model: [{model, turns, input_tokens, output_tokens, cached_tokens, cost_usd, unknown_cost_turns}]
    by_day: [{day: "YYYY-MM-DD", turns, cost_usd}]     (newest first)
    by_conversation: [{conversation_id, title, turns, cost_usd}]
    baseline: {model, cost_usd: float|None, actual_usd, routing_saved_usd, cache_saved_usd}
    budget: {daily_usd|None, daily_spent, monthly_usd|None, monthly_spent, state: ok|warn|over, message?}
    prices_as_of: "YYYY-MM-DD" | None
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Sparkline, Static

from chatroute.tui.data import Backend, fmt_tokens, fmt_usd, short_model


def baseline_sentence(baseline: dict[str, Any] | None) -> str:
    """Say plainly whether routing paid off against always using the baseline model."""
    if not baseline:
        return "No baseline configured (ui.baseline_model)."
    model = short_model(baseline.get("model"))
    if baseline.get("cost_usd") is None:
        return f"The baseline {model} has no known price, so savings cannot be computed."
    routing = float(baseline.get("routing_saved_usd") or 0.0)
    cache = float(baseline.get("cache_saved_usd") or 0.0)
    cache_part = f"the cache saved {fmt_usd(cache)}"
    if routing >= 0:
        return (f"Always using {model} would have cost {fmt_usd(baseline['cost_usd'])}; "
                f"routing saved {fmt_usd(routing)}, {cache_part}.")
    return f"Routing cost you {fmt_usd(-routing)} more than always using {model}; {cache_part}."


def budget_lines(budget: dict[str, Any] | None) -> Text:
    if not budget:
        return Text("No budget set (budget.daily_usd / budget.monthly_usd).", style="dim")
    out = Text()
    periods = (("today", "daily_usd", "daily_spent"), ("this month", "monthly_usd", "monthly_spent"))
    for label, cap_key, spent_key in periods:
        cap, spent = budget.get(cap_key), float(budget.get(spent_key) or 0.0)
        if cap:
            pct = 100.0 * spent / float(cap)
            style = "bold red" if pct >= 100 else ("yellow" if pct >= 80 else "")
            mark = " ⛔ over budget" if pct >= 100 else (" ⚠" if pct >= 80 else "")
            out.append(f"{label}: {fmt_usd(spent)} of {fmt_usd(cap)} ({pct:.0f}%){mark}\n", style=style)
        else:
            out.append(f"{label}: {fmt_usd(spent)} (no cap)\n", style="dim")
    if budget.get("message"):
        out.append(str(budget["message"]), style="italic")
    return out


class CostsScreen(Screen[None]):
    DEFAULT_CSS = """
    CostsScreen VerticalScroll { padding: 0 1; }
    CostsScreen #totals { height: 5; }
    CostsScreen .total {
        width: 1fr; height: 5; border: round $primary 50%; content-align: center middle; text-align: center;
    }
    CostsScreen Sparkline { height: 3; margin: 0 0; }
    CostsScreen .section { text-style: bold; margin-top: 1; height: 1; }
    CostsScreen .muted { color: $text-muted; height: auto; }
    CostsScreen DataTable { height: auto; max-height: 14; }
    CostsScreen #tables { height: auto; }
    CostsScreen #tables > Vertical { width: 1fr; height: auto; margin-right: 2; }
    """

    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Close"),
        Binding("r", "reload", "Refresh"),
    ]

    def __init__(self, backend: Backend) -> None:
        super().__init__()
        self.backend = backend
        self.report: dict[str, Any] = {}
        self.sub_title = "costs"

    def compose(self) -> ComposeResult:
        try:
            self.report = self.backend.cost_report()
            error = None
        except Exception as exc:
            self.report, error = {}, str(exc)
        r = self.report
        totals, turns = r.get("totals", {}), r.get("turns", {})
        yield Header()
        with VerticalScroll():
            if error:
                yield Static(Text(f"⚠ could not compute costs: {error}", style="bold red"))
            with Horizontal(id="totals"):
                periods = (("today", "today"), ("week", "this week"), ("month", "this month"), ("all", "all time"))
                for key, label in periods:
                    n = turns.get(key)
                    yield Static(Text.assemble((label + "\n", "dim"), (fmt_usd(totals.get(key)), "bold"),
                                               f"\n{n} turns" if n is not None else ""), classes="total",
                                 id=f"total-{key}")
            yield Static("Last 30 days", classes="section")
            yield Sparkline([float(v or 0.0) for v in r.get("daily_30", [])] or [0.0], summary_function=max)
            yield Static("Baseline", classes="section")
            yield Static(Text(baseline_sentence(r.get("baseline"))), id="baseline", classes="muted")
            yield Static("Budget", classes="section")
            yield Static(budget_lines(r.get("budget")), id="budget", classes="muted")
            yield Static("By model", classes="section")
            yield DataTable(id="by-model", cursor_type="row", zebra_stripes=True)
            with Horizontal(id="tables"):
                with Vertical():
                    yield Static("By day", classes="section")
                    yield DataTable(id="by-day", cursor_type="row", zebra_stripes=True)
                with Vertical():
                    yield Static("By conversation", classes="section")
                    yield DataTable(id="by-conversation", cursor_type="row", zebra_stripes=True)
            as_of = r.get("prices_as_of") or self.backend.prices_as_of()
            yield Static(f"prices as of {as_of}" if as_of else "price table age unknown", classes="muted")
        yield Footer()

    def on_mount(self) -> None:
        r = self.report
        t = self.query_one("#by-model", DataTable)
        t.add_columns("model", "turns", "in", "out", "cached", "cost")
        for row in r.get("by_model", []):
            cost = fmt_usd(row.get("cost_usd"))
            if row.get("unknown_cost_turns"):
                cost += f" (+{row['unknown_cost_turns']} n/a)"
            t.add_row(short_model(row.get("model")), str(row.get("turns", "")), fmt_tokens(row.get("input_tokens")),
                      fmt_tokens(row.get("output_tokens")), fmt_tokens(row.get("cached_tokens")), cost)
        d = self.query_one("#by-day", DataTable)
        d.add_columns("day", "turns", "cost")
        for row in r.get("by_day", []):
            d.add_row(str(row.get("day", "")), str(row.get("turns", "")), fmt_usd(row.get("cost_usd")))
        c = self.query_one("#by-conversation", DataTable)
        c.add_columns("conversation", "turns", "cost")
        for row in r.get("by_conversation", []):
            c.add_row(str(row.get("title") or row.get("conversation_id") or "?")[:50], str(row.get("turns", "")),
                      fmt_usd(row.get("cost_usd")))

    async def action_reload(self) -> None:
        await self.recompose()
        self.on_mount()
