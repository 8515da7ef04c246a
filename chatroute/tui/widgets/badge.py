"""The one-line turn badge and the "why" panel (the route decision, on demand)."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from chatroute.tui.data import _attr, badge_text, fmt_cost, reroute_lines, short_model


class Badge(Static):
    """`model · $cost · ttft 320 ms · 2.1 s · 85 tok/s` under an assistant message."""

    DEFAULT_CSS = "Badge { height: auto; color: $text-muted; }"

    def show_record(self, record: Any, sibling: tuple[int, int] | None = None) -> None:
        self.update(Text(badge_text(record, sibling=sibling)))

    def show_pending(self, text: str) -> None:
        self.update(Text(text))


def why_renderable(route: dict[str, Any] | None, model: str | None = None) -> Any:
    """A table of the RouteDecision: candidates, scores, the winner and the reason."""
    route = route or {}
    winner = route.get("model") or model
    table = Table(box=None, expand=False, pad_edge=False, header_style="bold")
    for col, justify in (("model", "left"), ("quality", "right"), ("exp. cost", "right"),
                         ("exp. latency", "right"), ("utility", "right"), ("", "left")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for c in route.get("candidates", []) or []:
        name = _attr(c, "model")
        q, lat, util = _attr(c, "quality"), _attr(c, "expected_latency_s"), _attr(c, "utility")
        excluded = _attr(c, "excluded")
        note = "◀ chosen" if name == winner else (f"excluded: {excluded}" if excluded else "")
        style = "bold" if name == winner else ("dim" if excluded else "")
        table.add_row(short_model(name), "–" if q is None else f"{q:.2f}",
                      fmt_cost(_attr(c, "expected_cost_usd")), "–" if lat is None else f"{lat:.1f} s",
                      "–" if util is None else f"{util:+.3f}", note, style=style)
    head = Text.assemble(("why ", "bold"), (short_model(winner), "bold"),
                         f"  [{route.get('kind', 'routed')}"
                         + (f", preset {route['preset']}" if route.get("preset") else "")
                         + (f", {route['route_ms']:.2f} ms" if isinstance(route.get("route_ms"), (int, float)) else "")
                         + "]\n", (str(route.get("reason") or "no reason recorded"), "italic"))
    from rich.console import Group

    parts: list[Any] = [head]
    if route.get("candidates"):
        parts.append(table)
    for line in reroute_lines(route):
        parts.append(Text(f"rerouted: {line}"))
    # What else shaped the turn: a budget stepping in, turns of history left out of the request.
    for note in route.get("notes", []) or []:
        parts.append(Text(f"note: {note}", style="dim"))
    return Group(*parts)


class WhyPanel(Static):
    DEFAULT_CSS = """
    WhyPanel { height: auto; border: round $accent; padding: 0 1; margin: 0 0 1 0; }
    """

    def __init__(self, route: dict[str, Any] | None, model: str | None = None) -> None:
        super().__init__(why_renderable(route, model))
