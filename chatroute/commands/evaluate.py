"""`chatroute eval FILE`: router quality on a labelled JSONL(.gz), per dataset, against baselines."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

from chatroute.commands.common import StatusLine, clip_cells, display_width, print_json, terminal_line
from chatroute.errors import UsageError
from chatroute.safetext import strip_terminal_controls


class _Progress:
    """One line on the terminal, rewritten in place: a large file takes a minute or more. It is
    cut to the terminal's width (a carriage return goes back over one row only: a line that
    wrapped left a new row behind at every update).
    The dataset's name comes from the file, so its control characters never reach the screen."""

    def __init__(self) -> None:
        self._line = StatusLine()

    def show(self, dataset: str, done: int, total: int) -> None:
        name = strip_terminal_controls(dataset).replace("\n", " ").replace("\t", " ")
        width = max(10, shutil.get_terminal_size().columns - 1)
        count = f"{done:,} / {total:,} prompts scored"
        room = width - display_width(count) - 2  # the name gives way first, then the words
        line = f"{clip_cells(name, room)}: {count}" if room >= 4 else clip_cells(f"{done:,} / {total:,}", width)
        self._line.show(line)

    def clear(self) -> None:
        self._line.clear()


def _check_models(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    """A named model the file never scores, or one model named twice, is a mistake to say at
    once, not a table of empty datasets."""
    if args.weak is not None and args.weak == args.strong:
        raise UsageError(f"--weak and --strong are both {args.weak!r}: name two different models")
    scored = {str(model) for row in rows for model in row["scores"]}
    for option, name in (("--weak", args.weak), ("--strong", args.strong)):
        if name is not None and name not in scored:
            shown = ", ".join(sorted(scored)[:12]) + (", …" if len(scored) > 12 else "")
            raise UsageError(f"{option} {name!r}: no row of the file scores that model "
                             f"(it scores: {strip_terminal_controls(shown)})")


def run(args: argparse.Namespace) -> int:
    from chatroute.routing.evaluate import evaluate_rows, format_table, load_rows

    if args.file is None:  # `… | chatroute eval`, as `echo q | chatroute ask` reads its prompt
        if sys.stdin is None or sys.stdin.isatty():
            raise UsageError("no FILE: give a labelled JSONL(.gz) file, or pipe it in "
                             "(`cat rows.jsonl | chatroute eval`)")
        args.file = "-"
    from_stdin = args.file == "-"
    if from_stdin and sys.stdin is None:
        raise UsageError("'-' reads the labelled rows from standard input, which is closed")
    path = Path("<stdin>" if from_stdin else args.file)
    if not from_stdin and not path.exists():
        raise UsageError(f"{path}: no such file")
    if path.is_dir():
        raise UsageError(f"{path}: is a folder; give a labelled JSONL or JSONL.gz file")
    on_tty = sys.stderr.isatty()
    progress = _Progress()
    if on_tty:
        print(f"scoring {strip_terminal_controls(path.name)} …", file=sys.stderr)
    try:
        rows = load_rows(path, sys.stdin.buffer if from_stdin else None)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    except (ValueError, KeyError) as exc:
        raise UsageError(f"not a labelled routing file: {exc}") from None
    if not rows:
        raise UsageError(f"{path}: no labelled rows (the file is empty)")
    _check_models(args, rows)
    try:
        result = evaluate_rows(rows, weak=args.weak, strong=args.strong, cost_ratio=args.cost_ratio,
                               progress=progress.show if on_tty else None)
    except (ValueError, KeyError) as exc:
        raise UsageError(f"{path}: not a labelled routing file ({exc})") from None
    finally:
        if on_tty:
            progress.clear()  # before the result is printed
    if args.json:
        print_json(result)
    else:
        # Dataset and model names come from the file: no escape sequence of theirs is printed.
        print(strip_terminal_controls(format_table(result)))
    if all("error" in part for part in result.values()):
        # Nothing could be scored: the report says why, and the exit status says it failed.
        print(terminal_line(sys.stderr, f"chatroute: error: {path}: no dataset had two prompts scored for both models"),
              file=sys.stderr)
        return 2
    return 0
