"""Compare mode: one prompt to 2–4 models, answers streaming side by side. A failing or slow
model only affects its own column. 1–4 picks the best answer; the conversation continues from it.
Where the columns would be too narrow to read, the answers are shown one at a time instead."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.events import Click
from textual.geometry import Size
from textual.message import Message
from textual.screen import Screen
from textual.strip import Strip
from textual.widgets import Header, Input, OptionList, SelectionList, Static
from textual.worker import WorkerCancelled, WorkerFailed

from chatroute.accounting import percent_used
from chatroute.money import marked_usd, usd
from chatroute.safetext import CleanEvents
from chatroute.tui.data import Backend, error_line, short_model
from chatroute.tui.markdown.answer import AnswerMarkdown
from chatroute.tui.markdown.feed import YIELD_INTERVAL_S, MarkdownFeed, settle_streamed_render
from chatroute.tui.screens.chat_writes import write_off_loop
from chatroute.tui.screens.models import SHORT_HEIGHT
from chatroute.tui.textual_compat import checkbox_edges
from chatroute.tui.widgets.badge import Badge
from chatroute.tui.widgets.footer import KeysFooter
from chatroute.tui.widgets.plain_input import PromptInput
from chatroute.turn_events import CacheHit, Delta, Rerouted, Routed, TurnFinished, TurnStarted

if TYPE_CHECKING:
    from collections.abc import Callable

    from textual.timer import Timer
    from textual.worker import Worker

    from chatroute.catalog.models import ModelInfo
    from chatroute.store.records import TurnRecord

MAX_MODELS = 4
# Cells: in a narrower column an answer is a few words a line, so the answers are shown one at a
# time, the whole width, with a row of tabs to move between them.
MIN_COLUMN_WIDTH = 24
# While any answer streams, the tabs of answers shown one at a time are redrawn this often: enough
# for a spinner to say it is alive, and never once a token.
TAB_REFRESH_S = 0.25
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
# Under SHORT_HEIGHT rows (the model picker's) the instructions take one line and the hint under the
# prompt is left out (the footer has its keys), so the list keeps rows for the models.
INTRO = "Pick 2–4 models (space toggles), then write the prompt and press Enter."
SHORT_INTRO = "tick 2–4 with space · tab: the prompt"


def budget_note(budget: dict[str, Any] | None) -> str | None:
    """From 80% of a cap, what the picker says before a compare spends: it does not ask first as
    a routed turn does (its models are the user's choice), so the cap is said here."""
    if not budget or budget.get("level") not in ("warn", "over"):
        return None
    caps = [(period, float(cap), float(budget.get(spent_key) or 0.0)) for period, cap_key, spent_key in
            (("Daily", "daily_usd", "spent_today"), ("Monthly", "monthly_usd", "spent_month"))
            if (cap := budget.get(cap_key)) is not None]
    if not caps:
        return None
    period, cap, spent = max(caps, key=lambda c: c[2] / c[1] if c[1] > 0 else float("inf"))
    if budget.get("level") == "over":
        head = f"⛔ {period} budget {usd(cap)} reached (spent {usd(spent)})"
    else:
        head = f"⚠ {period} budget {usd(cap)}: {percent_used(spent / cap if cap > 0 else 1.0)}% used"
    return f"{head}: a compare does not ask first; every model ticked is paid for."


def default_picks(models: list[ModelInfo]) -> list[str]:
    """The pool's cheapest and strongest models: the comparison most people open compare for
    (is the cheap answer good enough?). Prices are per million tokens, input plus output; an
    unknown price never counts as cheapest."""
    if len(models) < 2:
        return [m.id for m in models]

    def price(m: ModelInfo) -> float:
        i, o = m.input_cost_per_mtok, m.output_cost_per_mtok
        return float("inf") if i is None or o is None else float(i) + float(o)

    cheapest = min(models, key=price)
    rest = [m for m in models if m.id != cheapest.id]
    strongest = max(rest, key=lambda m: (m.ability, price(m)))
    return [cheapest.id, strongest.id]


def _option_of(line: Strip) -> int | None:
    """The option a line of an OptionList draws (each of its segments carries the index)."""
    for seg in line:
        if seg.style is not None and "option" in seg.style.meta:
            return int(seg.style.meta["option"])
    return None


class ModelChecklist(SelectionList[str]):
    """A SelectionList whose boxes read ✓ when picked and stay empty when not (the stock list
    draws an X in both, told apart by colour only), and whose names too long for the width wrap
    under themselves instead of being cut: two models can differ only in their last characters
    (a date), and where a terminal is narrow it was those that were cut."""

    # min-width: the names wrap in what the border, padding and boxes leave, and wrapping to
    # no width at all raises (a pane squeezed to a sliver ended the app).
    DEFAULT_CSS = "ModelChecklist { text-wrap: wrap; text-overflow: fold; min-width: 12; }"
    GUTTER = 4  # the box, then a space

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        # The names wrap in what the boxes leave, as they are drawn; the stock list measured
        # them the whole width, so a wrapped list came out short and scrolled.
        return super().get_content_height(container, viewport, width - self.GUTTER)

    def render_line(self, y: int) -> Strip:
        # The stock list draws a box on every line, for the option as many lines down as the line
        # is, as if no name ever took two lines: here each option's first line has its box, and
        # the lines it wraps onto are indented under its name.
        line = OptionList.render_line(self, y)
        index = _option_of(line)
        if index is None:
            return line
        base = next(iter(line)).style or self.rich_style
        if self.scroll_offset.y + y > 0 and _option_of(OptionList.render_line(self, y - 1)) == index:
            return Strip([Segment(" " * self.GUTTER, base), *line])
        picked = self.get_option_at_index(index).value in self.selected
        part = "selection-list--button" + ("-selected" if picked else "") + (
            "-highlighted" if self.highlighted == index else "")
        button = self.get_component_rich_style(part) + Style(meta={"option": index})
        side = Style.from_color(button.bgcolor, base.bgcolor) + Style(meta={"option": index})
        left, right = checkbox_edges()
        return Strip([Segment(left, side), Segment("✓" if picked else " ", button), Segment(right, side),
                      Segment(" ", base), *line])


class CompareColumn(Vertical):
    class Settled(Message):
        """The answer is done, stopped or failed: its tab can say so at once."""

    DEFAULT_CSS = """
    CompareColumn { width: 1fr; height: 1fr; border: round $primary 50%; padding: 0 1; }
    CompareColumn.-failed { border: round $error; }
    /* The answer the arrows scroll (Tab moves between them): heavier, not only brighter. */
    CompareColumn:focus-within { border: heavy $primary; }
    CompareColumn.-failed:focus-within { border: heavy $error; }
    CompareColumn.-picked { border: double $success; }
    /* One line, cut with … where narrow: wrapped, the name went below the line, out of sight. */
    CompareColumn > .col-head { text-style: bold; height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    CompareColumn > VerticalScroll { height: 1fr; }
    CompareColumn .col-error { color: $error; height: auto; }
    CompareColumn .col-note { color: $warning; height: auto; }
    """

    def __init__(self, index: int, model: str,
                 stored_turn: Callable[[str | None], TurnRecord | None] | None = None) -> None:
        """`stored_turn`: the turn the store holds for an answer, to show a stopped one's cost."""
        super().__init__()
        self.index, self.model = index, model
        self._stored_turn = stored_turn
        self.message_id: str | None = None
        self.conversation_id: str | None = None
        self.status = "pending"
        self.cost_usd: float | None = None  # once the answer is priced
        self.cost_estimated = False  # priced from estimated usage: shown with ≈
        self.text = ""
        self._stream: MarkdownFeed | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text(f"{self.index}  {short_model(self.model)}"), classes="col-head")
        with VerticalScroll():
            yield Static("", classes="col-note")
            yield AnswerMarkdown("")
            yield Static("", classes="col-error")
        yield Badge("waiting…")

    async def consume(self, events: CleanEvents) -> None:
        """Drain one model's event stream; every failure stays inside this column."""
        md = self.query_one(AnswerMarkdown)
        badge = self.query_one(Badge)
        last_yield = 0.0
        try:
            self.status = "streaming"
            badge.show_pending("streaming…")
            async for ev in events:
                if isinstance(ev, TurnStarted):
                    self.message_id, self.conversation_id = ev.assistant_message_id, ev.conversation_id
                elif isinstance(ev, Rerouted):
                    self.query_one(".col-note", Static).update(Text(f"↪ {ev.message}"))
                elif isinstance(ev, (Routed, CacheHit)):
                    pass
                elif isinstance(ev, Delta):
                    # The chat's batched feed, not Textual's MarkdownStream: an append per
                    # frame at most, finished blocks pictured, and no full re-render at the end.
                    if self._stream is None:
                        self._stream = MarkdownFeed(md)
                    self.text += ev.text
                    self._stream.write(ev.text)
                    now = time.perf_counter()
                    if now - last_yield >= YIELD_INTERVAL_S:  # a buffered stream never blocks on its own
                        last_yield = now
                        await asyncio.sleep(0)
                elif isinstance(ev, TurnFinished):
                    streamed_ok = await self._stop()
                    self.text = ev.text
                    await settle_streamed_render(md, ev.text, streamed_ok)
                    self.message_id = ev.record.message_id or self.message_id
                    badge.show_record(ev.record, model=False)
                    self.cost_usd, self.cost_estimated = ev.record.cost_usd, ev.record.usage_estimated
                    ok = ev.record.status == "ok" and not ev.error
                    # Cut off mid-answer (a dropped connection): what arrived is kept, billed and
                    # badged as interrupted, and can be kept like an answer stopped with Ctrl+C.
                    cut = ev.record.status == "interrupted" and bool(ev.text.strip())
                    if ev.error:
                        self._fail(ev.error)
                    self.status = "ok" if ok else "interrupted" if cut else "error"
        except asyncio.CancelledError:
            await self._stop()
            self.status = "interrupted"
            # Closing the engine's stream saves the stopped answer, priced: close it first, so its
            # record (and cost) is there to show, as the chat does.
            with contextlib.suppress(Exception):
                await events.aclose()
            record = self._stored_turn(self.message_id) if self._stored_turn is not None else None
            if record is not None:
                badge.show_record(record, model=False)
                self.cost_usd, self.cost_estimated = record.cost_usd, record.usage_estimated
            else:
                badge.show_pending("⚠ interrupted")
            raise
        except Exception as exc:  # one model's crash is shown in its column, never a traceback
            await settle_streamed_render(md, self.text, await self._stop())
            self._fail(error_line(exc))
            badge.show_pending("⚠ error")
        finally:
            try:
                await events.aclose()
            except Exception:
                pass
            if self.status in ("pending", "streaming"):
                self.status = "error"
                badge.show_pending("⚠ no answer")
            self.post_message(self.Settled())

    @property
    def settled(self) -> bool:
        return self.status not in ("pending", "streaming")

    def mark(self, frame: int) -> str:
        """Its state in one cell: a spinner (`frame`) while it streams, ✓ done, ■ stopped or cut
        off, ! failed."""
        if not self.settled:
            return SPINNER[frame % len(SPINNER)]
        return {"ok": "✓", "interrupted": "■"}.get(self.status, "!")

    def _fail(self, message: str) -> None:
        self.status = "error"
        self.add_class("-failed")
        self.query_one(".col-error", Static).update(Text(f"⚠ {message}"))

    async def _stop(self) -> bool:
        """Render what is left of the stream; False if the streamed render cannot be trusted."""
        stream, self._stream = self._stream, None
        return True if stream is None else await stream.stop()


class AnswerTab(Static):
    """One answer's number and state in the row of tabs shown when the answers are shown one at
    a time, with its model's name and cost where there is room; a click shows that answer."""

    DEFAULT_CSS = """
    AnswerTab { width: auto; height: 1; padding: 0 1; color: $text-muted; text-wrap: nowrap; }
    AnswerTab.-current { background: $primary 40%; color: $foreground; text-style: bold; }
    /* An ANSI colour has no alpha: the fill is solid blue, under a failed tab's red too. */
    AnswerTab.-current:ansi { background: ansi_default; text-style: bold underline; }
    AnswerTab.-stopped, AnswerTab.-current.-stopped { color: $warning; }
    AnswerTab.-failed, AnswerTab.-current.-failed { color: $error; }
    """

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index
        self._label = ""

    def show(self, label: str, status: str, current: bool) -> None:
        """Redrawn only when it changed: the row is asked a few times a second."""
        if label != self._label:
            self._label = label
            self.update(Text(label))
        self.set_class(current, "-current")
        self.set_class(status == "error", "-failed")
        self.set_class(status == "interrupted", "-stopped")

    async def on_click(self, event: Click) -> None:
        event.stop()
        await self.run_action(f"screen.show_answer(0, {self.index})")


class CompareScreen(Screen[tuple[str, str | None] | None]):
    """Dismissed with (conversation, picked answer), or (conversation, None) when closed after
    the prompt was sent: the answers are stored, the first one active, so the chat shows that
    turn (its siblings a key away) instead of a turn the next request would carry unseen."""

    DEFAULT_CSS = """
    /* The list of models gives up rows first, scrolling: the instructions above it and the
       prompt below stay on screen, the prompt right under the list where there is room. */
    CompareScreen #setup { height: auto; max-height: 100%; padding: 0 1; }
    CompareScreen #setup-intro { dock: top; text-style: bold; }
    CompareScreen #setup SelectionList { height: auto; max-height: 100%; }
    CompareScreen #setup-foot { dock: bottom; height: auto; }
    CompareScreen.-short #setup-intro { height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    CompareScreen.-short #setup-foot .hint { display: none; }
    CompareScreen #running { height: 1fr; display: none; }
    CompareScreen #columns { height: 1fr; }
    CompareScreen.-running #running { display: block; }
    CompareScreen.-running #setup { display: none; }
    CompareScreen .hint { color: $text-muted; height: auto; }
    CompareScreen #setup-budget { color: $warning; height: auto; }
    CompareScreen #answer-tabs { height: 1; display: none; }
    CompareScreen.-one-at-a-time #answer-tabs { display: block; }
    CompareScreen.-one-at-a-time CompareColumn { display: none; }
    CompareScreen.-one-at-a-time CompareColumn.-shown { display: block; }
    /* One line: the answer keeps the rows (the footer says the keys too). */
    CompareScreen.-one-at-a-time #pick-hint { height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    BINDINGS = [
        Binding("ctrl+s", "start", "Start"),
        Binding("1", "pick(1)", "Pick 1", show=False),
        Binding("2", "pick(2)", "Pick 2", show=False),
        Binding("3", "pick(3)", "Pick 3", show=False),
        Binding("4", "pick(4)", "Pick 4", show=False),
        Binding("escape", "close", "Close"),
        # Shown one at a time, the next answer; side by side, Tab moves the focus as on any screen
        # (the second binding of the key, taken when check_action refuses the first).
        Binding("tab,right", "show_answer(+1)", "Next answer (shown one at a time; side by side Tab moves the focus)",
                show=False),
        Binding("shift+tab,left", "show_answer(-1)", "Previous answer (shown one at a time)", show=False),
        Binding("tab", "app.focus_next", "", show=False),
        Binding("shift+tab", "app.focus_previous", "", show=False),
        # Priority: the stock ctrl+c (copy, or "press ctrl+q to quit") left the answers billing.
        Binding("ctrl+c", "stop", "Stop the answers still streaming, or a compare still starting before it sends "
                "(neither: copies the selection)", show=False, priority=True),
    ]

    def __init__(self, backend: Backend, conversation_id: str | None, prompt: str = "",
                 models: list[str] | None = None, asked: Callable[[str], None] | None = None,
                 left: Callable[[CompareScreen], None] | None = None) -> None:
        """`asked` is called with the prompt once it is stored and sent to the models; `left` with
        this screen when it closes before that (Esc, or F5 for the costs): the models ticked and
        the prompt written in it are the user's, for the next compare to open with."""
        super().__init__()
        self.backend = backend
        self.conversation_id = conversation_id
        self.prompt = prompt
        self._on_asked = asked
        self._on_left = left
        self.preselected = list(models or [])
        self.columns: list[CompareColumn] = []
        self.shown = 0  # the answer on screen when they are shown one at a time
        self._frame = 0  # the tabs' spinner
        self._tab_timer: Timer | None = None
        self._asked = False  # the models are answering: the hint says how to pick
        self._streams: list[CleanEvents] = []  # closed when stopped, also those whose worker never ran
        self.sub_title = "compare models"

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="setup"):
            yield Static(INTRO, id="setup-intro", markup=False)
            models = self.backend.models()
            # The default pair in the pool's order; picks left by the user in the order they ticked them.
            default = default_picks(models)
            picks = self.preselected or [m.id for m in models if m.id in default]
            # Text, not a string: a string prompt is read as markup, and a local server names its own models.
            checklist = ModelChecklist(*[(Text(m.id), m.id) for m in models], id="models")
            # Ticked in the order given: the answers are side by side in tick order, as on a first open.
            pool = {m.id for m in models}
            for model in picks:
                if model in pool:
                    checklist.select(model)
            yield checklist
            with Vertical(id="setup-foot"):
                note = budget_note(self.backend.budget_status())
                if note is not None:
                    yield Static(note, id="setup-budget", markup=False)
                yield PromptInput(value=self.prompt, placeholder="prompt for every model…", id="compare-prompt")
                yield Static("tab moves between the list and the prompt · enter/ctrl+s starts · esc closes",
                             classes="hint")
        with Vertical(id="running"):
            yield Horizontal(id="answer-tabs")
            yield Horizontal(id="columns")
            yield Static("", id="pick-hint", classes="hint")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one(SelectionList).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # A compare runs once: out of the footer when its key would do nothing.
        if action == "start" and self.columns:
            return False
        if action == "show_answer":
            return self.one_at_a_time
        return True

    @property
    def one_at_a_time(self) -> bool:
        return self.has_class("-one-at-a-time")

    def on_resize(self) -> None:
        short = self.size.height < SHORT_HEIGHT
        if short != self.has_class("-short"):
            self.set_class(short, "-short")
            self.query_one("#setup-intro", Static).update(SHORT_INTRO if short else INTRO)
        self._fit()

    def _fit(self) -> None:
        """Side by side where every column is at least MIN_COLUMN_WIDTH wide, else one at a time
        (the one with the focus first)."""
        if not self.columns:
            return
        one = self.size.width // len(self.columns) < MIN_COLUMN_WIDTH
        if one and not self.one_at_a_time:
            self.shown = next((i for i, c in enumerate(self.columns) if c.has_focus_within), self.shown)
        self.set_class(one, "-one-at-a-time")
        if one:
            self._show(self.shown)
        else:
            self._pick_hint()

    def action_show_answer(self, step: int = 0, index: int | None = None) -> None:
        """Show the answer `step` away from the one shown (wrapping), or answer `index` (from 1)."""
        target = index - 1 if index is not None else (self.shown + step) % len(self.columns)
        if self.one_at_a_time and 0 <= target < len(self.columns):
            self._show(target)

    def _show(self, index: int) -> None:
        self.shown = index
        for i, column in enumerate(self.columns):
            column.set_class(i == index, "-shown")
        self._tabs()
        self._pick_hint()
        self.columns[index].query_one(VerticalScroll).focus()

    def _tabs(self) -> None:
        """Every answer's number and state (a spinner while it streams, ✓, ■ or !), then what fits
        of the rest in one line, most telling first: every model and cost, every model, the shown
        one's model and every cost, the shown one's model (cut with … where it must be)."""
        def labels(names: str, costs: bool) -> list[str]:
            out = []
            for i, column in enumerate(self.columns):
                parts = [str(i + 1), column.mark(self._frame)]
                if names == "all" or (names == "shown" and i == self.shown):
                    parts.append(short_model(column.model))
                if costs and column.status in ("ok", "interrupted") and column.cost_usd is not None:
                    parts.append(marked_usd(column.cost_usd, estimated=column.cost_estimated))
                out.append(" ".join(parts))
            return out

        def width(row: list[str]) -> int:
            return sum(cell_len(label) + 2 for label in row)  # each tab is padded a cell either side

        room = self.size.width
        for names, costs in (("all", True), ("all", False), ("shown", True), ("shown", False)):
            row = labels(names, costs)
            if width(row) <= room:
                break
        else:
            row = labels("none", False)
            left = room - width(row) - 1
            if left >= 2:
                name = Text(short_model(self.columns[self.shown].model))
                name.truncate(left, overflow="ellipsis")
                row[self.shown] += f" {name.plain}"
        for i, (tab, column) in enumerate(zip(self.query(AnswerTab), self.columns, strict=True)):
            tab.show(row[i], column.status, i == self.shown)

    def _tick_tabs(self) -> None:
        self._frame += 1
        if self.one_at_a_time:
            self._tabs()
        if all(c.settled for c in self.columns) and self._tab_timer is not None:
            self._tab_timer.stop()  # the last change came with its Settled

    def on_compare_column_settled(self, event: CompareColumn.Settled) -> None:
        event.stop()
        if self.one_at_a_time:
            self._tabs()
        self._pick_hint()  # a failed first answer is not the one Esc keeps

    def _pick_hint(self) -> None:
        if not self._asked:
            return
        n = len(self.columns)
        # One line when one at a time, cut where narrow: the keys that matter there come first.
        head = (f"1–{n} picks · ←/→ or tab: next answer" if self.one_at_a_time
                else f"1–{n} keep that answer (the conversation continues from it)")
        self.query_one("#pick-hint", Static).update(
            f"{head} · esc closes, keeping answer {self._kept()} ([ ] switch answers in the chat)")

    def _kept(self) -> int:
        """The answer Esc leaves shown, as the engine chooses it: the first asked, unless it ended
        with no text (a failure), then the first after it that has some (one still streaming may)."""
        for i, column in enumerate(self.columns):
            if not column.settled or column.text.strip():
                return i + 1
        return 1

    def selected(self) -> list[str]:
        return list(self.query_one(SelectionList).selected)

    def written_prompt(self) -> str:
        return self.query_one(Input).value

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_start()

    def action_start(self) -> None:
        if self.columns:
            return
        models = self.selected()
        prompt = self.query_one(Input).value.strip()
        if not 2 <= len(models) <= MAX_MODELS:
            self.notify(f"Pick 2–{MAX_MODELS} models (you picked {len(models)})", severity="warning", markup=False)
            return
        if not prompt:
            self.notify("Write a prompt first", severity="warning", markup=False)
            self.query_one(Input).focus()
            return
        self.prompt = prompt
        self.run_worker(self._run(models, prompt), group="compare-setup", exit_on_error=False)

    async def _run(self, models: list[str], prompt: str) -> None:
        container = self.query_one("#columns", Horizontal)
        self.columns = [CompareColumn(i + 1, m, self.backend.stored_turn) for i, m in enumerate(models)]
        await container.mount_all(self.columns)
        await self.query_one("#answer-tabs", Horizontal).mount_all(AnswerTab(i + 1) for i in range(len(models)))
        self._tab_timer = self.set_interval(TAB_REFRESH_S, self._tick_tabs)
        self.add_class("-running")
        self.refresh_bindings()  # no Start any more
        # Off the set-up, now hidden: its prompt field kept focus and took 1–4 as text, so no
        # answer could be picked by its key. The first answer scrolls with the arrows.
        self.columns[0].query_one(VerticalScroll).focus()
        self._fit()
        self.sub_title = f"compare · {prompt[:60]}"
        try:  # with no conversation yet the engine starts one (TurnStarted says which)
            streams = await self.backend.compare(self.conversation_id, prompt, models)
        except Exception as exc:
            for col in self.columns:
                col._fail(error_line(exc))
            return
        self._streams = list(streams.values())
        by_order = list(streams.values()) if len(streams) == len(self.columns) else []
        for i, col in enumerate(self.columns):
            # keyed by resolved model id; fall back to order if the engine renamed a model
            events = streams.get(col.model) or (by_order[i] if by_order else None)
            if events is None:
                col._fail("the engine returned no stream for this model")
                continue
            self.run_worker(col.consume(events), group="compare", exit_on_error=False)
        self._asked = True
        if self._on_asked is not None:
            self._on_asked(prompt)
        self._pick_hint()

    async def action_pick(self, n: int) -> None:
        if not self.columns or not 1 <= n <= len(self.columns):
            return
        col = self.columns[n - 1]
        # A stopped answer can be kept too: the user stopped it having read enough (the chat
        # continues from a stopped answer the same way).
        if col.status == "streaming":
            self.notify(f"{short_model(col.model)} is still answering: wait for it, or Ctrl+C stops every answer "
                        "and keeps what arrived", severity="warning", markup=False)
            return
        if col.status not in ("ok", "interrupted") or col.message_id is None or not col.text.strip():
            self.notify(f"{short_model(col.model)} has no answer to pick", severity="warning", markup=False)
            return
        cid = col.conversation_id or self.conversation_id
        assert cid is not None
        mid = col.message_id
        # A write like the chat's own: bounded and off the event loop, so a database locked by
        # another process is a notice here, not a frozen screen.
        if await write_off_loop(self, self.backend, lambda: self.backend.pick_compare(cid, mid),
                                f"keep answer {n}") is None:
            return
        col.add_class("-picked")
        self.workers.cancel_group(self, "compare")
        self.dismiss((cid, col.message_id))

    def action_stop(self) -> None:
        """ctrl+c stops every answer still streaming (each saved as interrupted, priced) and
        keeps the screen; a compare still starting is stopped before it sends, and its picker is
        back to start again. With nothing running the key does what it did: copy the text
        selected on screen (this binding replaced the screen's own for the key) or the prompt's
        selection."""
        setup = [w for w in self.workers if w.node is self and w.group == "compare-setup" and w.is_running]
        if setup:
            # Cancelled now, not from a worker: the set-up must not go on to send meanwhile.
            for worker in setup:
                worker.cancel()
            self.run_worker(self._back_to_the_picker(setup), group="compare-stop", exit_on_error=False)
            self.notify("Stopped before anything was sent", timeout=3, markup=False)
            return
        if not any(w.node is self and w.group == "compare" and w.is_running for w in self.workers):
            self.action_copy_text()  # SkipAction when nothing is selected
            return
        self.run_worker(self._stop_streams(), group="compare-stop", exit_on_error=False)
        self.notify("Stopped", timeout=2, markup=False)

    async def _back_to_the_picker(self, setup: list[Worker[None]]) -> None:
        """Undo what a start stopped before it sent set up: the models ticked and the prompt are
        as they were, for Enter or ctrl+s to start again."""
        for worker in setup:
            with contextlib.suppress(WorkerCancelled, WorkerFailed):
                await worker.wait()
        if self._tab_timer is not None:
            self._tab_timer.stop()
            self._tab_timer = None
        self.columns, self.shown = [], 0
        await self.query_one("#columns", Horizontal).remove_children()
        await self.query_one("#answer-tabs", Horizontal).remove_children()
        self.remove_class("-running", "-one-at-a-time")
        self.sub_title = "compare models"
        self.refresh_bindings()  # Start again
        self.query_one(Input).focus()

    async def _stop_streams(self, *, setup: bool = False) -> None:
        """`setup`: a compare still being set up (no stream yet) is stopped too, before it sends."""
        if setup:
            self.workers.cancel_group(self, "compare-setup")
        cancelled = self.workers.cancel_group(self, "compare")
        # Each stream saves its stopped answer as it closes: wait for that. A cancelled worker's
        # wait() raises WorkerCancelled once it has finished, which is the outcome asked for
        # (waiting on them together stopped at the first and left the screen open).
        for worker in cancelled:
            with contextlib.suppress(WorkerCancelled, WorkerFailed):
                await worker.wait()
        # A worker cancelled before its first step never ran its column's code, nor closed its
        # stream, whose answer the engine stored `streaming`: closing it settles that answer.
        for events in self._streams:
            with contextlib.suppress(Exception):
                await events.aclose()

    def set_aside(self) -> None:
        """Closing before anything was asked: what was ticked and written goes to `left`."""
        if not self._asked and self._on_left is not None:
            self._on_left(self)

    async def action_close(self) -> None:
        await self._stop_streams(setup=True)
        self.set_aside()
        cid = next((c.conversation_id for c in self.columns if c.conversation_id), None)
        self.dismiss(None if cid is None else (cid, None))
