"""Model picker: override the next turn (enter), pin for the conversation (p), unpin (u);
in re-run mode, enter picks the model to re-run a turn on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from chatroute.catalog.prices import span_text
from chatroute.money import usd
from chatroute.tui.data import Backend

if TYPE_CHECKING:
    from chatroute.catalog.models import ModelInfo


def model_label(m: ModelInfo, current: str | None, unavailable: str | None = None) -> Text:
    ctx = m.context_window
    ctx_s = f"{ctx // 1000}k ctx" if ctx else "ctx ?"
    mark = "● " if m.id == current else "  "
    return Text.assemble(
        (mark, "bold"), (f"{m.id:<40}", "bold" if m.id == current else ""),
        (f" in {usd(m.input_cost_per_mtok)} / out {usd(m.output_cost_per_mtok)} per Mtok · {ctx_s}"
         f" · ability {m.ability:.2f}"
         + (" (unknown: prior)" if m.ability_source == "unknown" else ""), "dim"),
        # Why routing skips it now: a pick still tries it, and the user should expect what follows.
        (f" · {unavailable}" if unavailable else "", "bold yellow"),
    )


class ModelPicker(ModalScreen[tuple[str, str | None] | None]):
    DEFAULT_CSS = """
    ModelPicker { align: center middle; }
    ModelPicker > Vertical { width: 110; max-width: 100%; height: auto; max-height: 90%; border: thick $primary;
                             background: $surface; padding: 0 1; }
    /* At no width Rich's line wrapping fails (range() step 0) and ends the app: a narrow
       terminal clips the list instead. */
    ModelPicker OptionList { height: auto; max-height: 20; border: none; min-width: 12; }
    ModelPicker .hint, ModelPicker .as-of { color: $text-muted; }
    /* On a short terminal the list gives way; its keys stay in view below it. */
    ModelPicker #picker-keys { dock: bottom; height: auto; }
    """

    BINDINGS = [
        Binding("enter", "choose('override')", "Use for next turn", priority=True),
        Binding("p", "choose('pin')", "Pin for conversation"),
        Binding("u", "choose('unpin')", "Unpin"),
        Binding("escape", "cancel", "Close"),
    ]

    def __init__(self, backend: Backend, *, mode: str = "turn", current: str | None = None) -> None:
        super().__init__()
        self.backend, self.mode, self.current = backend, mode, current

    def compose(self) -> ComposeResult:
        models = self.backend.models()
        unavailable = self.backend.unavailable()
        with Vertical():
            title = "Re-run this turn on…" if self.mode == "rerun" else "Choose a model"
            yield Static(Text(title, style="bold"))
            yield OptionList(*[Option(model_label(m, self.current, unavailable.get(m.id)), id=m.id)
                               for m in models], id="models")
            hint = ("enter re-run · esc cancel" if self.mode == "rerun"
                    else "enter next turn only · p pin for this conversation · u back to routing · esc cancel")
            with Vertical(id="picker-keys"):
                yield Static(hint, classes="hint")
                dates = self.backend.price_dates()
                yield Static(f"prices as of {span_text(dates)}" if dates else "price table age unknown",
                             classes="as-of")

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

    def action_choose(self, action: str) -> None:
        model = self._highlighted()
        if self.mode == "rerun":
            if action == "override" and model:
                self.dismiss(("rerun", model))
            return
        if action == "unpin":
            self.dismiss(("unpin", None))
        elif model:
            self.dismiss((action, model))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_choose("override")

    def action_cancel(self) -> None:
        self.dismiss(None)
