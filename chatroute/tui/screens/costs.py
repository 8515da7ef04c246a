"""Costs: totals, a 30-day chart, tables by model/day/conversation, the baseline comparison and
budget status, all from `Engine.cost_report(since=None)`.

Expected dict shape (keys the screen reads; missing ones show as n/a):
    totals: {today, week, month, all: float}           turns: {today, week, month, all: int} (optional)
    markers: {today, week, month, all: {estimated_turns, unknown_cost_turns}} (optional)
    daily_30: list[float]  (30 values, oldest first, ending today)
    by_model: [{model, turns, input_tokens, output_tokens, cached_tokens, cost_usd, unknown_cost_turns}]
    by_day: [{day: "YYYY-MM-DD", turns, cost_usd}]     (newest first)
    by_conversation: [{conversation_id, title, turns, cost_usd}]
    by_client: [{client, label, turns, cost_usd}]   (client None: chatroute's own chat)
    (any row may hold unknown_cost_turns and estimated_turns: its n/a and ≈ markers)
    baseline: {model, turns, cost_usd: float|None, actual_usd, routing_saved_usd, routed_saved_usd, chosen_saved_usd,
               chosen_turns, cache_saved_usd, cache_hits, cache_unpriced_hits, unknown_cost_turns}
    budget: {daily_usd|None, daily_spent, monthly_usd|None, monthly_spent, state: ok|warn|over, message?}
(the prices' age comes from the backend's price_dates, as the status bar's)
"""

from __future__ import annotations

from typing import Any

from rich.cells import cell_len, set_cell_size
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, VerticalScroll
from textual.content import Content
from textual.geometry import Size
from textual.screen import Screen
from textual.widgets import DataTable, Header, Sparkline, Static

from chatroute.accounting import cache_saving, percent_used, unknown_mark
from chatroute.catalog.prices import as_of_label
from chatroute.money import marked_usd, usd
from chatroute.tui.data import Backend, short_model
from chatroute.tui.widgets.footer import KeysFooter

TITLE_CELLS = 40  # a conversation title longer than this is cut with an ellipsis: the table stays readable
# Narrower than this, the cards go two to a row and the model table leaves out its token counts:
# four cards a row had 7 cells for an amount ('$0.0000' and '66' on two lines, the rest cut) and
# the tables' costs were past the right edge.
NARROW_COLUMNS = 72
# Columns a DataTable adds to each of its columns' text, and the screen's own (padding, scrollbar).
CELL_PADDING = 2
SCREEN_GUTTER = 4
MIN_TITLE_CELLS = 8


def fmt_count(n: int | None) -> str:
    """Token counts in one style down a column: 950, 6.4k, 18.0k, 1.2M."""
    if n is None:
        return "?"
    if n < 1000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1000:.1f}k"
    return f"{n / 1_000_000:.1f}M"


def row_money(row: dict[str, Any]) -> str:
    """A row's cost (a model, a day, a conversation, a client), marked as its totals are."""
    return marked_usd(row.get("cost_usd"), estimated=int(row.get("estimated_turns") or 0),
                 unknown=int(row.get("unknown_cost_turns") or 0))


def clip(text: str, width: int) -> str:
    """`text` in at most `width` terminal cells (a CJK character takes two), … marking a cut."""
    if cell_len(text) <= width:
        return text
    return set_cell_size(text, width - 1).rstrip(" ") + "…"


def baseline_sentence(baseline: dict[str, Any] | None) -> str:
    """Say plainly whether routing paid off against always using the baseline model, each amount
    with ≈ where part of it rests on estimated usage (as `chatroute costs` marks it)."""
    if not baseline:
        return "No baseline configured (ui.baseline_model)."
    if baseline.get("turns") == 0:  # as `chatroute costs` says it: there is nothing to have saved on
        return "No turns yet."
    model = short_model(baseline.get("model"))
    if baseline.get("cost_usd") is None:
        return f"The baseline {model} has no known price, so savings cannot be computed."
    base = marked_usd(baseline["cost_usd"], estimated=baseline.get("estimated_baseline_turns") or 0)
    cache_part = "the cache saved " + cache_saving(float(baseline.get("cache_saved_usd") or 0.0),
                                                   int(baseline.get("cache_hits") or 0),
                                                   int(baseline.get("cache_unpriced_hits") or 0))
    # As the verdict of `chatroute costs` says it: the card's (+n n/a) turns are in neither figure.
    n = int(baseline.get("unknown_cost_turns") or 0)
    left_out = f" {n:,} turn{'s' if n != 1 else ''} with no known price {'are' if n != 1 else 'is'} left out of both " \
               "figures." if n else ""
    picks = ""
    estimated = baseline.get("estimated_routed_turns") or 0
    if baseline.get("chosen_turns"):
        # Turns whose model the user named are the user's saving (or cost), not the router's.
        routing = float(baseline.get("routed_saved_usd") or 0.0)
        mine = float(baseline.get("chosen_saved_usd") or 0.0)
        amount = marked_usd(abs(mine), estimated=baseline.get("estimated_chosen_turns") or 0)
        picks = f"your own picks {'saved' if mine >= 0 else 'cost'} {amount}{'' if mine >= 0 else ' more'}, "
        if not baseline.get("routed_turns"):
            return f"Always using {model} would have cost {base}; no turn was routed; {picks}{cache_part}.{left_out}"
    else:
        routing = float(baseline.get("routing_saved_usd") or 0.0)
        estimated += baseline.get("estimated_chosen_turns") or 0
    if routing >= 0:
        return (f"Always using {model} would have cost {base}; routing saved "
                f"{marked_usd(routing, estimated=estimated)}, {picks}{cache_part}.{left_out}")
    return (f"Routing cost you {marked_usd(-routing, estimated=estimated)} more than always using {model}; "
            f"{picks}{cache_part}.{left_out}")


def budget_lines(budget: dict[str, Any] | None) -> Text:
    if not budget:
        return Text("No budget set (budget.daily_usd / budget.monthly_usd).", style="dim")
    out = Text()
    for label, cap_key, spent_key, unknown_key in (("today", "daily_usd", "daily_spent", "daily_unknown"),
                                                   ("this month", "monthly_usd", "monthly_spent", "monthly_unknown")):
        cap, spent = budget.get(cap_key), float(budget.get(spent_key) or 0.0)
        unknown = unknown_mark(int(budget.get(unknown_key) or 0))
        if cap is not None:  # a cap of 0 (spend nothing) is a cap, used up from the start
            pct = percent_used(spent / float(cap) if cap > 0 else 1.0)
            style = "bold red" if pct >= 100 else ("yellow" if pct >= 80 else "")
            mark = " ⛔ over budget" if pct >= 100 else (" ⚠" if pct >= 80 else "")
            out.append(f"{label}: {usd(spent)}{unknown} of {usd(cap)} ({pct}%){mark}\n", style=style)
        else:
            out.append(f"{label}: {usd(spent)}{unknown} (no cap)\n", style="dim")
    if budget.get("message"):
        out.append(str(budget["message"]), style="italic")
    return out


def serve_line(live: dict[str, Any] | None) -> str:
    if not live:
        return "chatroute serve is not running"
    return (f"running at {live.get('url')} (pid {live.get('pid')}) since {str(live.get('started_at', ''))[:19]}: "
            f"{live.get('requests', 0)} requests, {usd(live.get('cost_usd'))}"
            + (f", {live['active']} running" if live.get("active") else ""))


def short_usd(amount: float | None, *, estimated: bool) -> str:
    """An amount of $1,000 or more in fewer cells, for a card too narrow for it: ≈$12.3k, $1.2M."""
    if amount is None or abs(amount) < 1000:
        return marked_usd(amount, estimated=estimated)
    size, unit = next((size, unit) for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")) if abs(amount) >= size)
    return ("≈" if estimated else "") + ("-" if amount < 0 else "") + f"${abs(amount) / size:.1f}{unit}"


class TotalCard(Static):
    """One of the totals: its label, amount and turns, each line laid out for the card's width so
    that no figure is ever split across two lines (wrapped, '(+12' ended one line and 'n/a)' began
    the next, and '12,345,678' stood apart from its 'turns'). Too narrow for the amount and its
    '(+n n/a)' on one line, the note goes under it; too narrow for the amount, it is shortened
    ($12.3k); for the turns, they are counted short (12.3M turns)."""

    def __init__(self, label: str, amount: float | None, *, estimated: int, unknown: int, turns: int | None,
                 **kw: Any) -> None:
        self.label, self.amount, self.estimated, self.unknown, self.turns = label, amount, estimated, unknown, turns
        super().__init__(self._laid_out(0), **kw)  # `content`: every line whole, as a wide card shows it

    def lines(self, width: int) -> list[tuple[str, str]]:
        """(text, style) a line, for `width` cells (0: not laid out yet, every line whole)."""

        def fits(text: str) -> bool:
            return width <= 0 or cell_len(text) <= width

        def first_that_fits(*forms: str) -> str:
            for form in forms:
                if fits(form):
                    return form
            return clip(forms[-1], width)

        amount = marked_usd(self.amount, estimated=self.estimated)
        note = unknown_mark(self.unknown).strip()
        out = [(first_that_fits(self.label), "dim")]
        if note and fits(f"{amount} {note}"):
            out.append((f"{amount} {note}", "bold"))
        else:
            out.append((first_that_fits(amount, short_usd(self.amount, estimated=bool(self.estimated))), "bold"))
            if note:
                out.append((first_that_fits(note, f"+{self.unknown} n/a"), "bold"))
        if self.turns is not None:
            n = self.turns
            out.append((first_that_fits(f"{n:,} turn{'' if n == 1 else 's'}", f"{fmt_count(n)} turns",
                                        fmt_count(n)), ""))
        return out

    def _laid_out(self, width: int) -> Content:
        return Content("\n").join(Content.styled(text, style) for text, style in self.lines(width))

    def render(self) -> Content:
        return self._laid_out(self.content_size.width)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.lines(width))


class CostsScreen(Screen[None]):
    DEFAULT_CSS = """
    CostsScreen VerticalScroll { padding: 0 1; }
    CostsScreen #totals { layout: grid; grid-size: 4; grid-rows: auto; height: auto; }
    CostsScreen.-narrow #totals { grid-size: 2; }
    CostsScreen .total {
        width: 1fr; height: 100%; min-height: 5; border: round $primary 50%; content-align: center middle;
        text-align: center;
    }
    CostsScreen Sparkline { height: 3; margin: 0 0; }
    CostsScreen .section { text-style: bold; margin-top: 1; height: 1; }
    CostsScreen .muted { color: $text-muted; height: auto; }
    CostsScreen DataTable { height: auto; }
    """

    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Close"),
        Binding("r", "reload", "Refresh"),
    ]
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (NARROW_COLUMNS, "-wide")]

    def __init__(self, backend: Backend) -> None:
        super().__init__()
        self.backend = backend
        self.report: dict[str, Any] = {}
        self.sub_title = "costs"
        self._filled_for = 0  # the width the tables were filled for

    def compose(self) -> ComposeResult:
        try:
            self.report = self.backend.cost_report()
            error = None
        except Exception as exc:
            self.report, error = {}, str(exc)
        r = self.report
        totals, turns, markers = r.get("totals", {}), r.get("turns", {}), r.get("markers", {})
        yield Header()
        with VerticalScroll():
            if error:
                yield Static(Text(f"⚠ could not compute costs: {error}", style="bold red"))
            with Container(id="totals"):
                for key, label in (("today", "today"), ("week", "this week"), ("month", "this month"),
                                   ("all", "all time")):
                    mark = markers.get(key) or {}
                    yield TotalCard(label, totals.get(key), estimated=int(mark.get("estimated_turns") or 0),
                                    unknown=int(mark.get("unknown_cost_turns") or 0), turns=turns.get(key),
                                    classes="total", id=f"total-{key}")
            yield Static("Last 30 days", classes="section")
            yield Sparkline([float(v or 0.0) for v in r.get("daily_30", [])] or [0.0], summary_function=max)
            yield Static("Baseline", classes="section")
            yield Static(Text(baseline_sentence(r.get("baseline"))), id="baseline", classes="muted")
            yield Static("Budget", classes="section")
            yield Static(budget_lines(r.get("budget")), id="budget", classes="muted")
            yield Static("By model", classes="section")
            yield DataTable(id="by-model", cursor_type="row", zebra_stripes=True)
            # One under the other: side by side, a long title pushed the costs off screen.
            yield Static("By conversation", classes="section")
            yield DataTable(id="by-conversation", cursor_type="row", zebra_stripes=True)
            yield Static("By day", classes="section")
            yield DataTable(id="by-day", cursor_type="row", zebra_stripes=True)
            served = [row for row in r.get("by_client", []) if row.get("client")]
            live = self.backend.serve_state()
            if served or live:
                yield Static("Served to other tools (chatroute serve)", classes="section")
                yield Static(serve_line(live), id="serve-state", classes="muted", markup=False)
                yield DataTable(id="by-client", cursor_type="row", zebra_stripes=True)
            # The pool's dates, as the status bar names them: the baseline and the routed turns'
            # figures rest on every model's price, not only on the newest table's.
            dates = self.backend.price_dates()
            yield Static(as_of_label(*dates) if dates else "price table age unknown", classes="muted",
                         id="prices-as-of")
        yield KeysFooter()

    def on_mount(self) -> None:
        self._fill_tables()

    def on_resize(self) -> None:
        if self.size.width != self._filled_for:
            self._fill_tables()

    def _fill_tables(self) -> None:
        r = self.report
        width = self._filled_for = self.size.width
        narrow = width < NARROW_COLUMNS
        t = self.query_one("#by-model", DataTable)
        t.clear(columns=True)
        if narrow:
            t.add_columns("model", "turns", "cost")
        else:
            t.add_columns("model", "turns", "in", "out", "cached", "cost")
        for row in r.get("by_model", []):
            cost = row_money(row)
            # Text, not str: DataTable parses a str cell as markup, and a model id from a local
            # server, a conversation title or a client label is not ours ("[/]" crashed it).
            counts = [] if narrow else [fmt_count(row.get("input_tokens")), fmt_count(row.get("output_tokens")),
                                        fmt_count(row.get("cached_tokens"))]
            t.add_row(Text(short_model(row.get("model"))), str(row.get("turns", "")), *counts, cost)
        d = self.query_one("#by-day", DataTable)
        d.clear(columns=True)
        d.add_columns("day", "turns", "cost")
        for row in r.get("by_day", []):
            d.add_row(str(row.get("day", "")), str(row.get("turns", "")), row_money(row))
        c = self.query_one("#by-conversation", DataTable)
        c.clear(columns=True)
        c.add_columns("conversation", "turns", "cost")
        rows = r.get("by_conversation", [])
        # A title takes what the turns and the cost leave, up to TITLE_CELLS.
        others = [max([len("turns"), *(len(str(row.get("turns", ""))) for row in rows)]),
                  max([len("cost"), *(cell_len(row_money(row)) for row in rows)])]
        room = width - SCREEN_GUTTER - sum(others) - CELL_PADDING * 3
        title_cells = max(MIN_TITLE_CELLS, min(TITLE_CELLS, room))
        for row in rows:
            c.add_row(Text(clip(str(row.get("title") or row.get("conversation_id") or "?"), title_cells)),
                      str(row.get("turns", "")), row_money(row))

        for table in self.query("#by-client").results(DataTable):
            table.clear(columns=True)
            table.add_columns("client", "requests", "cost")
            for row in r.get("by_client", []):
                table.add_row(Text(str(row.get("label") or row.get("client"))[:50]), str(row.get("turns", "")),
                              row_money(row))

    async def action_reload(self) -> None:
        # Recomposing removes the focused widget: the keys would scroll nothing until Tab.
        was = self.focused.id if self.focused is not None else None
        await self.recompose()
        self._fill_tables()
        target = next(iter(self.query(f"#{was}")), None) if was else None
        (target or self.query_one(VerticalScroll)).focus()
