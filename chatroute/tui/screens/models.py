"""Model picker: override the next turn (enter), pin for the conversation (p), unpin (u);
in re-run mode, enter picks the model to re-run a turn on."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rich.cells import cell_len, chop_cells
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.geometry import Size
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from chatroute.catalog.prices import span_text
from chatroute.money import usd
from chatroute.tui.data import Backend
from chatroute.tui.widgets.footer import KeysFooter

if TYPE_CHECKING:
    from rich.console import Console

    from chatroute.catalog.models import ModelInfo

# Rows: on a shorter terminal the title and the price dates move into the dialog's border and the
# keys take one line, so the list keeps rows for the models.
SHORT_HEIGHT = 20
# Cells a model's label has in the list: narrower, the 40-cell name column leaves its figures no
# room beside it, and a long name would be cut across lines wherever the width ends.
NARROW_WIDTH = 60
NAME_CELLS = 40  # the name column of a model's label
KEYS = {"turn": "enter next turn only · p pin for this conversation · u back to routing · esc cancel",
        "rerun": "enter re-run · esc cancel"}
SHORT_KEYS = {"turn": "⏎ next turn · p pin · u unpin · esc", "rerun": "⏎ re-run · esc cancel"}


def _figures(m: ModelInfo, unavailable: str | None) -> list[tuple[str, str]]:
    ctx = m.context_window
    ctx_s = f"{ctx // 1000}k ctx" if ctx else "ctx ?"
    return [
        (f"in {usd(m.input_cost_per_mtok)} / out {usd(m.output_cost_per_mtok)} per Mtok · {ctx_s}"
         f" · ability {m.ability:.2f}"
         + (" (unknown: prior)" if m.ability_source == "unknown" else ""), "dim"),
        # Why routing skips it now: a pick still tries it, and the user should expect what follows.
        (f" · {unavailable}" if unavailable else "", "bold yellow"),
    ]


def model_label(m: ModelInfo, current: str | None, unavailable: str | None = None) -> Text:
    mark = "● " if m.id == current else "  "
    (figures, style), note = _figures(m, unavailable)
    # Padded in cells: a CJK character or an emoji takes two, and the figures line up.
    name = m.id + " " * max(0, NAME_CELLS - cell_len(m.id))
    return Text.assemble((mark, "bold"), (name, "bold" if m.id == current else ""), (f" {figures}", style), note)


def _name_lines(name: str, first: int, rest: int) -> list[str]:
    """A model's name in lines of at most `first` cells, then `rest`, broken after a '/' (the
    provider, the organisation) where it must be, and cut only where one part alone is wider."""
    lines: list[str] = []
    line = ""
    for part in re.findall(r"[^/]*/|[^/]+", name):
        if line and cell_len(line + part) > (rest if lines else first):
            lines.append(line)
            line = ""
        line += part
        while cell_len(line) > (width := rest if lines else first):
            head = chop_cells(line, width)[0] or line[0]  # a character wider than the line: alone on it
            lines.append(head)
            line = line[len(head):]
    return [*lines, line] if line else lines


def narrow_model_label(m: ModelInfo, current: str | None, unavailable: str | None, width: int,
                       console: Console) -> Text:
    """model_label laid out for `width` cells narrower than its name column: the whole name
    first, then its figures under it, every line after the first indented further than the name
    starts, so each model reads apart from the next."""
    mark, indent = ("● " if m.id == current else "  "), "    "
    inner = max(width - len(indent), 1)
    name_style = "bold" if m.id == current else ""
    lines = [Text(part, style=name_style) for part in _name_lines(m.id, max(width - len(mark), 1), inner)]
    lines += Text.assemble(*_figures(m, unavailable)).wrap(console, inner, overflow="fold")
    label = Text()
    for i, line in enumerate(lines):
        if i:
            label.append("\n")
        label.append(indent if i else mark, "bold")
        line.rstrip()
        label.append_text(line)
    return label


class ModelOptions(OptionList):
    """The picker's list: no taller than MAX_HEIGHT rows, or than the room the dialog leaves it
    (then it scrolls, and the highlighted model is kept whole in view), and where narrow each
    model is laid out as its name, then its figures."""

    MAX_HEIGHT = 20  # rows, its border included: a long pool scrolls rather than filling a tall screen

    def __init__(self, models: list[ModelInfo], current: str | None, unavailable: dict[str, str],
                 *, id: str | None = None) -> None:
        self.models, self.current, self.unavailable = models, current, unavailable
        self._laid_out_for: int | None = None  # the width of narrow labels; None: the wide ones
        super().__init__(*[Option(model_label(m, current, unavailable.get(m.id)), id=m.id) for m in models],
                         id=id)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        # The cap is not CSS: max-height (100%) keeps the list within what the title and the
        # keys leave, and CSS has no smaller-of-two.
        cap = self.MAX_HEIGHT - self.styles.gutter.height
        return min(super().get_content_height(container, viewport, width), cap)

    def on_resize(self) -> None:
        # A scrollbar's width is left out whether one shows or not: it comes and goes with the
        # labels' height, and labels laid out for a wider line would wrap again, unindented.
        width = self.content_region.width - self.styles.scrollbar_size_vertical
        wanted = width if width < NARROW_WIDTH else None
        if wanted != self._laid_out_for:
            self._laid_out_for = wanted
            for i, m in enumerate(self.models):
                note = self.unavailable.get(m.id)
                self.replace_option_prompt_at_index(
                    i, model_label(m, self.current, note) if wanted is None
                    else narrow_model_label(m, self.current, note, wanted, self.app.console))
            self.refresh(layout=True)
        # Its height may have changed too: the highlighted model stays whole in view.
        self.call_after_refresh(self.scroll_to_highlight)


class ModelPicker(ModalScreen[tuple[str, str | None] | None]):
    DEFAULT_CSS = """
    ModelPicker { align: center middle; }
    ModelPicker > Vertical { width: 110; max-width: 100%; height: auto; max-height: 90%; border: thick $primary;
                             background: $surface; padding: 0 1; }
    /* At no width Rich's line wrapping fails (range() step 0) and ends the app: a narrow
       terminal clips the list instead. */
    ModelPicker OptionList { height: auto; max-height: 100%; border: none; min-width: 12; }
    ModelPicker .hint, ModelPicker .as-of { color: $text-muted; }
    /* The title above the list and the keys below it stay in view: the list gives up rows,
       scrolling. Under SHORT_HEIGHT rows the dialog takes the screen's height, the title and the
       price dates go into its border and the keys take one line. */
    ModelPicker #picker-title { dock: top; }
    ModelPicker #picker-keys { dock: bottom; height: auto; }
    ModelPicker.-short > Vertical { max-height: 100%; }
    ModelPicker.-short #picker-title, ModelPicker.-short .as-of { display: none; }
    ModelPicker.-short .hint { height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    BINDINGS = [
        # Re-running a turn (e) takes only the first: check_action keeps each mode's keys.
        Binding("enter", "choose('rerun')", "Re-run on this model", priority=True),
        Binding("enter", "choose('override')", "Use for next turn", priority=True),
        Binding("p", "choose('pin')", "Pin for conversation"),
        Binding("u", "choose('unpin')", "Unpin"),
        Binding("escape", "cancel", "Close"),
        # A dialog ends the binding chain before the app's own ? (F1 is a priority binding); the
        # help lists ? once, under Everywhere.
        Binding("question_mark", "app.help", show=False),
    ]

    def __init__(self, backend: Backend, *, mode: str = "turn", current: str | None = None) -> None:
        super().__init__()
        self.backend, self.mode, self.current = backend, mode, current
        self._as_of = ""  # the price dates' line, also the border's under SHORT_HEIGHT rows

    def compose(self) -> ComposeResult:
        models = self.backend.models()
        unavailable = self.backend.unavailable()
        with Vertical():
            yield Static(Text(self._title(), style="bold"), id="picker-title")
            yield ModelOptions(models, self.current, unavailable, id="models")
            with Vertical(id="picker-keys"):
                yield Static(KEYS[self.mode], classes="hint")
                dates = self.backend.price_dates()
                self._as_of = f"prices as of {span_text(dates)}" if dates else "price table age unknown"
                yield Static(self._as_of, classes="as-of")
        yield KeysFooter()  # the picker's keys: the chat's footer under it names keys that do nothing here

    def _title(self) -> str:
        return "Re-run this turn on…" if self.mode == "rerun" else "Choose a model"

    def on_resize(self) -> None:
        short = self.size.height < SHORT_HEIGHT
        if short == self.has_class("-short"):
            return
        self.set_class(short, "-short")
        self.query_one("#picker-keys .hint", Static).update(SHORT_KEYS[self.mode] if short else KEYS[self.mode])
        dialog = self.query_one("ModelPicker > Vertical", Vertical)
        dialog.border_title = self._title() if short else None
        dialog.border_subtitle = self._as_of if short else None

    def on_mount(self) -> None:
        ol = self.query_one(OptionList)
        ol.focus()
        if self.current:
            try:
                ol.highlighted = ol.get_option_index(self.current)
            except Exception:
                pass

    def _highlighted(self) -> str | None:
        ol = self.query_one(OptionList)
        return None if ol.highlighted is None else ol.get_option_at_index(ol.highlighted).id

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # In the footer, and taken, only where they do something: re-running a turn is one choice.
        if action == "choose":
            return (parameters == ("rerun",)) == (self.mode == "rerun")
        return True

    def action_choose(self, action: str) -> None:
        model = self._highlighted()
        if self.mode == "rerun":
            if action == "rerun" and model:
                self.dismiss(("rerun", model))
            return
        if action == "unpin":
            self.dismiss(("unpin", None))
        elif model:
            self.dismiss((action, model))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_choose("rerun" if self.mode == "rerun" else "override")

    def action_cancel(self) -> None:
        self.dismiss(None)
