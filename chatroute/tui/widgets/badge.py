"""The one-line turn badge and the "why" panel (the route decision, on demand)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from chatroute.format import WHY_PREFIX
from chatroute.money import usd
from chatroute.tui.data import badge_text, reroute_lines, short_model

if TYPE_CHECKING:
    from chatroute.store.records import TurnRecord


class Badge(Static):
    """`model · why: … · $cost · ttft 320 ms · 2.1 s · 85 tok/s · 120→340 tok · ‹1/2›` under an
    assistant message, on one line: where it does not fit, the least telling parts are left out
    (tok/s, then the token counts, the total time, a hit's saving and its source, the routing's
    why, the time to first token) before anything is cut, so the model, the cost, the warnings and
    the sibling position stay. The why panel (w) always has the whole decision."""

    DEFAULT_CSS = "Badge { height: 1; color: $text-muted; text-wrap: nowrap; text-overflow: ellipsis; }"
    # Parts dropped first when the line is too narrow, by how they start/end; SOURCE is no part
    # but a hit's source in its "cached 0.93 ⟵ from ‹title›, 2 h ago", cut back to the similarity
    # (o still goes to it): left whole, it pushed the cost past the edge of an 80-column chat.
    SOURCE = " ⟵ "
    _DROP_ORDER = (lambda p: p.endswith("tok/s"), lambda p: p.endswith(" tok"),
                   lambda p: p.endswith((" s", " ms")) and not p.startswith("ttft"),
                   lambda p: p.startswith("saved "), SOURCE, lambda p: p.startswith(WHY_PREFIX),
                   lambda p: p.startswith("ttft"), lambda p: p.startswith("lookup"))

    def __init__(self, text: str = "", **kw: Any) -> None:
        super().__init__("", **kw)
        self._parts: list[str] = [text] if text else []

    def show_record(self, record: TurnRecord, sibling: tuple[int, int] | None = None, *,
                    model: bool = True) -> None:
        """`model=False`: no model and route kind, where a heading above already names the model
        and every answer on the screen has the same kind (compare): the room goes to the cost."""
        self._parts = badge_text(record).split(" · ")
        if not model:
            self._parts = self._parts[1:]
        if sibling and sibling[1] > 1:  # also on a failed sibling, whose badge is otherwise short
            self._parts.append(f"‹{sibling[0]}/{sibling[1]}›")
        self.refresh(layout=False)

    def show_pending(self, text: str) -> None:
        self._parts = [text] if text else []
        self.refresh(layout=False)

    @property
    def text(self) -> str:
        """The whole line, whatever the width."""
        return " · ".join(self._parts)

    def fitted(self, width: int) -> str:
        # What each part shows: the whole part, a shortened one, or None (left out).
        shown: list[str | None] = list(self._parts)

        def line(parts: list[str | None]) -> str:
            return " · ".join(p for p in parts if p is not None)

        steps: list[dict[int, str]] = []  # each step's parts as they were before it
        for drop in self._DROP_ORDER:
            if len(line(shown)) <= width:
                break
            if isinstance(drop, str):
                changed = {i: p for i, p in enumerate(shown) if p is not None and drop in p}
                after = [p.split(drop, 1)[0] if i in changed and p is not None else p for i, p in enumerate(shown)]
            else:
                changed = {i: p for i, p in enumerate(shown) if p is not None and drop(p)}
                after = [None if i in changed else p for i, p in enumerate(shown)]
            if changed and any(p is not None for p in after):
                steps.append(changed)
                shown = after
        # A long part dropped late (the why) may have freed room for short ones dropped before it.
        for before in steps[-2::-1]:
            trial = [before.get(i, p) for i, p in enumerate(shown)]
            if len(line(trial)) <= width:
                shown = trial
        return line(shown)

    def render(self) -> Text:
        width = self.content_size.width or self.size.width
        line = self.fitted(width) if width > 0 else self.text
        return Text(line, no_wrap=True, overflow="ellipsis")


def adjustment_text(candidate: dict[str, Any]) -> str:
    """The adjustment learned from the user's choices as this turn applied it, with the learned
    figure in brackets when only part of it applied; "–" when nothing was learned."""
    applied = candidate.get("adjustment") or 0.0
    learned = candidate.get("learned_adjustment") or 0.0
    if not learned:
        return "–"
    return f"{applied:+.3f}" if abs(applied - learned) < 5e-4 else f"{applied:+.3f} ({learned:+.3f})"


# The candidates' columns, the most telling first; a narrow panel leaves out the last ones.
_COLUMNS = (("model", "left"), ("quality", "right"), ("exp. cost", "right"), ("your adj.", "right"),
            ("utility", "right"), ("exp. latency", "right"))
_MODEL_MIN = 16  # a model column narrower than this no longer tells the models apart
_MODEL_FLOOR = 6  # where not even the narrowest layout fits, the names give way to this, not a number
_NOTE_MIN = 60  # notes beside the numbers only where they fit whole, or where this much does


def _mark(note: str, short: bool = False) -> str:
    """The winner's mark ("◀ chosen", "◀ answered") from its note; empty for the others. `short`:
    "◀" alone (the panel's first line names the model that answered)."""
    if not note.startswith("◀"):
        return ""
    return "◀" if short else note.split(" · ", 1)[0]


class _Candidates:
    """The candidates table, laid out for the width it gets: the whole table with each
    candidate's note beside it where it fits; else the notes under the table, then without the
    latency, the utility and the adjustment in turn. The numbers are never wrapped or cut
    ("$0.0…" told nothing), and the model names are cut last, with "…"; where even the narrowest
    layout does not fit (a 40-column terminal), the names are cut further and the mark is ◀."""

    def __init__(self, rows: list[tuple[str, list[str], str, str]]) -> None:
        self.rows = rows  # (model, cells in _COLUMNS order after the model, note, style)

    def _table(self, n_numbers: int, notes_beside: bool, room: int, short: bool = False) -> Table:
        table = Table(box=None, expand=False, pad_edge=False, header_style="bold")
        longest = max((cell_len(name) for name, *_ in self.rows), default=5)
        # The model column gets what the numbers leave, so Rich never cuts a number instead.
        others = self._width(n_numbers, notes_beside, short) - min(longest, _MODEL_MIN)
        model_width = max(min(longest, _MODEL_FLOOR if short else _MODEL_MIN), min(longest, room - others))
        table.add_column("model", no_wrap=True, overflow="ellipsis", width=model_width)
        for col, justify in _COLUMNS[1:1 + n_numbers]:
            table.add_column(col, justify=justify, no_wrap=True)  # type: ignore[arg-type]
        table.add_column("", overflow="fold")
        for name, cells, note, style in self.rows:
            # Text, not str: a Rich table parses str cells as markup, and a model id or an
            # exclusion reason can come from a local server ("odd[/]name" crashed the panel).
            mark = note if notes_beside else _mark(note, short)
            table.add_row(Text(name), *cells[:n_numbers], Text(mark), style=style)
        return table

    def _width(self, n_numbers: int, notes_beside: bool, short: bool = False) -> int:
        """The narrowest this layout is with no number wrapped or cut: each number column as wide
        as its widest cell or its heading, the model column at its minimum,
        the notes at their length or _NOTE_MIN, and two cells of padding between columns."""
        widths = [min(max((cell_len(name) for name, *_ in self.rows), default=5), _MODEL_MIN)]
        for i, (heading, _) in enumerate(_COLUMNS[1:1 + n_numbers]):
            widths.append(max(cell_len(heading), max((cell_len(cells[i]) for _, cells, *_ in self.rows), default=1)))
        notes = [note if notes_beside else _mark(note, short) for _, _, note, _ in self.rows]
        widths.append(min(max((cell_len(n) for n in notes), default=1), _NOTE_MIN))
        return sum(widths) + 2 * (len(widths) - 1)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        layouts = [(len(_COLUMNS) - 1, True)] + [(n, False) for n in range(len(_COLUMNS) - 1, 1, -1)]
        n_numbers, beside = next(((n, b) for n, b in layouts if self._width(n, b) <= options.max_width), layouts[-1])
        short = self._width(n_numbers, beside) > options.max_width
        yield self._table(n_numbers, beside, options.max_width, short)
        if not beside:
            for name, _cells, note, style in self.rows:
                # The winner's mark stays in the table; what else its note says goes below.
                rest = note.split(" · ", 1)[1] if note.startswith("◀") and " · " in note else (
                    "" if note.startswith("◀") else note)
                if rest:
                    yield Text(f"{name}: {rest}", style=style)


def why_renderable(route: dict[str, Any] | None, model: str | None = None) -> Any:
    """A table of the RouteDecision: candidates, scores, the winner and the reason. `model` is
    the one that answered: after a reroute not the decision's pick, which the panel named as
    if it had answered."""
    route = route or {}
    picked = route.get("model") or model
    winner = model or picked
    # The decision records its pick; what happened to each model tried is in its reroutes.
    failed = {r.get("from"): str(r.get("error") or "failed") for r in route.get("reroutes", []) or []}
    rerouted = winner != picked and picked in failed
    rows: list[tuple[str, list[str], str, str]] = []
    for c in route.get("candidates", []) or []:
        name = c.get("model")
        q, lat, util = c.get("quality"), c.get("expected_latency_s"), c.get("utility")
        excluded = c.get("excluded")
        if name == winner:
            note = "◀ answered" if rerouted else "◀ chosen"
        elif rerouted and name in failed:
            note = f"{'picked, ' if name == picked else ''}failed: {failed[name]}"
        else:
            note = f"excluded: {excluded}" if excluded else ""
        if c.get("ability_note"):
            note = f"{note} · {c['ability_note']}" if note else str(c["ability_note"])
        style = "bold" if name == winner else ("dim" if excluded else "")
        rows.append((short_model(name), ["–" if q is None else f"{q:.2f}", usd(c.get("expected_cost_usd")),
                                         adjustment_text(c), "–" if util is None else f"{util:+.3f}",
                                         "–" if lat is None else f"{lat:.1f} s"], note, style))
    head = Text.assemble(("why ", "bold"), (short_model(winner), "bold"),
                         f"  [{route.get('kind', 'routed')}"
                         + (f", preset {route['preset']}" if route.get("preset") else "")
                         + (f", {route['route_ms']:.2f} ms" if isinstance(route.get("route_ms"), (int, float)) else "")
                         + "]\n",
                         (f"rerouted: the router picked {short_model(picked)}, which failed "
                          f"({failed[picked]}); {short_model(winner)} answered\n" if rerouted else ""),
                         (("the pick's reason: " if rerouted else "")
                          + str(route.get("reason") or "no reason recorded"), "italic"))
    parts: list[Any] = [head]
    if rows:
        parts.append(_Candidates(rows))
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

    def show(self, route: dict[str, Any] | None, model: str | None) -> None:
        self.update(why_renderable(route, model))
