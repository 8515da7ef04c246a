"""Helpers shared by the subcommands: reading the prompt, opening the engine, printing."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from chatroute import jsonsafe
from chatroute.errors import UsageError, stop_signals
from chatroute.safetext import BIDI_CONTROLS, StreamCleaner, argv_text, strip_terminal_controls

if TYPE_CHECKING:
    from collections.abc import Awaitable, Coroutine

    from chatroute.engine import Engine

# A prompt this large is almost certainly a mistake (a binary piped in); refuse it clearly.
MAX_PROMPT_BYTES = 4 * 1024 * 1024
# Failures of a turn the config must fix (a key, a base_url): exit 2, as retrying cannot help.
CONFIG_ERROR_KINDS = frozenset({"auth", "endpoint_not_found"})

T = TypeVar("T")


def read_prompt(value: str | None, *, command: str = "ask", what: str = "prompt") -> str:
    """The prompt an argument gives; '-' reads standard input, and so does no argument when
    standard input is not a terminal (`echo … | chatroute ask`, a here-doc, a file). `what`
    names it in the errors ("system prompt" for `ask -s -`)."""
    if value is None:
        if sys.stdin is None or _is_terminal(sys.stdin):
            raise UsageError(f"no prompt: give it as an argument, or pipe it in (`echo … | chatroute {command}`)")
        value = "-"
    if value == "-":
        data = _read_stdin(MAX_PROMPT_BYTES + 1, what)
        if len(data) > MAX_PROMPT_BYTES:
            raise UsageError(f"the {what} on standard input is over {MAX_PROMPT_BYTES // (1024 * 1024)} MB")
        text = data.decode("utf-8", errors="replace")
    else:
        text = value
    text = argv_text(text)
    text = text.replace("\x00", "")
    if not text.strip():
        raise UsageError(f"the {what} is empty")
    return text


def _read_stdin(limit: int, what: str = "prompt") -> bytes:
    # Python sets sys.stdin to None when descriptor 0 is closed (`<&-`); a folder or a device
    # that refuses reads fails in read().
    if sys.stdin is None:
        raise UsageError(f"'-' reads the {what} from standard input, which is closed")
    try:
        return sys.stdin.buffer.read(limit)
    except OSError as exc:
        raise UsageError(f"cannot read the {what} from standard input: {exc.strerror or exc}") from None


class _Verbatim:
    """Text into a pipe or file: exactly what the model sent (scripts rely on it)."""

    def feed(self, chunk: str) -> str:
        return chunk

    def flush(self) -> str:
        return ""


def for_terminal(stream: TextIO) -> StreamCleaner | _Verbatim:
    """A filter for streamed text written to `stream`: escape sequences and control characters
    removed on a terminal (model output is untrusted), the text unchanged into a pipe or file."""
    return StreamCleaner() if _is_terminal(stream) else _Verbatim()


def terminal_line(stream: TextIO, text: str) -> str:
    """One whole line of outside text (an answer, a provider's error) for `stream`."""
    return strip_terminal_controls(text) if _is_terminal(stream) else text


def _is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def wait_notice(line: str | None) -> None:
    """A store's on_wait for a command: one line on stderr when it waits for another process's
    lock, or for a price feed's server (stdout stays what scripts read). For the TUI this shows
    before its screen is up: the store is opened first, so a wait there is said on the terminal
    rather than a blank one."""
    if line:
        print(f"chatroute: {strip_terminal_controls(line)}; Ctrl+C stops", file=sys.stderr, flush=True)


class StatusLine:
    """One line on standard error, rewritten in place and erased before anything else is written
    there. Overwritten with spaces, not an erase sequence (a dumb terminal prints one as text).
    For a terminal only: the caller decides that."""

    def __init__(self) -> None:
        self._shown = 0  # cells of the line on screen

    @property
    def shown(self) -> bool:
        return bool(self._shown)

    def show(self, line: str) -> None:
        cells = display_width(line)
        print(f"\r{line}{' ' * max(0, self._shown - cells)}", end="", file=sys.stderr, flush=True)
        self._shown = cells

    def clear(self) -> None:
        if self._shown:
            print(f"\r{' ' * self._shown}\r", end="", file=sys.stderr, flush=True)
            self._shown = 0


class ThinkingNote:
    """`thinking…` on a terminal's standard error while the model thinks before its answer (a
    minute, for some), where nothing else shows and the command looked hung. Erased before
    anything else is written; never written into a pipe or a file."""

    TEXT = "thinking…"

    def __init__(self, *, enabled: bool) -> None:
        on_terminal = enabled and sys.stderr is not None and _is_terminal(sys.stderr)
        self._line = StatusLine() if on_terminal else None

    def show(self) -> None:
        if self._line is not None and not self._line.shown:
            self._line.show(self.TEXT)

    def clear(self) -> None:
        if self._line is not None:
            self._line.clear()


def reembed_notice(entries: int) -> None:
    """A cache's on_reembed for a command without a warm-up: its first lookup after an upgrade
    embeds every entry again (seconds for a large cache), so say so rather than sit silent."""
    noun = "cached answer" if entries == 1 else "cached answers"
    print(f"chatroute: preparing {entries:,} {noun} for this version (once, after an upgrade)",
          file=sys.stderr, flush=True)


def cache_damage_notice(message: str) -> None:
    """An engine's on_cache_damaged for a command: one line on stderr, and the answer goes on."""
    print(f"chatroute: warning: {message}", file=sys.stderr, flush=True)


def open_engine(*, print_warnings: bool = True) -> Engine:
    """The engine for a command. `print_warnings=False` leaves the config's warnings to the
    caller: the TUI shows them itself, as anything printed now vanishes under its screen."""
    from chatroute.engine import Engine

    engine = Engine.open(on_wait=wait_notice)
    if print_warnings:  # the catalogue's too: a pool entry or default that names no priced model
        from chatroute.catalog.catalog import startup_warnings

        say_warnings(startup_warnings(engine.catalog, engine.config.warnings))
    return engine


# Shorter prefixes would match most of a day's conversations: ids open with the time.
_MIN_PREFIX = 6


def conversation_ref(engine: Engine, ref: str | None) -> str | None:
    """The conversation `-c` names: a whole id, `last` (the one used most recently, in the TUI
    or here), or the start of an id that no other conversation's starts with."""
    if ref is None:
        return None
    store = engine.store
    wanted = ref.strip().lower()
    if wanted == "last":
        latest = store.list_conversations(include_archived=True, limit=1)
        if not latest:
            raise UsageError("-c last: there is no conversation yet")
        return latest[0].id
    if store.get_conversation(wanted) is not None:
        return wanted
    if len(wanted) < _MIN_PREFIX:
        raise UsageError(f"no conversation {ref!r} (give its id, at least its first {_MIN_PREFIX} characters, "
                         "or `last`)")
    found = store.conversations_starting_with(wanted, limit=4)
    if not found:
        raise UsageError(f"no conversation {ref!r} (`-c last` continues the most recent one)")
    if len(found) > 1:
        names = ", ".join(f"{c.id} ({c.title or 'untitled'})" for c in found[:3])
        more = ", …" if len(found) > 3 else ""
        raise UsageError(terminal_line(sys.stderr, f"{ref!r} starts the id of more than one conversation: "
                                                   f"{names}{more}; give more of it"))
    return found[0].id


def say_warnings(warnings: Iterable[str]) -> None:
    for warning in warnings:  # they may quote names from the config file
        print(f"chatroute: warning: {terminal_line(sys.stderr, warning)}", file=sys.stderr)


# JSON escapes only C0 controls; with ensure_ascii=False, DEL and the 8-bit C1 controls (an
# 8-bit CSI, U+009B, is acted on by some terminals) would reach the screen raw, and so would
# bidirectional controls, which reorder what it shows. They can only occur inside strings, where
# \uXXXX parses back to the same value.
_UNESCAPED_CONTROLS = re.compile(f"[\x7f-\x9f{BIDI_CONTROLS}]")


def budget_warning(engine: Any) -> str | None:
    """The 80% / 100% budget warning after a command spent (stderr, so scripts reading stdout
    are unaffected)."""
    try:
        from chatroute.accounting import budget_report

        report = budget_report(engine.store, engine.config.budget)
    except Exception:  # noqa: BLE001 - a warning must never fail the command
        return None
    return report.get("message") if report.get("level") in ("warn", "over") else None


def json_text(obj: Any, *, indent: int | None = None) -> str:
    """`obj` as JSON for standard output: non-ASCII text kept readable where stdout is UTF-8
    (elsewhere \\u escapes: the '?' an unencodable character becomes would change the data),
    control characters escaped."""
    text = jsonsafe.dumps(jsonsafe.tidy(obj), ensure_ascii=not _writes_utf8(sys.stdout), indent=indent,
                          default=str)
    return _UNESCAPED_CONTROLS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _writes_utf8(stream: TextIO) -> bool:
    import codecs

    try:
        return codecs.lookup(stream.encoding or "utf-8").name == "utf-8"
    except (AttributeError, LookupError, TypeError):
        return True


def print_json(obj: Any) -> None:
    sys.stdout.write(json_text(obj, indent=2) + "\n")
    sys.stdout.flush()


def display_width(text: str) -> int:
    """Terminal cells `text` takes: two for a CJK character or an emoji, none for a combining mark."""
    if text.isascii() and text.isprintable():
        # One cell a character. Most cells are such, and rich measures each character of a
        # string its cache no longer holds: a table of thousands of rows (costs --by
        # conversation) took several times as long to lay out.
        return len(text)
    from rich.cells import cell_len  # here: every command imports this module, and `costs` must start fast

    return cell_len(text)


def clip_cells(text: str, width: int) -> str:
    """`text` cut to at most `width` terminal cells, an ellipsis marking the cut."""
    if display_width(text) <= width:
        return text
    from rich.cells import set_cell_size

    # set_cell_size pads with a space where a wide character would straddle the edge.
    return set_cell_size(text, width - 1).rstrip(" ") + "…"


def terminal_columns(stream: TextIO) -> int | None:
    """The width of the terminal `stream` is shown on; None for a pipe or a file (every column)."""
    if not _is_terminal(stream):
        return None
    import shutil

    return shutil.get_terminal_size().columns


def table(rows: list[list[str]], header: list[str], align: str | None = None, *, fit: int | None = None,
          optional: Sequence[str] = ()) -> str:
    """A plain aligned text table; `align` is one letter per column, 'l' or 'r'. Cells may hold
    outside text (model ids a local server lists, titles): its control characters never reach
    the screen, and would break the alignment anyway, and a line end or tab is a space. Columns
    are as wide as their text is on the screen, so CJK, emoji and combining marks line up.

    `fit` is the terminal's width (terminal_columns): while the table is wider, the `optional`
    columns (least needed first) are left out, and a last line names them. A terminal wraps a
    wider row, and every row then read as two broken halves: so where even the columns kept are
    wider, each row is a block instead, its first cell on a line and every other one under it
    beside its column's name."""
    align = align or "l" * len(header)
    # A cell is one line: a line end in it (a CR reads as one) would start a row of its own.
    cells = [[_one_line(strip_terminal_controls(c)) for c in row] for row in (header, *rows)]
    names = cells[0]
    widths = [max(display_width(r[i]) for r in cells) for i in range(len(header))]
    keep = list(range(len(header)))
    left_out: list[str] = []
    for name in optional:
        if fit is None or sum(widths[i] for i in keep) + 2 * (len(keep) - 1) <= fit:
            break
        if name in header:
            keep.remove(header.index(name))
            left_out.append(names[header.index(name)])

    def fmt(row: list[str]) -> str:
        return "  ".join(_pad(row[i], widths[i], align[i]) for i in keep).rstrip()

    if fit is not None and sum(widths[i] for i in keep) + 2 * (len(keep) - 1) > fit:
        lines = _blocks(cells, keep)
    else:
        lines = [fmt(names), "  ".join("-" * widths[i] for i in keep)]
        lines += [fmt(r) for r in cells[1:]]
    if left_out:
        note = f"(left out at {fit} columns: {', '.join(left_out)}; a wider terminal or a pipe shows them)"
        lines += _wrapped(note, fit) if fit else [note]
    return "\n".join(lines)


def _blocks(cells: list[list[str]], keep: list[int]) -> list[str]:
    """Each row of `cells` (the header first) as a block: its first cell, then the others it
    has, one a line, indented, beside their column's name."""
    names, first, rest = cells[0], keep[0], keep[1:]
    label = max((display_width(names[i]) for i in rest), default=0)
    lines: list[str] = []
    for row in cells[1:]:
        lines.append(row[first].lstrip())  # a pad that marked no row (route's "* ") would read as a field
        lines += [f"  {_pad(names[i], label, 'l')}  {row[i]}".rstrip() for i in rest if row[i].strip()]
    return lines


def _wrapped(text: str, width: int) -> list[str]:
    """`text` broken between words into lines of at most `width` cells (a word longer stays whole)."""
    lines: list[str] = []
    for word in text.split(" "):
        if lines and display_width(lines[-1]) + 1 + display_width(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def _one_line(text: str) -> str:
    return text.replace("\n", " ").replace("\t", " ") if "\n" in text or "\t" in text else text


def _pad(cell: str, width: int, align: str) -> str:
    fill = " " * (width - display_width(cell))
    return fill + cell if align == "r" else cell + fill


class _Stopped(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def run_stoppable(work: Coroutine[Any, Any, int], *, saved: str) -> int:
    """asyncio.run(work), with a stop signal handled like Ctrl+C: one line on stderr (`saved`
    says what was kept) and the exit code the signal gives."""
    # Imported here: every command loads this module, and `costs` must start fast.
    import asyncio
    import signal

    try:
        return asyncio.run(_until_signal(work))
    except _Stopped as stop:
        name = signal.Signals(stop.signum).name
        try:  # after SIGHUP the terminal may be gone
            print(f"chatroute: interrupted by {name}; {saved}", file=sys.stderr)
        except OSError:
            pass
        return 128 + stop.signum


async def _until_signal(work: Awaitable[T]) -> T:
    """Await `work`; a stop signal cancels it (the engine saves what streamed) and raises _Stopped."""
    import asyncio

    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    caught: list[int] = []

    def stop(signum: int) -> None:
        if not caught and task is not None:
            caught.append(signum)
            task.cancel()

    installed: list[int] = []
    for sig in stop_signals():
        try:
            loop.add_signal_handler(sig, stop, sig)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not the main thread
            pass
    try:
        return await work
    except asyncio.CancelledError:
        if caught:
            raise _Stopped(caught[0]) from None
        raise
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
